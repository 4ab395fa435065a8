"""The house rules of docs/architecture.md, checked rather than hoped for: import contracts
(import-linter), the linter (ruff), one edge, no commits outside it, no hidden imports between areas."""
import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mall import events

ROOT = Path(__file__).resolve().parents[1]
MALL = ROOT / "mall"
AREAS = sorted(p.name for p in MALL.iterdir() if p.is_dir() and (p / "__init__.py").exists())
# The only modules that commit, each a named orchestrator documented in docs/architecture.md.
COMMITTERS = {"mall/db.py", "mall/checkout/orchestrator.py", "mall/idempotency.py"}
# Function-local imports between areas that docs/architecture.md lists with their reason.
LOCAL_IMPORTS_ALLOWED: set[tuple[str, str]] = set()


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return found


def test_import_contracts_hold():
    """Views never import each other, the ledger imports no Flask and no area, no import cycles."""
    result = subprocess.run([_tool("lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def test_ruff_finds_nothing():
    result = subprocess.run([_tool("ruff"), "check", "--no-cache", "mall", "tests", "bench", "app.py"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def _modules():
    for path in sorted(MALL.rglob("*.py")):
        yield path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8")


def test_views_leave_errors_to_the_edge():
    """Doors run use cases through mall.edge, which maps errors once: at most 10 try blocks in all views."""
    tries = {name: len(re.findall(r"^\s*try:", text, re.M)) for name, text in _modules()
             if name.endswith(("/views.py", "/console.py"))}
    assert sum(tries.values()) <= 10, {k: v for k, v in tries.items() if v}
    writes = [name for name, text in _modules() if name.endswith(("/views.py", "/console.py"))
              and "with write(" in text]
    assert writes == []


def test_only_named_orchestrators_commit():
    committing = {name for name, text in _modules() if re.search(r"\.commit\(\)", text)}
    assert committing <= COMMITTERS, committing - COMMITTERS


def test_no_module_level_settings_and_no_bottom_imports():
    for name, text in _modules():
        assert not re.search(r"^settings\s*[:=]", text, re.M), f"{name}: module-level settings (use mall.settings)"
        assert "noqa: E402" not in text, f"{name}: an import below code"


def _area_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "mall" and parts[1] in AREAS else None


def test_no_function_local_imports_between_areas():
    """An area reaches another through top-level imports (checked for cycles) or events, not hidden ones."""
    hidden = []
    for name, text in _modules():
        if name == "mall/__init__.py":  # the app factory imports every area to register it, on purpose lazily
            continue
        own = _area_of(name[:-3].replace("/", "."))
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and inner.module:
                    other = _area_of(inner.module)
                    if other and other != own and (name, inner.module) not in LOCAL_IMPORTS_ALLOWED:
                        hidden.append(f"{name}:{inner.lineno} imports {inner.module}")
    assert hidden == []


def test_every_event_is_documented():
    names = {signal.name for signal in events.ALL}
    documented = set(re.findall(r"``(\w+)``", events.__doc__))
    attributes = {name for name, value in vars(events).items() if value in events.ALL}
    assert attributes <= documented, attributes - documented
    assert len(names) == len(events.ALL)

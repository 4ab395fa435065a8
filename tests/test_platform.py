"""Cross-cutting guarantees: secure headers, no inline script, language choice, error pages,
migrations that match the models, and a production start that refuses the development secret."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from mall import create_app
from mall.db import write
from mall.extensions import db
from tests.builders import Auth, csrf_token, make_user
from tests.conftest import POSTGRES_URL, postgres_reachable, require_or_skip

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "templates"
HTMX_SRC = re.compile(r"""<script\b[^>]*\bsrc="\{\{\s*url_for\('static',\s*filename='js/(htmx-[0-9.]+\.min\.js)'\)\s*\}\}"[^>]*>\s*</script>""")


def lang_of(response) -> str:
    match = re.search(r'<html[^>]*\blang="([^"]+)"', response.get_data(as_text=True))
    assert match, "no <html lang> on the page"
    return match.group(1)


# --- secure headers --------------------------------------------------------------------------

@pytest.mark.parametrize("path, status", [
    ("/", 200),
    ("/catalog", 200),
    ("/no-such-page", 404),
    ("/static/css/mall.css", 200),
    ("/account", 302),
    ("/account/language/en", 405),
])
def test_security_headers_on_every_kind_of_response(client, path, status):
    response = client.get(path)
    assert response.status_code == status
    csp = response.headers.get("Content-Security-Policy", "")
    directives = {part.split()[0]: part.split()[1:] for part in csp.split(";") if part.strip()}
    assert directives.get("script-src") == ["'self'"], csp
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert directives.get("object-src") == ["'none'"]
    assert directives.get("frame-ancestors") == ["'none'"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers.get("Referrer-Policy")


def test_htmx_fragment_carries_the_headers_too(client, member):
    response = client.get("/account/member-code", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"


# --- no inline script or style anywhere -------------------------------------------------------

def template_files():
    return sorted(path for path in TEMPLATES.rglob("*.html"))


def test_templates_exist():
    assert (TEMPLATES / "base.html") in template_files()


def page_templates():
    """Templates of pages the app serves under its CSP. E-mail bodies (templates/mail/) are read by mail
    clients, which load no stylesheet: their styles must be inline (checked below on their own)."""
    return [path for path in template_files() if path.parent.name != "mail"]


def test_mail_templates_run_no_script_and_load_nothing():
    mail = [path for path in template_files() if path.parent.name == "mail"]
    assert mail
    for path in mail:
        source = path.read_text(encoding="utf-8")
        assert not re.search(r"<script|<link|<img|<iframe|\son[a-z]+\s*=|url\(", source, flags=re.I), path


@pytest.mark.parametrize("path", page_templates(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_template_has_no_inline_script_handler_or_style(path):
    source = path.read_text(encoding="utf-8")
    source = re.sub(r"\{#.*?#\}", "", source, flags=re.S)  # Jinja comments render nothing
    inline = [body for body in re.findall(r"<script\b[^>]*>(.*?)</script\s*>", source, flags=re.S | re.I)
              if body.strip()]
    assert inline == [], "inline <script> bodies are blocked by the CSP"
    tags = re.findall(r"<[a-zA-Z][^<>]*>", source)
    assert [t for t in tags if re.search(r"\son[a-z]+\s*=", t, flags=re.I)] == [], "on*= event attributes"
    assert [t for t in tags if re.search(r"\sstyle\s*=", t, flags=re.I)] == [], "style= attributes"
    assert [t for t in tags if re.search(r"\s(data-)?hx-on", t, flags=re.I)] == [], "hx-on needs eval"
    assert not re.search(r"<style\b", source, flags=re.I), "<style> blocks are blocked by the CSP"


def test_the_only_script_is_the_vendored_htmx():
    scripts = {path: re.findall(r"<script\b[^>]*>", path.read_text(encoding="utf-8"), flags=re.I)
               for path in template_files()}
    assert {p.name: s for p, s in scripts.items() if s and p.name != "base.html"} == {}
    base = (TEMPLATES / "base.html").read_text(encoding="utf-8")
    assert len(scripts[TEMPLATES / "base.html"]) == 1
    match = HTMX_SRC.search(base)
    assert match, "base.html's one <script> must load static/js/htmx-*.min.js"
    assert (ROOT / "static" / "js" / match.group(1)).is_file()


def test_rendered_page_loads_only_htmx(client):
    html = client.get("/catalog").get_data(as_text=True)
    [script] = re.findall(r"<script\b[^>]*>", html)
    assert re.search(r'\ssrc="/static/js/htmx-[0-9.]+\.min\.js\?v=[0-9a-f]{12}"', script), script


# --- language -------------------------------------------------------------------------------

def test_chinese_is_the_default(app):
    browser = app.test_client()  # sends no Accept-Language at all
    assert lang_of(browser.get("/")) == "zh-CN"
    assert lang_of(browser.get("/auth/login")) == "zh-CN"


def test_accept_language_picks_the_language_for_an_anonymous_visitor(app):
    browser = app.test_client()
    assert lang_of(browser.get("/", headers={"Accept-Language": "en-US,en"})) == "en"
    assert lang_of(browser.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"})) == "en"
    assert lang_of(browser.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})) == "zh-CN"
    assert lang_of(browser.get("/", headers={"Accept-Language": "fr-FR,fr"})) == "zh-CN"


def test_a_visitor_switches_language_with_a_post_that_needs_no_token_and_redirects(app):
    """Signed out, the switch changes only the visitor's own session, so public pages carry no CSRF
    token (and set no cookie: they can be cached, see tests/test_transport.py)."""
    browser = app.test_client()
    assert lang_of(browser.get("/")) == "zh-CN"
    assert 'name="csrf_token"' not in browser.get("/catalog").get_data(as_text=True)
    assert browser.get("/account/language/en").status_code == 405  # a POST, never a link a crawler follows
    response = browser.post("/account/language/en", data={"next": "/catalog?kind=stay"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/catalog?kind=stay"
    assert lang_of(browser.get("/")) == "en"
    assert lang_of(browser.get("/", headers={"Accept-Language": "zh-CN"})) == "en"  # the choice wins
    back = browser.post("/account/language/zh_Hans_CN")
    assert back.status_code == 303
    assert lang_of(browser.get("/")) == "zh-CN"


def test_a_members_language_switch_is_csrf_protected(app, client):
    """Signed in, the choice is stored on the account: the form carries a token and the switch needs it."""
    make_user(app, "ada@example.com")
    Auth(client).login()
    assert client.post("/account/language/zh_Hans_CN").status_code == 400  # no CSRF token
    assert lang_of(client.get("/")) == "en"
    assert client.post("/account/language/zh_Hans_CN",
                       data={"csrf_token": csrf_token(client, "/")}).status_code == 303
    assert lang_of(client.get("/")) == "zh-CN"


def test_switching_language_refuses_unknown_languages_and_offsite_next(client):
    assert client.post("/account/language/fr").status_code == 400
    response = client.post("/account/language/en", data={"next": "//evil.example/"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("saved, browser, expected", [
    ("en", "zh-CN,zh;q=0.9", "en"),
    ("zh_Hans_CN", "en-US,en", "zh-CN"),
])
def test_signed_in_users_saved_choice_wins_over_accept_language(app, client, saved, browser, expected):
    make_user(app, "ada@example.com")
    Auth(client).login()
    assert client.post(f"/account/language/{saved}",
                       data={"csrf_token": csrf_token(client, "/")}).status_code == 303
    elsewhere = app.test_client()  # another browser: no session choice, only the account's
    Auth(elsewhere).login()
    assert lang_of(elsewhere.get("/", headers={"Accept-Language": browser})) == expected
    assert lang_of(elsewhere.get("/account", headers={"Accept-Language": browser})) == expected


# --- error pages ----------------------------------------------------------------------------

@pytest.mark.parametrize("method, path, status, message", [
    ("get", "/no-such-page", 404, "We could not find this page."),
    ("get", "/catalog/999999", 404, "We could not find this page."),
    ("get", "/account/language/en", 405, "This address does not accept that kind of request."),
    ("post", "/", 405, "This address does not accept that kind of request."),
])
def test_friendly_error_pages(app, client, method, path, status, message):
    response = getattr(client, method)(path, headers={"Accept-Language": "en"})
    assert response.status_code == status
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "<html" in html and message in html
    assert 'href="/"' in html  # a way back to the mall
    assert "Traceback" not in html and "werkzeug" not in html.lower()
    chinese = getattr(app.test_client(), method)(path)  # no Accept-Language: the Chinese default
    assert chinese.status_code == status and lang_of(chinese) == "zh-CN"


# --- migrations -----------------------------------------------------------------------------

def drop_leftover_scratch(admin, database: str) -> list[str]:
    """Drop the scratch databases ``<database>_migrations_<pid>`` whose run has ended (killed before it could
    drop its own); those of runs still alive are left alone. Returns the names dropped."""
    prefix = f"{database}_migrations_"
    dropped = []
    with admin.connect() as conn:
        names = conn.execute(text("SELECT datname FROM pg_database WHERE starts_with(datname, :p)"),
                             {"p": prefix}).scalars().all()
        for name in names:
            pid = name[len(prefix):]
            if not pid.isdigit() or process_alive(int(pid)):
                continue
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            dropped.append(name)
    return dropped


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture(scope="module")
def postgres_scratch():
    """A scratch PostgreSQL database beside the test database, created once for this module."""
    require_or_skip(postgres_reachable(), f"PostgreSQL is not reachable at {POSTGRES_URL}")
    server = make_url(POSTGRES_URL)
    name = f"{server.database}_migrations_{os.getpid()}"  # concurrent runs never share a scratch database
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    drop_leftover_scratch(admin, server.database)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield server.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_path):
    """An empty database: a new SQLite file, or the PostgreSQL scratch database with a fresh schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'scratch.sqlite3'}"
    url = request.getfixturevalue("postgres_scratch")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    return url


def migrated_app(url):
    from flask_migrate import upgrade

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_ENABLED": False})
    with app.app_context():
        upgrade()
    return app


def head_revisions():
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory(str(ROOT / "migrations")).get_heads())


def tables(url) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_leftover_scratch_databases_of_ended_runs_are_dropped(postgres_scratch):
    """A run killed before its teardown leaves ``<db>_migrations_<pid>``: the next run drops it, not a live run's."""
    server = make_url(POSTGRES_URL)
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    leftover = f"{server.database}_migrations_{ended.pid}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{leftover}"'))
            conn.execute(text(f'CREATE DATABASE "{leftover}"'))
        dropped = drop_leftover_scratch(admin, server.database)
        with admin.connect() as conn:
            names = set(conn.execute(text("SELECT datname FROM pg_database")).scalars())
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{leftover}" WITH (FORCE)'))
        admin.dispose()
    assert leftover in dropped and leftover not in names
    assert make_url(postgres_scratch).database in names  # this run's own scratch database is alive


def test_migrations_have_a_single_head():
    assert len(head_revisions()) == 1


def autogenerate_options(app) -> dict:
    """The object filters migrations/env.py gives autogenerate (e.g. search indexes kept out of the models)."""
    args = app.extensions["migrate"].configure_args  # env.py fills these in when it runs
    return {key: args[key] for key in ("include_object", "include_name") if args.get(key)}


def test_upgrade_from_empty_creates_every_table(empty_database):
    assert tables(empty_database) == set()
    app = migrated_app(empty_database)
    include = autogenerate_options(app).get("include_object", lambda *args: True)
    with app.app_context():
        created = {name for name in tables(empty_database) if include(None, name, "table", True, None)}
        assert created == set(db.metadata.tables) | {"alembic_version"}
        version = db.session.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        assert set(version) == head_revisions()
        db.session.remove()
        db.engine.dispose()


def test_models_and_migrations_agree(empty_database):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    app = migrated_app(empty_database)
    with app.app_context():
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, **autogenerate_options(app)})
            diff = compare_metadata(context, db.metadata)
        db.engine.dispose()
    assert diff == [], "models differ from the migrations; add a migration:\n" + "\n".join(map(repr, diff))


def test_upgrading_a_ledger_written_before_seals_gives_a_verifying_ledger(empty_database, tmp_path):
    """0013 adds the seals and fills them for the rows already there, with the app's own key."""
    from flask_migrate import downgrade, upgrade

    from mall.ledger import service as ledger

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": empty_database, "RATELIMIT_ENABLED": False,
                      "LEDGER_CHECKPOINT_FILE": str(tmp_path / "checkpoints.jsonl")})
    with app.app_context():
        upgrade()
        with write(db.session):
            issuer = ledger.open_account(db.session, "merchant", 1, "issuance")
            one, two = ledger.member_account(db.session, 1), ledger.member_account(db.session, 2)
            ledger.transfer(db.session, issuer, one, 100, "earn", key="e1")
            ledger.transfer(db.session, one, two, 30, "gift", key="g1")
            ledger.transfer(db.session, two, ledger.system_account(db.session, "redemption"), 10, "redeem", key="r1")
            ledger.set_frozen(db.session, two, True)
        db.session.remove()
        downgrade(revision="0011_bill_attempts")
        assert "mac" not in {c["name"] for c in inspect(db.engine).get_columns("ledger_lot")}
        upgrade()
        report = ledger.verify(db.session)
        assert report.ok and report.transfers == 3, report.problems
        db.session.execute(text("UPDATE ledger_account SET owner_id = 3 WHERE owner_kind = 'member' AND owner_id = 2"))
        assert any("seal does not match" in p for p in ledger.verify(db.session).problems)
        db.session.rollback()
        db.session.remove()
        db.engine.dispose()


def flask_cli(url, *args):
    env = {**os.environ, "DATABASE_URL": url, "MALL_ENV": "development"}
    return subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_downgrade_to_base_and_upgrade_again(empty_database):
    upgraded = flask_cli(empty_database, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    everything = tables(empty_database)
    downgraded = flask_cli(empty_database, "db", "downgrade", "base")
    assert downgraded.returncode == 0, downgraded.stderr
    assert tables(empty_database) <= {"alembic_version"}
    again = flask_cli(empty_database, "db", "upgrade")
    assert again.returncode == 0, again.stderr
    assert tables(empty_database) == everything
    seeded = flask_cli(empty_database, "seed-demo")  # the rebuilt schema is usable
    assert seeded.returncode == 0, seeded.stderr


# --- production start -----------------------------------------------------------------------

PRODUCTION_LIMITS = "redis://127.0.0.1:6379/15"  # shared rate-limit storage, as production requires


def start_production(tmp_path, **env):
    base = {k: v for k, v in os.environ.items()
            if k not in ("SECRET_KEY", "DATABASE_URL", "MALL_ENV", "RATELIMIT_STORAGE_URI")}
    base.update(MALL_ENV="production", DATABASE_URL=f"sqlite:///{tmp_path / 'prod.sqlite3'}",
                RATELIMIT_STORAGE_URI=PRODUCTION_LIMITS)
    base.update(env)
    base = {k: v for k, v in base.items() if v is not None}  # None: leave the variable unset
    return subprocess.run([sys.executable, "-c", "from mall import create_app; create_app()"],
                          cwd=ROOT, env=base, capture_output=True, text=True, timeout=60)


def test_production_refuses_to_start_without_secret_key(tmp_path):
    result = start_production(tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY must be set in production" in result.stderr


def test_production_refuses_an_empty_secret_key(tmp_path):
    result = start_production(tmp_path, SECRET_KEY="")
    assert result.returncode != 0
    assert "SECRET_KEY must be set in production" in result.stderr


def test_production_refuses_to_start_without_a_ledger_key(tmp_path):
    result = start_production(tmp_path, SECRET_KEY="a-real-secret-from-the-environment-0123456789", LEDGER_KEY=None)
    assert result.returncode != 0
    assert "LEDGER_KEY must be set in production" in result.stderr


def test_production_starts_with_a_secret_key(tmp_path):
    result = start_production(tmp_path, SECRET_KEY="a-real-secret-from-the-environment-0123456789")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("storage", ["memory://", None])
def test_production_refuses_per_process_rate_limits(tmp_path, storage):
    """With memory:// (also the default when unset) each gunicorn worker counts alone: 4 workers let 40
    sign-ins through a limit of 10."""
    result = start_production(tmp_path, SECRET_KEY="a-real-secret-from-the-environment-0123456789",
                              RATELIMIT_STORAGE_URI=storage)
    assert result.returncode != 0
    assert "RATELIMIT_STORAGE_URI must name storage every worker shares" in result.stderr


# --- the documented commands ----------------------------------------------------------------

def test_readme_opens_with_the_two_commands_and_ci_runs_the_same_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```[a-z]*\n(.*?)```", readme, flags=re.S | re.M)
    start, test = (block.strip() for block in blocks[:2])
    assert "\n" not in start and "\n" not in test
    assert start.endswith("flask --app app seed-demo && flask --app app run")
    assert test == "pip install -e '.[test]' && python -m pytest"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert f'TEST_COMMAND="{test}"' in ci
    assert readme.index(test) < readme.index("## ")  # nothing but the title comes before the commands

"""Real gunicorn workers over the test database, for the tests whose point is several processes."""
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def workers_seen(log, request_line: str) -> set[str]:
    """The worker process ids that served ``request_line``, from gunicorn's access log."""
    if not log.exists():
        return set()
    return {line.split()[0] for line in log.read_text().splitlines() if f" {request_line} " in line + " "}


@contextmanager
def gunicorn(tmp_path, env: dict, workers: int = 2, ready: str = "/auth/login"):
    """``workers`` gunicorn workers serving the mall with ``env`` over the process environment; yields
    (base URL, access log) once every worker has answered ``GET ready`` (a worker may still be importing)."""
    port = free_port()
    log, errors = tmp_path / f"access-{port}.log", tmp_path / f"gunicorn-{port}.log"
    base = f"http://127.0.0.1:{port}"
    with errors.open("w") as error_log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}",
             "--access-logfile", str(log), "--access-logformat", "%(p)s %(m)s %(U)s %(s)s", "app:app"],
            cwd=ROOT, env={**os.environ, "MALL_ENV": "development", **env}, stdout=subprocess.DEVNULL,
            stderr=error_log)
        try:
            deadline = time.monotonic() + 60
            while len(workers_seen(log, f"GET {ready}")) < workers:
                if process.poll() is not None:
                    pytest.fail(f"gunicorn exited with {process.returncode}: {errors.read_text()}")
                if time.monotonic() > deadline:
                    pytest.fail(f"gunicorn did not start {workers} workers within 60 s: {errors.read_text()}")
                try:  # a new connection each time, so that every worker gets to answer
                    requests.get(base + ready, headers={"Connection": "close"}, timeout=10)
                except requests.RequestException:  # not listening yet
                    time.sleep(0.2)
            yield base, log
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

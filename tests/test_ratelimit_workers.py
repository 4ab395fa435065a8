"""Sign-in attempts are counted across gunicorn workers (shared Redis storage), not per process."""
import os
import re
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.conftest import PASSWORD, REDIS_URL, make_user, redis_reachable, require_or_skip

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 5
EMAIL = "ada@example.com"
TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def redis_db():
    require_or_skip(redis_reachable(REDIS_URL), f"Redis is not reachable at {REDIS_URL}")
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()


def workers_seen(log, request_line: str) -> set[str]:
    """The worker process ids that served ``request_line``, from gunicorn's access log."""
    if not log.exists():
        return set()
    return {line.split()[0] for line in log.read_text().splitlines() if f" {request_line} " in line + " "}


@pytest.fixture
def gunicorn(app, database_url, redis_db, tmp_path):
    """Two gunicorn workers over one database and one Redis; yields (base URL, access log path)."""
    make_user(app, EMAIL)
    port = free_port()
    log, errors = tmp_path / "access.log", tmp_path / "gunicorn.log"
    env = {**os.environ, "DATABASE_URL": database_url, "RATELIMIT_STORAGE_URI": redis_db,
           "LOGIN_RATE_LIMIT": f"{LIMIT} per minute", "SECRET_KEY": "workers-test-secret-0123456789",
           "MALL_ENV": "development"}
    error_log = errors.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", "--access-logfile", str(log),
         "--access-logformat", "%(p)s %(m)s %(U)s %(s)s", "app:app"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=error_log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"gunicorn exited with {process.returncode}: {errors.read_text()}")
            try:
                if requests.get(f"{base}/auth/login", timeout=10).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or workers still importing
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not answer within 60 s: {errors.read_text()}")
            time.sleep(0.2)
        # Both workers must be serving before the test starts (a worker may still be importing the app).
        while len(workers_seen(log, "GET /auth/login")) < 2:
            if time.monotonic() > deadline:
                pytest.fail(f"only one gunicorn worker answered within 60 s: {log.read_text()}")
            requests.get(f"{base}/auth/login", headers={"Connection": "close"}, timeout=10)
        yield base, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        error_log.close()


def test_sign_in_limit_is_shared_by_all_workers(gunicorn):
    base, log = gunicorn
    browser = requests.Session()
    browser.headers.update({"Connection": "close", "Accept-Language": "en"})  # a new TCP connection each time
    token = TOKEN.search(browser.get(f"{base}/auth/login").text).group(1)

    def attempt(number):
        return browser.post(f"{base}/auth/login", data={
            "email": EMAIL, "password": f"wrong-password-{number}", "csrf_token": token, "next": ""})

    statuses, pages = [], []
    for number in range(13):  # one at a time: the first LIMIT are counted in order
        pages.append(attempt(number))
        statuses.append(pages[-1].status_code)
    workers = workers_seen(log, "POST /auth/login")
    # On a busy machine one worker may accept every sequential connection: send bursts in parallel,
    # so that both workers answer while the limit holds.
    with ThreadPoolExecutor(max_workers=6) as pool:
        for burst in range(40):
            if len(workers) >= 2:
                break
            for response in pool.map(attempt, range(100 + burst * 6, 106 + burst * 6)):
                pages.append(response)
                statuses.append(response.status_code)
            workers = workers_seen(log, "POST /auth/login")

    assert len(workers) >= 2, f"every attempt reached the same worker: {workers}"
    assert statuses[:LIMIT] == [422] * LIMIT, statuses
    assert set(statuses[LIMIT:]) == {429}, statuses  # whichever worker answers, the count is shared

    refused = pages[LIMIT]
    assert refused.headers["Content-Type"].startswith("text/html")
    assert "<html" in refused.text and "Too many attempts" in refused.text
    assert "Traceback" not in refused.text
    assert refused.headers.get("X-Frame-Options") == "DENY"
    # The right password is refused too while the limit holds: guessing cannot continue.
    right = browser.post(f"{base}/auth/login", data={
        "email": EMAIL, "password": PASSWORD, "csrf_token": token, "next": ""})
    assert right.status_code == 429

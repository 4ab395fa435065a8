"""Sign-in attempts are counted across gunicorn workers (shared Redis storage), not per process."""
import re

import pytest
import requests

from tests import servers
from tests.builders import PASSWORD, make_user, race
from tests.servers import workers_seen

LIMIT = 5
EMAIL = "ada@example.com"
TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@pytest.fixture
def gunicorn(app, database_url, redis_db, tmp_path):
    """Two gunicorn workers over one database and one Redis; yields (base URL, access log path)."""
    make_user(app, EMAIL)
    with servers.gunicorn(tmp_path, {"DATABASE_URL": database_url, "RATELIMIT_STORAGE_URI": redis_db,
                                     "LOGIN_RATE_LIMIT": f"{LIMIT} per minute",
                                     "SECRET_KEY": "workers-test-secret-0123456789"}) as served:
        yield served


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
    for burst in range(40):
        if len(workers) >= 2:
            break
        for response in race(attempt, range(100 + burst * 6, 106 + burst * 6), values=True):
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

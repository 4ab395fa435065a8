"""Guessing a till bill's one-time code from several gunicorn workers at once: the tries of a request
are counted in the database and the rate limits in the shared Redis, so no worker adds tries of its own."""
import json
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import pytest
import requests
from sqlalchemy import select

from mall.account.models import Notification, User
from mall.api import service as api_service
from mall.checkout import bills
from mall.checkout.models import BillPayment
from mall.db import write
from mall.extensions import db
from mall.coalition.models import Merchant
from tests import servers

CONFIRM = "/api/v1/bill-payments/{}/confirm"


def confirming_workers(log) -> set[str]:
    """The worker process ids that answered a confirmation, from gunicorn's access log."""
    lines = log.read_text().splitlines() if log.exists() else []
    return {line.split()[0] for line in lines if " POST /api/v1/bill-payments/" in line and "/confirm " in line}


@pytest.fixture
def serve(app, database_url, redis_db, tmp_path):
    """serve(**env): two gunicorn workers over the test database and Redis; returns (base URL, access log)."""
    with ExitStack() as servers_started:
        def start(**settings):
            return servers_started.enter_context(servers.gunicorn(tmp_path, {
                "DATABASE_URL": database_url, "RATELIMIT_STORAGE_URI": redis_db,
                "SECRET_KEY": "workers-test-secret-0123456789", **settings}, ready="/api/v1/openapi.json"))

        yield start


@pytest.fixture
def till(app, world):
    """The merchant's API key, and pending requests to one member with 15,400 points."""
    member = world.member("target@example.com", points=15400)
    with app.app_context(), write(db.session):
        merchant = db.session.get(Merchant, world.merchant_id)
        secret = api_service.create_key(db.session, merchant)[1]
        code = db.session.get(User, member).member_code
        ids = [bills.request_payment(db.session, merchant, code, 20000).id for _ in range(3)]
    return {"Authorization": f"Bearer {secret}", "Connection": "close"}, member, ids


def row(app, bill_id) -> BillPayment:
    with app.app_context():
        bill = db.session.get(BillPayment, bill_id)
        db.session.expunge(bill)
        return bill


def fire(base, headers, guesses, log):
    """Send the (bill id, code) guesses in parallel bursts until both workers have answered some."""
    # Not race(): a pool of 8 keeps at most 8 guesses in flight, so 24 guesses never flood the two workers.
    statuses, burst = [], 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        while burst == 0 or (len(confirming_workers(log)) < 2 and burst < 20):
            statuses += pool.map(lambda guess: requests.post(
                f"{base}{CONFIRM.format(guess[0])}", data=json.dumps({"code": guess[1]}), timeout=60,
                headers={**headers, "Content-Type": "application/json",
                         "Idempotency-Key": f"{burst}-{guess[0]}-{guess[1]}"}).status_code, guesses)
            burst, guesses = burst + 1, guesses[:8]
    assert len(confirming_workers(log)) >= 2, "every guess reached the same worker"
    return statuses


def test_parallel_wrong_guesses_from_two_workers_get_no_more_than_the_limit(app, world, serve, till):
    headers, member, (bill_id, *_) = till
    code = row(app, bill_id).one_time_code
    wrong = [f"{(int(code) + n) % 10**6:06d}" for n in range(1, 25)]
    base, log = serve(BILL_MAX_CODE_ATTEMPTS="5", BILL_CONFIRM_RATE_LIMIT="1000 per minute",
                      BILL_MEMBER_CONFIRM_RATE_LIMIT="1000 per minute")

    statuses = fire(base, headers, [(bill_id, guess) for guess in wrong], log)
    assert statuses.count(422) == 4, statuses  # the four wrong tries before the last one were judged
    assert set(statuses) == {422, 409}, statuses  # the fifth voided the request; the rest found it void
    assert row(app, bill_id).code_attempts == 5  # no worker counted more than the limit

    right = requests.post(f"{base}{CONFIRM.format(bill_id)}", data=json.dumps({"code": code}),
                          headers={**headers, "Content-Type": "application/json", "Idempotency-Key": "right"}, timeout=60)
    assert right.status_code == 409 and right.json()["type"] == "/api/v1/problems/voided"
    assert row(app, bill_id).status == "voided" and world.balance(member) == 15400
    with app.app_context():
        assert db.session.scalars(select(Notification.kind).where(Notification.user_id == member)).all() == ["bill_voided"]


def test_the_per_member_limit_is_shared_by_the_workers(app, world, serve, till):
    headers, member, ids = till
    guesses = [(bill_id, f"{(int(row(app, bill_id).one_time_code) + n) % 10**6:06d}")
               for n in range(1, 8) for bill_id in ids]  # 21 wrong guesses over the member's three requests
    base, log = serve(BILL_CONFIRM_RATE_LIMIT="1000 per minute", BILL_MEMBER_CONFIRM_RATE_LIMIT="8 per minute")

    statuses = fire(base, headers, guesses, log)
    assert len(statuses) - statuses.count(429) == 8, statuses  # whichever worker answered
    assert sum(row(app, bill_id).code_attempts for bill_id in ids) <= 8
    assert world.balance(member) == 15400

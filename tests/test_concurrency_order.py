"""Use cases that touch the same rows in opposite orders, at the same time (issue 16): with no global
lock, every use case takes its locks in the one canonical order of ``mall.db`` (its own rows, then
listings/slots/nights, then accounts), and a deadlock or serialization failure PostgreSQL still
reports is retried by the edge; the last failure is a clean 503 with nothing written. Runs on SQLite
(one writer) and on PostgreSQL (``MALL_TEST_DATABASE_URL``)."""
import logging
import secrets

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from mall import db as mall_db
from mall.account.models import Notification, User
from mall.account import service as accounts
from mall.catalog.models import Listing
from mall.charity import service as charity
from mall.checkout import merchant_side
from mall.checkout import service as checkout
from mall.checkout.models import Order
from mall.coalition.models import Merchant
from mall.edge import run
from mall.extensions import db
from mall.family import service as family
from mall.family.models import Family
from mall.rules import service as rules
from tests.builders import World, checkout_as, race

LR = checkout.LineRequest
ROUNDS = 3


@pytest.fixture
def world(app):
    return World(app, operator="op@example.com")


@pytest.fixture(autouse=True)
def retries(caplog):
    """The retries the edge made (``mall.db`` logs each): with the canonical lock order there should
    be none, but a rare one is allowed — the retry is the documented fallback."""
    logging.getLogger("mall.db").disabled = False  # alembic's fileConfig (the migrated template) disables it
    caplog.set_level(logging.INFO, logger="mall.db")
    yield lambda: [r.getMessage() for r in caplog.records if r.name == "mall.db" and "retried" in r.getMessage()]


def as_user(app, action, user_id, *args, **kwargs):
    """Run one use case as ``user_id`` through the edge (its retries included)."""
    with app.app_context():
        try:
            return run(action, db.session, db.session.get(User, user_id), *args, **kwargs)
        finally:
            db.session.remove()


def as_merchant(app, action, merchant_id, *args, **kwargs):
    with app.app_context():
        try:
            return run(action, db.session, db.session.get(Merchant, merchant_id), *args, **kwargs)
        finally:
            db.session.remove()


def count(app, model, *where) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def listing_stock(app, listing_id) -> int:
    with app.app_context():
        return db.session.get(Listing, listing_id).stock


# ---------------------------------------------------------------- checkout: lines in opposite orders

def test_redeeming_two_listings_in_opposite_line_orders(app, world, retries):
    a, b = world.listing(points_price=100, stock=40), world.listing(points_price=100, stock=40, title_en="Cup")
    members = [world.member(f"m{n}@example.com", 5000) for n in range(6)]
    for round_ in range(ROUNDS):
        # half of them ask for a then b, the other half b then a, all at once
        results = race(lambda i: checkout_as(app, members[i], [LR(a), LR(b)] if i % 2 else [LR(b), LR(a)]),
                       range(len(members)))
        assert results == ["ok"] * len(members), results
    placed = ROUNDS * len(members)
    assert listing_stock(app, a) == listing_stock(app, b) == 40 - placed
    assert sum(world.balance(m) for m in members) == len(members) * 5000 - placed * 200
    assert not retries(), retries()  # the canonical lock order: no deadlock to retry
    world.verify()


def test_the_last_units_of_two_listings_in_opposite_orders(app, world, retries):
    a, b = world.listing(points_price=100, stock=3), world.listing(points_price=100, stock=3, title_en="Cup")
    members = [world.member(f"m{n}@example.com", 5000) for n in range(8)]
    results = race(lambda i: checkout_as(app, members[i], [LR(a), LR(b)] if i % 2 else [LR(b), LR(a)]),
                   range(len(members)))
    assert results.count("ok") == 3
    assert all(r in (409, 422) for r in results if r != "ok"), results
    assert listing_stock(app, a) == listing_stock(app, b) == 0
    assert sum(world.balance(m) for m in members) == len(members) * 5000 - 3 * 200
    assert not retries(), retries()  # the canonical lock order: no deadlock to retry
    world.verify()


# ---------------------------------------------------------------- cancelling from both sides

def test_merchant_and_member_cancel_the_same_order_at_once(app, world, retries):
    items = [world.listing(points_price=100, stock=20, cancel_hours=24, title_en=f"Item {n}") for n in range(2)]
    member = world.member("m@example.com", 10000)
    orders = []
    for n in range(ROUNDS * 2):
        ids, _ = checkout_as(app, member, [LR(items[n % 2]), LR(items[(n + 1) % 2])])
        orders += ids
    for order_id in orders:
        def step(who, order_id=order_id):
            if who == "member":
                return as_user(app, checkout.cancel_own_order, member, order_id)
            return as_merchant(app, merchant_side.cancel_order, world.merchant_id, order_id, "out of stock")

        results = race(step, ["member", "merchant"])
        assert sorted(map(str, results)) == ["409", "ok"], results  # one cancels, the other is told it is done
    assert count(app, Order, Order.status == "cancelled") == len(orders)
    assert [listing_stock(app, i) for i in items] == [20, 20]
    with app.app_context():
        compensation = int(db.session.scalar(select(func.sum(Order.compensation))) or 0)
    assert world.balance(member) == 10000 + compensation
    assert not retries(), retries()  # the canonical lock order: no deadlock to retry
    world.verify()


def test_cancelling_while_redeeming_the_same_listings(app, world, retries):
    """A cancellation gives back stock and points (order → listings → accounts) while the same member
    redeems the same listings (listings → accounts)."""
    a, b = (world.listing(points_price=100, stock=30, cancel_hours=24, title_en=t) for t in ("A", "B"))
    member = world.member("m@example.com", 10000)
    first = [checkout_as(app, member, [LR(a), LR(b)])[0][0] for _ in range(ROUNDS)]

    def step(i):
        if i < ROUNDS:
            return as_user(app, checkout.cancel_own_order, member, first[i])
        return checkout_as(app, member, [LR(b), LR(a)] if i % 2 else [LR(a), LR(b)])

    results = race(step, range(ROUNDS * 2))
    assert results == ["ok"] * (ROUNDS * 2), results
    assert listing_stock(app, a) == listing_stock(app, b) == 30 - ROUNDS
    assert world.balance(member) == 10000 - ROUNDS * 200
    assert not retries(), retries()  # the canonical lock order: no deadlock to retry
    world.verify()


# ---------------------------------------------------------------- family pool

def _family(app, world, head, *members):
    with app.app_context():
        fam = run(family.create_family, db.session, db.session.get(User, head), "The Lins")
        family_id = fam.id
    for user_id in members:
        _invitation, token = as_user(app, family.invite, head, world.code(user_id))
        with app.app_context():
            user = db.session.get(User, user_id)
            run(family.accept, db.session, user, family.invitation_by_token(db.session, user, token))
            run(family.set_rights, db.session, db.session.get(User, head), user_id, True, None)
    return family_id


def _pool(app, family_id) -> int:
    with app.app_context():
        return family.pool_account(db.session, db.session.get(Family, family_id)).balance


def test_a_pool_spend_racing_contributions(app, world, retries):
    head, kid = world.member("head@example.com", 5000), world.member("kid@example.com", 5000)
    fid = _family(app, world, head, kid)
    as_user(app, family.contribute, head, 1000, "first", True)
    item = world.listing(points_price=100, stock=None)

    def step(i):
        if i % 2:
            return as_user(app, family.contribute, (head, kid)[i % 4 // 2], 100, f"c{i}", True)
        return checkout_as(app, (kid, head)[i % 4 // 2], [LR(item)], pay_token="", source="family")

    results = race(step, range(12))
    assert results == ["ok"] * 12, results
    assert _pool(app, fid) == 1000 + 6 * 100 - 6 * 100
    assert world.balance(head) + world.balance(kid) == 10000 - 1000 - 6 * 100
    assert not retries(), retries()  # the canonical lock order: no deadlock to retry
    world.verify()


def test_members_gifting_each_other_at_once(app, world, retries):
    a, b = world.member("a@example.com", 3000), world.member("b@example.com", 3000)
    _family(app, world, a, b)
    codes = {a: world.code(b), b: world.code(a)}
    results = race(lambda i: as_user(app, family.gift_points, (a, b)[i % 2], codes[(a, b)[i % 2]], 100, f"g{i}"),
                   range(10))
    assert results == ["ok"] * 10, results
    assert world.balance(a) == world.balance(b) == 3000
    assert not retries(), retries()  # the canonical lock order: no deadlock to retry
    world.verify()


# ---------------------------------------------------------------- charity

def test_a_donation_racing_a_purchase_refund(app, world, retries):
    """The member donates (project → accounts) while the merchant refunds the purchase that earned the
    points (purchase → account): both finish, and the balance is exactly what both leave."""
    project = world.project()
    member = world.member("m@example.com", 0)
    purchases = [world.buy(member, [("appliances", True, 100000)]) for _ in range(ROUNDS)]
    start = world.balance(member)
    assert start > 0

    def step(i):
        if i % 2:
            with app.app_context():
                try:
                    merchant = db.session.get(Merchant, world.merchant_id)
                    return run(rules.refund_purchase, db.session, merchant, purchases[i // 2], 10000, f"r{i}").points_clawed
                finally:
                    db.session.remove()
        return as_user(app, charity.donate, member, project, 50, anonymous=False, token=f"d{i}") and 0

    results = race(step, range(ROUNDS * 2), values=True)
    assert all(isinstance(r, int) for r in results), results
    clawed = sum(results)
    assert world.balance(member) == start - ROUNDS * 50 - clawed
    assert not retries(), retries()  # the canonical lock order: no deadlock to retry
    world.verify()


# ---------------------------------------------------------------- the retry itself

class _Deadlock(Exception):
    sqlstate = "40P01"


class _Serialization(Exception):
    sqlstate = "40001"


def _conflict(orig=None):
    return OperationalError("UPDATE account SET …", {}, orig or _Deadlock("deadlock detected"))


def _note(session, user, failures: list):
    """A use case that writes a notification, then fails as PostgreSQL would while ``failures`` last."""
    accounts.notify(session, user.id, "test", {"n": 1})
    if failures:
        raise failures.pop(0)
    return "done"


def _notes(app, user_id):
    return count(app, Notification, Notification.user_id == user_id, Notification.kind == "test")


def test_a_deadlock_is_retried_and_the_retry_writes_once(app, world, monkeypatch, retries):
    monkeypatch.setattr(mall_db.time, "sleep", lambda _s: None)
    member = world.member("m@example.com", 0)
    failures = [_conflict(), _conflict(_Serialization("could not serialize access"))]
    assert as_user(app, _note, member, failures) == "done"
    assert failures == [] and _notes(app, member) == 1
    assert len(retries()) == 2 and "SQLSTATE 40001" in retries()[1]


def test_retries_spent_end_in_busy_with_nothing_written(app, world, monkeypatch):
    monkeypatch.setattr(mall_db.time, "sleep", lambda _s: None)
    member = world.member("m@example.com", 0)
    failures = [_conflict() for _ in range(mall_db.RETRIES + 1)]
    with pytest.raises(mall_db.Busy):
        as_user(app, _note, member, failures)
    assert len(failures) == 1  # RETRIES attempts, no more
    assert _notes(app, member) == 0


def test_other_database_errors_are_not_retried(app, world):
    member = world.member("m@example.com", 0)
    failures = [OperationalError("SELECT 1", {}, Exception("disk I/O error")), _conflict()]
    with pytest.raises(OperationalError) as raised:
        as_user(app, _note, member, failures)
    assert not isinstance(raised.value, mall_db.Busy) and len(failures) == 1
    assert _notes(app, member) == 0


def test_busy_is_a_503_page_or_problem_never_a_500(app, world, monkeypatch):
    monkeypatch.setattr(mall_db.time, "sleep", lambda _s: None)
    member = world.member("m@example.com", 0)

    def busy_door():
        run(_note, db.session, db.session.get(User, member), [_conflict() for _ in range(mall_db.RETRIES)])
        return "unreachable"

    app.add_url_rule("/test-busy", "test_busy", busy_door)  # a GET: no CSRF token to fetch first
    app.add_url_rule("/api/v1/test-busy", "test_busy_api", busy_door)
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh"
    page = client.get("/test-busy")
    assert page.status_code == 503 and page.headers["Retry-After"] == "2"
    assert page.mimetype == "text/html" and "没有任何更改" in page.get_data(as_text=True)  # "nothing was changed"
    answer = client.get("/api/v1/test-busy")
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "2"
    assert answer.mimetype == "application/problem+json"
    assert answer.get_json()["type"] == "/api/v1/problems/busy"
    assert _notes(app, member) == 0


def test_orchestrator_steps_retry_too(app, world, monkeypatch):
    """Checkout's placing step meets a deadlock once: it runs again and places the order once."""
    monkeypatch.setattr(mall_db.time, "sleep", lambda _s: None)
    member = world.member("m@example.com", 1000)
    item = world.listing(points_price=100, stock=5)
    place, calls = checkout.place, []

    def flaky_place(*args, **kwargs):
        calls.append(1)
        placed = place(*args, **kwargs)
        if len(calls) == 1:
            raise _conflict()
        return placed

    monkeypatch.setattr(checkout, "place", flaky_place)
    token = secrets.token_hex(6)
    ids, replayed = checkout_as(app, member, [LR(item)], token=token)
    assert len(calls) == 2 and len(ids) == 1 and not replayed
    assert world.balance(member) == 900 and listing_stock(app, item) == 4
    world.verify()

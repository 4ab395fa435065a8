"""A flash sale over real HTTP: a limited listing (one per member) opened to many signed-in members at
once, each racing from two tabs, against two gunicorn workers. Exactly the stock is sold, no member
gets two, no balance goes negative, nothing answers 5xx, and every loser gets a clear 409."""
import re
import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
import requests
from sqlalchemy import func, select, update

from mall.account.models import User
from mall.checkout.models import Order, OrderLine
from mall.db import write
from mall.extensions import db
from mall.ledger.models import Account
from tests import servers
from tests.builders import Auth, assert_ledger_ok

SOLD_OUT = "Sold out: every unit has been redeemed."
OVER_LIMIT = "This exceeds the limit per member."
EARLY_ONLY = "Early access is for members in good credit standing."
UNITS, MEMBERS = 12, 40


@pytest.fixture
def serve(app, database_url, tmp_path):
    """Two gunicorn workers over the test database, with the test app's secret key (so a session signed
    in through the test app is good there too); their base URL."""
    with servers.gunicorn(tmp_path, {"DATABASE_URL": database_url, "SECRET_KEY": app.config["SECRET_KEY"],
                                     "LOGIN_RATE_LIMIT": "100000 per minute"}) as (base, _log):
        yield base


def members(app, world, count, good_credit=()):
    """``count`` members with 1,000 points each, the ``good_credit`` ones (by number) in good standing."""
    ids = [world.member(f"fan{n}@example.com", points=1000) for n in range(count)]
    with app.app_context(), write(db.session):
        db.session.execute(update(User).where(User.id.in_([ids[n] for n in good_credit])).values(good_credit=True))
    return ids


def sign_in(app, base, n) -> tuple[requests.Session, str]:
    """Member n signed in (through the real form of the test app: the server's argon2 would only slow the
    test), then on the server; the server's session and a CSRF token of it."""
    client = app.test_client()
    assert Auth(client).login(f"fan{n}@example.com").status_code == 302
    name = app.config["SESSION_COOKIE_NAME"]
    browser = requests.Session()
    browser.headers.update({"Accept-Language": "en"})
    browser.cookies.set(name, client.get_cookie(name).value)
    page = browser.get(f"{base}/account", allow_redirects=False, timeout=60)
    assert page.status_code == 200, page.status_code
    return browser, re.search(r'"X-CSRFToken": "([^"]+)"', page.text).group(1)


def tab(browser: requests.Session) -> requests.Session:
    """A second tab of the same browser: the same cookies, its own connection."""
    other = requests.Session()
    other.headers.update(browser.headers)
    other.cookies.update(browser.cookies)
    return other


def redeem(base, listing_id, browser, csrf) -> tuple[int, str]:
    answer = browser.post(f"{base}/checkout?listing={listing_id}", allow_redirects=False, timeout=60,
                          data={"csrf_token": csrf, "token": secrets.token_urlsafe(12)})
    return answer.status_code, answer.text


def flash_sale(app, base, listing_id, count):
    """Sign ``count`` members in (two tabs each), then fire every tab at once; the (status, page) answers."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        signed_in = list(pool.map(lambda n: sign_in(app, base, n), range(count)))
    tabs = [(browser, csrf) for browser, csrf in signed_in] + [(tab(browser), csrf) for browser, csrf in signed_in]
    with ThreadPoolExecutor(max_workers=len(tabs)) as pool:
        return list(pool.map(lambda t: redeem(base, listing_id, *t), tabs))


def sold(app, listing_id) -> dict[int, int]:
    """Units of the listing per member, in orders that stand."""
    with app.app_context():
        rows = db.session.execute(select(Order.member_id, func.sum(OrderLine.quantity)).join(OrderLine).where(
            OrderLine.listing_id == listing_id, Order.status != "cancelled").group_by(Order.member_id)).all()
        return {member: int(units) for member, units in rows}


def assert_no_negative_balance(app):
    with app.app_context():
        assert db.session.scalar(select(func.count(Account.id)).where(Account.guarded, Account.balance < 0)) == 0


def message_of(page: str) -> str:
    return page.replace("&#39;", "'")


def test_flash_sale_sells_exactly_the_stock_one_per_member(app, world, serve):
    ids = members(app, world, MEMBERS)
    item = world.listing(kind="coupon", category="grocery", points_price=100, stock=UNITS, limit_per_member=1,
                         limit_period="ever", coupon_valid_days=30,
                         available_from=datetime.now(timezone.utc).isoformat())

    answers = flash_sale(app, serve, item, MEMBERS)

    statuses = [status for status, _ in answers]
    assert not [s for s in statuses if s >= 500], statuses
    assert statuses.count(303) == UNITS, statuses
    losers = [message_of(page) for status, page in answers if status != 303]
    assert all(status == 409 for status, _ in answers if status != 303), statuses
    assert all(SOLD_OUT in page or OVER_LIMIT in page for page in losers)
    units = sold(app, item)
    assert sum(units.values()) == UNITS and set(units.values()) == {1}  # no member with two
    assert all(world.balance(member) == (900 if member in units else 1000) for member in ids)
    assert_no_negative_balance(app)
    assert_ledger_ok(app)
    later = sign_in(app, serve, MEMBERS - 1)
    status, page = redeem(serve, item, *later)  # after the sale: sold out, at once
    assert status == 409 and SOLD_OUT in message_of(page)
    assert 'id="header-balance"' not in page  # the crowd's answer reads no balance (quiet header)
    assert 'id="header-balance"' in later[0].get(f"{serve}/account", timeout=30).text


def test_early_access_window_is_for_good_credit_members_only(app, world, serve):
    now = datetime.now(timezone.utc)
    count, good = 24, range(0, 24, 2)  # every other member in good credit standing
    ids = members(app, world, count, good_credit=good)
    item = world.listing(kind="coupon", category="grocery", points_price=100, stock=5, limit_per_member=1,
                         limit_period="ever", coupon_valid_days=30,
                         early_access_from=(now - timedelta(minutes=1)).isoformat(),
                         available_from=(now + timedelta(hours=1)).isoformat())

    answers = flash_sale(app, serve, item, count)

    assert not [s for s, _ in answers if s >= 500], answers
    assert [s for s, _ in answers].count(303) == 5
    units = sold(app, item)
    assert set(units) <= {ids[n] for n in good} and set(units.values()) == {1}
    for n, (status, page) in enumerate(answers):
        if n % count % 2:  # not in good credit standing: refused (or told it is gone already)
            assert (status, EARLY_ONLY in message_of(page)) == (422, True) or (
                status == 409 and SOLD_OUT in message_of(page)), status
        elif status != 303:
            assert status == 409 and (SOLD_OUT in message_of(page) or OVER_LIMIT in message_of(page))
    assert_no_negative_balance(app)
    assert_ledger_ok(app)

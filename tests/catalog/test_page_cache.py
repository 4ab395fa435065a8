"""Signed-out storefront pages from the cache (mall/catalog/pages.py): served without rendering again,
never to or from a member, in the visitor's language, and fresh on the request after any change."""
import re
from contextlib import contextmanager

from sqlalchemy import event

from mall.account import service as accounts
from mall.account.models import User
from mall.catalog import service as catalog
from mall.coalition import service as merchants
from mall.coalition.models import Merchant
from mall.db import write
from mall.extensions import db
from tests.builders import World, create_listing, make_user, signed_in_client


@contextmanager
def statements(app):
    sent = []
    with app.app_context():
        engine = db.engine

    def record(conn, cursor, statement, params, context, executemany):
        if not statement.startswith("BEGIN"):  # SQLite's, sent by the engine itself
            sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def cards(response) -> list[str]:
    return re.findall(r"<h3>([^<]+)</h3>", response.get_data(as_text=True))


def test_a_visitors_page_is_rendered_once_then_served_from_the_cache(app):
    world = World(app)
    create_listing(app, world.merchant_id, title_en="Bamboo towel", title_zh="竹纤维毛巾", points_price=2800)
    visitor = app.test_client()
    first = visitor.get("/catalog?q=towel", headers={"Accept-Language": "en"})
    with statements(app) as sent:
        again = visitor.get("/catalog?q=towel", headers={"Accept-Language": "en"})
    assert again.data == first.data and cards(again) == ["Bamboo towel"]
    assert len(sent) == 1 and "max(listing.updated_at)" in sent[0]  # the version, nothing else
    assert "Accept-Language" in again.headers["Vary"]
    chinese = visitor.get("/catalog?q=towel", headers={"Accept-Language": "zh-CN"})
    assert cards(chinese) == ["竹纤维毛巾"]  # each language its own page


def test_a_price_a_stock_and_a_merchants_standing_show_on_the_next_request(app):
    world = World(app)
    listing = create_listing(app, world.merchant_id, title_en="Bamboo towel", title_zh="竹纤维毛巾",
                             points_price=2800, stock=50)
    visitor = app.test_client()
    page = visitor.get("/catalog", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "2,800" in page and "left" not in page
    shop = lambda: db.session.get(Merchant, world.merchant_id)  # noqa: E731
    with app.app_context(), write(db.session):
        catalog.update_listing(db.session, shop(), listing, {"points_price": 2500})
    page = visitor.get("/catalog", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "2,500" in page and "2,800" not in page
    with app.app_context(), write(db.session):
        catalog.update_listing(db.session, shop(), listing, {"stock_delta": -45})  # an UPDATE … stock = stock - 45
    assert "5 left" in visitor.get("/catalog", headers={"Accept-Language": "en"}).get_data(as_text=True)
    operator = make_user(app, "op@example.com", role="operator")
    with app.app_context(), write(db.session):
        merchants.set_status(db.session, db.session.get(User, operator), world.merchant_id, "suspend", "Fake receipts")
    assert cards(visitor.get("/catalog", headers={"Accept-Language": "en"})) == []


def test_a_visitors_page_is_never_served_to_a_member_nor_a_members_to_a_visitor(app):
    world = World(app)
    create_listing(app, world.merchant_id, title_en="Bamboo towel", title_zh="竹纤维毛巾", points_price=2800)
    world.member("lin@example.com", points=4321)
    visitor = app.test_client()
    visitor.get("/catalog", headers={"Accept-Language": "en"})
    member = signed_in_client(app, "lin@example.com")
    mine = member.get("/catalog").get_data(as_text=True)
    assert "4,321" in mine and "X-CSRFToken" in mine  # the member's own header
    shown = visitor.get("/catalog", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "4,321" not in shown and "csrf" not in shown.lower()


def csrf_of(page: str) -> str:
    return re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)


def test_members_share_a_pages_skeleton_and_each_gets_their_own_header(app):
    """A member's catalog is kept without what is theirs; each request completes it with their balance,
    unread count, banners, messages and CSRF token, read with the user in one statement."""
    world = World(app)
    create_listing(app, world.merchant_id, title_en="Bamboo towel", title_zh="竹纤维毛巾", points_price=2800)
    lin = world.member("lin@example.com", points=4321)
    world.member("wu@example.com", points=1234)
    first, second = signed_in_client(app, "lin@example.com"), signed_in_client(app, "wu@example.com")
    first_page = first.get("/catalog").get_data(as_text=True)
    with statements(app) as sent:
        again = first.get("/catalog").get_data(as_text=True)
        other = second.get("/catalog").get_data(as_text=True)
    assert len(sent) == 2 and all("max(listing.updated_at)" in statement for statement in sent)  # for each:
    # the user, the header's facts and the catalog's version in one statement
    assert cards_of(again) == cards_of(other) == ["Bamboo towel"]
    assert "4,321" in again and "1,234" not in again and "1,234" in other and "4,321" not in other
    assert csrf_of(again) == csrf_of(first_page) != csrf_of(other)  # each their own session's token
    for entry in _entries(app):
        assert "4,321" not in entry and "1,234" not in entry and "X-CSRFToken\": \"" not in entry
    world.earn(lin, 100)  # the balance is read afresh on every request, cached page or not
    with app.app_context(), write(db.session):
        accounts.notify(db.session, lin, "msg:gift_received", {"points": 100, "sender_name": "Wu", "note": ""})
    fresh = first.get("/catalog").get_data(as_text=True)
    assert "4,421" in fresh and 'id="unread-count">1<' in fresh and 'class="banner"' in fresh
    assert 'class="banner"' not in second.get("/catalog").get_data(as_text=True)


def test_a_members_home_page_picks_what_their_own_balance_reaches(app):
    world = World(app)
    create_listing(app, world.merchant_id, title_en="Bamboo towel", title_zh="竹纤维毛巾", points_price=2800)
    create_listing(app, world.merchant_id, title_en="Rice cooker", title_zh="电饭煲", points_price=9000)
    world.member("rich@example.com", points=10000)
    world.member("poor@example.com", points=3000)
    rich, poor = signed_in_client(app, "rich@example.com"), signed_in_client(app, "poor@example.com")
    for _ in range(2):  # the second time from the skeletons
        rich_page, poor_page = rich.get("/").get_data(as_text=True), poor.get("/").get_data(as_text=True)
        picks = [page.split('id="affordable"')[1].split("</section>")[0] for page in (rich_page, poor_page)]
        assert cards_of(picks[0])[0] == "Rice cooker"  # the dearest their points reach, first
        assert cards_of(picks[1]) == ["Bamboo towel"]


def test_a_page_after_a_change_in_the_same_request_reads_the_header_afresh(app):
    """The header's facts come with the user; the request's first write drops them, so what a form
    answers with shows the balance and count after the change."""
    from mall import header

    world = World(app)
    lin = world.member("lin@example.com", points=500)
    with app.test_request_context("/"):
        from flask_login import login_user

        with write(db.session):
            user = db.session.get(User, lin)
            login_user(user)
            from flask import g
            g.header_facts = header.Facts(500, False, 0, None, False)
            assert header.header_balance() == 500
            accounts.notify(db.session, lin, "msg:gift_received", {"points": 1, "sender_name": "Wu", "note": ""})
            assert header.unread_count() == 1  # the insert dropped the facts: read again


def _entries(app) -> list[str]:
    from mall.catalog.pages import cache

    backend = cache.cache
    return [str(value) for value in getattr(backend, "_cache", {}).values()]


def cards_of(page: str) -> list[str]:
    return re.findall(r"<h3>([^<]+)</h3>", page)


def test_workers_share_the_cache_in_redis_and_each_sees_a_change_at_once(app, redis_db, tmp_path):
    """Two apps on one database and one Redis stand for two nodes: what one rendered, the other serves;
    a change made through either shows on both at the next request."""
    from mall import create_app

    world = World(app)
    listing = create_listing(app, world.merchant_id, title_en="Bamboo towel", title_zh="竹纤维毛巾", points_price=2800)
    nodes = [create_app({**app.config, "CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": redis_db})
             for _ in range(2)]
    try:
        first = nodes[0].test_client().get("/catalog", headers={"Accept-Language": "en"})
        assert "2,800" in first.get_data(as_text=True)
        with statements(nodes[1]) as sent:
            served = nodes[1].test_client().get("/catalog", headers={"Accept-Language": "en"})
        assert served.data == first.data and len(sent) == 1  # the version read, the page from Redis
        with nodes[1].app_context(), write(db.session):
            catalog.update_listing(db.session, db.session.get(Merchant, world.merchant_id), listing,
                                   {"points_price": 2600})
        for node in nodes:
            assert "2,600" in node.test_client().get("/catalog", headers={"Accept-Language": "en"}).get_data(as_text=True)
    finally:
        for node in nodes:
            with node.app_context():
                db.engine.dispose()
            node.extensions["payment_gateway"].dispose()


def test_a_listing_page_is_cached_until_it_opens_but_never_a_services_times(app):
    from datetime import timedelta

    from mall.catalog.models import Listing
    from mall.clock import utcnow

    world = World(app)
    towel = create_listing(app, world.merchant_id, title_en="Bamboo towel", title_zh="竹纤维毛巾", points_price=2800)
    massage = create_listing(app, world.merchant_id, title_en="Massage", title_zh="按摩", kind="service",
                             category="services", points_price=5000)
    visitor = app.test_client()
    visitor.get(f"/catalog/{towel}")
    with statements(app) as sent:
        assert "2,800" in visitor.get(f"/catalog/{towel}").get_data(as_text=True)
    assert len(sent) == 1
    visitor.get(f"/catalog/{massage}")
    with statements(app) as sent:
        visitor.get(f"/catalog/{massage}")
    assert len(sent) > 1  # its open times change with every booking: rendered each time
    now = utcnow()
    opening = Listing(available_from=now + timedelta(seconds=90), sale_ends_at=now + timedelta(days=3))
    assert 88 <= catalog.seconds_to_next_change(opening, now) <= 90
    assert catalog.seconds_to_next_change(Listing(), now) == 3600

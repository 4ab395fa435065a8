"""Signed-out storefront pages from the cache (mall/catalog/pages.py): served without rendering again,
never to or from a member, in the visitor's language, and fresh on the request after any change."""
import re
from contextlib import contextmanager

from sqlalchemy import event

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


def test_a_members_page_is_never_cached_nor_a_visitors_served_to_a_member(app):
    world = World(app)
    create_listing(app, world.merchant_id, title_en="Bamboo towel", title_zh="竹纤维毛巾", points_price=2800)
    world.member("lin@example.com", points=4321)
    visitor = app.test_client()
    visitor.get("/catalog", headers={"Accept-Language": "en"})
    member = signed_in_client(app, "lin@example.com")
    mine = member.get("/catalog").get_data(as_text=True)
    assert "4,321" in mine  # the member's own header
    assert "4,321" not in visitor.get("/catalog", headers={"Accept-Language": "en"}).get_data(as_text=True)
    with statements(app) as sent:
        member.get("/catalog")
    assert len(sent) > 1  # rendered for the member, not taken from the cache


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

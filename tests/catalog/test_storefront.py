"""The storefront: search in both languages, filters, sort, pagination, states, query counts."""
import re
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from mall.catalog import service as catalog
from mall.db import write
from mall.extensions import db
from mall.ledger import service as ledger
from tests.builders import create_listing, make_merchant


def titles(client, query=""):
    html = client.get(f"/catalog?{query}", headers={"HX-Request": "true"}).get_data(as_text=True)
    return re.findall(r"<h3>([^<]+)</h3>", html)


@pytest.fixture
def stocked(app, shop_id):
    create_listing(app, shop_id, title_zh="一级能效变频空调", title_en="Inverter air conditioner", kind="goods",
           category="appliances", points_price=120000, green=True)
    create_listing(app, shop_id, title_zh="竹纤维毛巾", title_en="Bamboo towel", points_price=2800, green=True, stock=0)
    create_listing(app, shop_id, title_zh="话费充值 10 元", title_en="Phone credit 10 yuan", kind="topup",
           category="telecom", points_price=1000, green=False, stock=None)
    create_listing(app, shop_id, title_zh="西湖畔酒店 1 晚", title_en="West Lake hotel night", kind="stay",
           category="hotel", points_price=22000, green=True, stock=None)


def test_search_in_chinese_and_english(client, stocked):
    assert titles(client, "q=空调") == ["Inverter air conditioner"]  # two characters: a substring scan
    assert titles(client, "q=变频空调") == ["Inverter air conditioner"]  # the full-text index
    assert titles(client, "q=towel") == ["Bamboo towel"]
    assert titles(client, "q=TOWEL") == ["Bamboo towel"]
    assert titles(client, "q=西湖") == ["West Lake hotel night"]
    assert titles(client, "q=nothing-like-this") == []


def test_search_ignores_query_syntax(client, stocked):
    for q in ['"', "towel OR 1=1", "%", "_", "NEAR(", "*", "'; DROP TABLE listing; --"]:
        response = client.get("/catalog", query_string={"q": q})
        assert response.status_code == 200


@pytest.mark.parametrize("query, expected", [
    ("kind=topup", {"Phone credit 10 yuan"}),
    ("green=y", {"Inverter air conditioner", "Bamboo towel", "West Lake hotel night"}),
    ("green=y&in_stock=y", {"Inverter air conditioner", "West Lake hotel night"}),
    ("min_points=2000&max_points=30000", {"Bamboo towel", "West Lake hotel night"}),
    ("group=travel", {"West Lake hotel night"}),
    ("group=home&green=y&max_points=5000", {"Bamboo towel"}),
    ("kind=stay&q=towel", set()),
])
def test_filter_combinations(client, stocked, query, expected):
    assert set(titles(client, query)) == expected


def test_sorting(client, stocked):
    assert titles(client, "sort=points_asc")[0] == "Phone credit 10 yuan"
    assert titles(client, "sort=points_desc")[0] == "Inverter air conditioner"
    assert titles(client, "sort=newest")[0] == "West Lake hotel night"


def test_affordable_uses_the_members_balance(app, client, member, stocked, shop_id):
    with app.app_context(), write(db.session):
        issuance = ledger.open_account(db.session, "merchant", shop_id, "issuance")
        ledger.transfer(db.session, issuance, ledger.member_account(db.session, member), 3000, "earn", key="e")
    assert set(titles(client, "affordable=y")) == {"Phone credit 10 yuan", "Bamboo towel"}


def test_bad_filter_values_do_not_break_the_page(client, stocked):
    for query in ("min_points=abc", "page=-4", "page=99999", "sort=sideways", "kind=spaceship", "merchant=x"):
        response = client.get(f"/catalog?{query}")
        assert response.status_code == 200, query


def test_htmx_gets_the_results_fragment_and_links_keep_filters(client, app, shop_id):
    for n in range(30):
        create_listing(app, shop_id, title_en=f"Towel {n}", title_zh=f"毛巾 {n}")
    fragment = client.get("/catalog?green=y&q=towel", headers={"HX-Request": "true"}).get_data(as_text=True)
    page = client.get("/catalog?green=y&q=towel").get_data(as_text=True)
    assert "<html" not in fragment and "<html" in page
    next_link = re.search(r'rel="next"', fragment) and re.search(r'href="([^"]+)"[^>]*rel="next"', fragment).group(1)
    assert "green=y" in next_link and "q=towel" in next_link and "page=2" in next_link


def test_listing_page_states(app, client, shop_id, member):
    sold_out = create_listing(app, shop_id, stock=0)
    assert "Out of stock" in client.get(f"/catalog/{sold_out}").get_data(as_text=True)
    pricey = create_listing(app, shop_id, points_price=5000)
    html = client.get(f"/catalog/{pricey}").get_data(as_text=True)
    assert "You need 5,000 more points." in html


@contextmanager
def counting_queries(app):
    counter = {"n": 0}

    def count(*_args, **_kwargs):
        counter["n"] += 1

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_catalog_queries_do_not_grow_with_the_page_size(app, client, shop_id):
    for n in range(3):
        make_merchant(app, f"m{n}")
    for n in range(40):
        create_listing(app, shop_id, title_en=f"Item {n}")
    client.get("/catalog")  # warm up
    counts = []
    for per_page in (4, 24):
        with counting_queries(app) as counter:
            with app.test_request_context():
                with app.app_context():
                    catalog.browse(db.session, catalog.CatalogQuery(), per_page=per_page)
        counts.append(counter["n"])
    assert counts[0] == counts[1] <= 3
    with counting_queries(app) as counter:
        assert client.get("/catalog").status_code == 200
    assert counter["n"] <= 6

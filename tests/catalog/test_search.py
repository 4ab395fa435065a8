"""Search that understands Chinese (mall/catalog/search.py): two-character words and pinyin through
the terms index on both databases, English stems and prefixes, the best match first, and a listing
found by its new words as soon as a merchant renames it."""
import re

import pytest
from sqlalchemy import select, text

from mall.catalog import search
from mall.catalog import service as catalog
from mall.catalog.models import Listing
from mall.catalog.service import CatalogQuery
from mall.coalition.models import Merchant
from mall.db import write
from mall.extensions import db
from tests.builders import create_listing


def titles(client, query=""):
    html = client.get(f"/catalog?{query}", headers={"HX-Request": "true"}).get_data(as_text=True)
    return re.findall(r"<h3>([^<]+)</h3>", html)


@pytest.fixture
def shelf(app, shop_id):
    for zh, en in [("一级能效变频空调", "Inverter air conditioner"), ("空调清洗服务", "Air conditioner cleaning"),
                   ("有机茶叶礼盒", "Organic tea gift box"), ("西湖畔酒店 1 晚", "West Lake hotel night"),
                   ("电热水壶", "Electric kettles"), ("竹纤维毛巾", "Bamboo towel")]:
        create_listing(app, shop_id, title_zh=zh, title_en=en, description_zh="", description_en="")
    return shop_id


@pytest.mark.parametrize("q, expected", [
    ("空调", {"Inverter air conditioner", "Air conditioner cleaning"}),
    ("茶叶", {"Organic tea gift box"}),
    ("酒店", {"West Lake hotel night"}),
    ("茶", {"Organic tea gift box"}),
    ("变频空调", {"Inverter air conditioner"}),
    ("空调 cleaning", {"Air conditioner cleaning"}),
    ("调空", set()),  # the characters, not in that order
])
def test_chinese_words_of_any_length(client, shelf, q, expected):
    assert set(titles(client, f"q={q}")) == expected


@pytest.mark.parametrize("q, expected", [
    ("kongtiao", {"Inverter air conditioner", "Air conditioner cleaning"}),
    ("KongTiao", {"Inverter air conditioner", "Air conditioner cleaning"}),
    ("kongt", {"Inverter air conditioner", "Air conditioner cleaning"}),
    ("kong tiao", {"Inverter air conditioner", "Air conditioner cleaning"}),
    ("chaye", {"Organic tea gift box"}),
    ("jiudian", {"West Lake hotel night"}),
    ("kt", {"Inverter air conditioner", "Air conditioner cleaning"}),  # the initials
])
def test_pinyin_finds_the_chinese_title(client, shelf, q, expected):
    assert set(titles(client, f"q={q}")) == expected


@pytest.mark.parametrize("q, expected", [
    ("kettle", {"Electric kettles"}),  # a stem
    ("kettles", {"Electric kettles"}),
    ("towels", {"Bamboo towel"}),
    ("condition", {"Inverter air conditioner", "Air conditioner cleaning"}),  # a prefix
    ("tea box", {"Organic tea gift box"}),
    ("tea towel", set()),  # every word must match
])
def test_english_stems_and_prefixes(client, shelf, q, expected):
    assert set(titles(client, f"q={q}")) == expected


def test_the_best_match_comes_first_unless_another_sort_is_chosen(app, client, shop_id):
    create_listing(app, shop_id, title_zh="家用电器大全 含空调", title_en="Home appliances, air conditioner included",
                   description_zh="冰箱 洗衣机 电视 微波炉 空调 热水器 吸尘器", description_en="")
    create_listing(app, shop_id, title_zh="空调", title_en="Air conditioner", description_zh="空调 空调", description_en="")
    assert titles(client, "q=空调")[0] == "Air conditioner"
    assert re.search(r'<option[^>]*selected[^>]*value="relevance"|<option[^>]*value="relevance"[^>]*selected',
                     client.get("/catalog?q=空调").get_data(as_text=True))
    assert titles(client, "q=空调&sort=newest")[0] == "Air conditioner"  # newest is the last one created too
    assert titles(client, "q=空调&sort=points_asc")  # any sort still searches


def test_a_renamed_listing_is_found_by_its_new_words_only(app, client, shop_id):
    listing = create_listing(app, shop_id, title_zh="竹纤维毛巾", title_en="Bamboo towel")
    assert titles(client, "q=毛巾") == ["Bamboo towel"]
    with app.app_context(), write(db.session):
        catalog.update_listing(db.session, db.session.get(Merchant, shop_id), listing,
                               {"title_zh": "有机棉浴巾", "title_en": "Organic cotton bath towel"})
    assert titles(client, "q=毛巾") == []
    assert titles(client, "q=浴巾") == ["Organic cotton bath towel"]
    assert titles(client, "q=yujin") == ["Organic cotton bath towel"]


def test_query_terms_carry_no_syntax():
    for q in ['"', "towel OR 1=1", "%", "NEAR(", "*", "'; DROP TABLE listing; --", "a:* & b", "空调' | '"]:
        for group in search.query_terms(q):
            assert all(re.fullmatch(r"[0-9a-z\u3400-\u9fff]+", term) for term in group), (q, group)
    assert search.query_terms("%*") == []


def test_a_two_character_search_uses_the_index(app, shelf):
    """No scan of the listing table: FTS5 on SQLite, the GIN index of the terms' tsvector on PostgreSQL."""
    with app.app_context():
        sent = []

        def record(conn, cursor, statement, params, context, executemany):
            sent.append((statement, params))

        from sqlalchemy import event
        event.listen(db.engine, "before_cursor_execute", record)
        try:
            catalog.browse(db.session, CatalogQuery(q="空调", sort="relevance"))
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        page_sql, params = sent[-1]  # the page's query (after the count)
        if db.engine.dialect.name == "postgresql":
            # a six-row table is read whole; with scans off, the planner shows the index the search can use
            db.session.execute(text("SET LOCAL enable_seqscan = off"))
            condition, _order = catalog._search(db.session, "空调")
            matching = select(Listing.id).where(condition)
            compiled = matching.compile(dialect=db.engine.dialect)
            plan = "\n".join(r[0] for r in db.session.connection().exec_driver_sql(
                "EXPLAIN " + str(compiled), compiled.params))
            assert "Bitmap Index Scan on ix_listing_search_vector" in plan, plan
        else:
            plan = "\n".join(str(r) for r in db.session.connection().exec_driver_sql(
                "EXPLAIN QUERY PLAN " + page_sql, params))
            assert "VIRTUAL TABLE INDEX" in plan and "listing_fts" in plan, plan
            assert not re.search(r"SCAN listing(?!_fts)", plan), plan
        db.session.rollback()

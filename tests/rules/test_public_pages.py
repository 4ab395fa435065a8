"""/rules, the calculator, the version diff and /transparency: public, and computed from the source."""
import re
from datetime import datetime, timedelta, timezone

from mall.db import write
from mall.extensions import db
from mall.ledger import service as ledger
from mall.models import utcnow
from mall.rules import present
from mall.rules import service as rules
from tests.builders import make_merchant, make_user


def test_rules_page_shows_the_rules_in_force_without_sign_in(client):
    html = client.get("/rules", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "version 1" in html
    assert "Silver" in html and "5,000" in html and "×1.2" in html
    assert "2028-01-01" in html  # the expiry policy, published
    assert "At most 20,000 points per purchase" in html


def test_published_examples_match_the_calculator(client, app):
    with app.app_context():
        config = rules.config_of(rules.rule_set_at(db.session, utcnow()))
        examples = present.examples(config, utcnow())
    html = client.get("/rules", headers={"Accept-Language": "en"}).get_data(as_text=True)
    for ex in examples:
        shown = re.search(rf'data-example="{ex.id}">([^<]*)</li>', html).group(1)
        assert f"→ {ex.award.points:,} points" in shown
        query = {"category": ex.category, "amount": f"{ex.amount_fen / 100:.2f}", "tier": ex.tier}
        if ex.green:
            query["green"] = "y"
        if ex.good_credit:
            query["good_credit"] = "y"
        fragment = client.get("/rules/calculator", query_string=query, headers={"HX-Request": "true"})
        points = re.search(r'id="calc-points"><strong>([\d,]+)</strong>', fragment.get_data(as_text=True))
        assert int(points.group(1).replace(",", "")) == ex.award.points


def test_calculator_fragment_and_page(client):
    query = {"category": "appliances", "amount": "128", "green": "y", "tier": "normal"}
    fragment = client.get("/rules/calculator", query_string=query, headers={"HX-Request": "true"}).get_data(as_text=True)
    page = client.get("/rules/calculator", query_string=query).get_data(as_text=True)
    assert "<html" not in fragment and "192" in fragment
    assert "<html" in page and "192" in page


def test_calculator_rejects_bad_amounts_with_a_message(client):
    response = client.get("/rules/calculator", query_string={"amount": "-5", "category": "grocery"},
                          headers={"Accept-Language": "en"})
    assert response.status_code == 200
    assert "Enter an amount in yuan" in response.get_data(as_text=True)


def test_diff_between_versions(client, app):
    op = make_user(app, "op@example.com", role="operator")
    with app.app_context(), write(db.session):
        from mall.account.models import User

        doc = dict(rules.rule_set_at(db.session, utcnow()).document)
        doc = {**doc, "caps": {**doc["caps"], "per_purchase": 30000}}
        draft = rules.save_draft(db.session, db.session.get(User, op), doc, "higher cap")
        rules.publish(db.session, db.session.get(User, op), draft.id, utcnow() + timedelta(days=3))
    html = client.get("/rules/diff?a=1&b=2").get_data(as_text=True)
    assert "caps.per_purchase" in html and "20000" in html and "30000" in html
    assert "caps.min_purchase_fen" not in html
    rules_page = client.get("/rules", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Version 2 takes effect" in rules_page


def test_transparency_totals_come_from_the_ledger(client, app):
    shop = make_merchant(app)
    member = make_user(app, "t@example.com")
    with app.app_context(), write(db.session):
        issuance = ledger.open_account(db.session, "merchant", shop, "issuance")
        wallet = ledger.member_account(db.session, member)
        ledger.transfer(db.session, issuance, wallet, 500, "earn", key="e1")
        ledger.transfer(db.session, wallet, ledger.system_account(db.session, "redemption"), 120, "redeem", key="r1")
        ledger.transfer(db.session, wallet, ledger.system_account(db.session, "expiry"), 30, "expire", key="x1")
        budget = ledger.system_account(db.session, "game_budget")  # a game: the play in, a prize out
        ledger.transfer(db.session, ledger.system_account(db.session, "issuance"), budget, 1000, "adjust", key="b1")
        ledger.transfer(db.session, wallet, budget, 10, "game", key="g1")
        ledger.transfer(db.session, budget, wallet, 50, "game", key="g2")
    html = client.get("/transparency").get_data(as_text=True)

    def stat(key):
        block = re.search(rf'id="stat-{key}">.*?<strong>([\d,]+)</strong>', html, re.S).group(1)
        return int(block.replace(",", ""))

    assert stat("issued") == 550  # the prize counts as issued, the paid play does not
    assert stat("redeemed") == 120
    assert stat("expired") == 30
    assert stat("outstanding") == 390
    assert stat("fraud_adjustments") == 0


def test_daily_digest_is_the_chain_hash_at_the_end_of_the_day(app):
    shop = make_merchant(app)
    member = make_user(app, "d@example.com")
    day = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)  # 18:00 Shanghai
    with app.app_context(), write(db.session):
        issuance = ledger.open_account(db.session, "merchant", shop, "issuance")
        wallet = ledger.member_account(db.session, member)
        ledger.transfer(db.session, issuance, wallet, 10, "earn", key="a", now=day)
        first = ledger.seal_block(db.session, day + timedelta(minutes=1)).hash  # the digest is the last block's
        ledger.transfer(db.session, issuance, wallet, 10, "earn", key="b", now=day + timedelta(hours=8))  # next day
        ledger.seal_block(db.session, day + timedelta(hours=8, minutes=1))
    with app.app_context():
        digests = dict(rules.daily_digests(db.session, 3, now=day + timedelta(days=2)))
    from datetime import date

    assert digests[date(2026, 11, 24)] == first

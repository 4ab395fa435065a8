"""A merchant's own campaigns: set up in its back office within the limits the rule set publishes, paid
out of its own issuance account, named in the award's breakdown, shown on /rules and on its page,
ended early by the merchant or stopped by an operator; nobody else can touch them."""
from datetime import datetime, timedelta
from fractions import Fraction

import pytest
from sqlalchemy import select

from mall.account.models import User
from mall.clock import SHANGHAI, utcnow
from mall.coalition.models import Merchant
from mall.db import write
from mall.errors import Conflict, DomainError, NotFound
from mall.extensions import db
from mall.ledger import service as ledger
from mall.rules import engine, merchant_campaigns
from mall.rules import service as rules
from mall.rules.models import MerchantCampaign
from tests.builders import Shop, balance_of, csrf_token, make_user, purchase_body, signed_in_client

LOCAL = "%Y-%m-%dT%H:%M"


def local(at: datetime) -> str:
    return at.astimezone(SHANGHAI).strftime(LOCAL)


@pytest.fixture
def shop(app):
    shop = Shop(app, "lvlin")
    make_user(app, "owner@example.com", role="merchant", merchant_id=shop.id)
    return shop


@pytest.fixture
def member(app):
    user_id = make_user(app, "member@example.com")
    with app.app_context():
        return db.session.get(User, user_id).member_code


def form(client, **fields):
    now = utcnow()
    data = {"csrf_token": csrf_token(client, "/merchant/campaigns"), "kind": "multiplier", "name_zh": "双倍积分周",
            "name_en": "Double points week", "multiplier": "2", "points": "", "categories": "",
            "starts_at": local(now - timedelta(minutes=1)), "ends_at": local(now + timedelta(days=7))}
    data.update(fields)
    return client.post("/merchant/campaigns", data=data)


def purchase(client, shop, code, key, **extra):
    return client.post("/api/v1/purchases", json=purchase_body(code, green=False, **extra),
                       headers={**shop.headers, "Idempotency-Key": key})


def issuance_balance(app, merchant_id):
    with app.app_context():
        return ledger.open_account(db.session, "merchant", merchant_id, "issuance").balance


# ---------------------------------------------------------------- the engine

def limits_config(**limits):
    doc = dict(engine.DEFAULT_RULES, merchant_campaigns={**engine.DEFAULT_RULES["merchant_campaigns"], **limits},
               caps={"min_purchase_fen": 100})
    return engine.parse_config(doc)


def campaign(kind="multiplier", multiplier="2", points=0, categories=()):
    at = datetime(2026, 12, 1, tzinfo=SHANGHAI)
    return engine.Campaign(id="7", kind=kind, name_zh="双倍", name_en="Double", starts_at=at,
                           ends_at=at + timedelta(days=7), multiplier=Fraction(multiplier), points=points,
                           categories=categories)


def test_the_engine_adds_a_merchant_campaign_line_held_to_the_published_limits():
    at = datetime(2026, 12, 2, tzinfo=SHANGHAI)
    items = [engine.Item("grocery", 10000), engine.Item("refills", 5000)]  # 100 + 50 base points
    plain = engine.compute(limits_config(), items, engine.MemberContext(), at)
    double = engine.compute(limits_config(), items, engine.MemberContext(), at, merchant_campaigns=(campaign(),))
    line = [x for x in double.breakdown if x.rule == "merchant_campaign"]
    assert line and line[0].detail == {"campaign": "7", "name_zh": "双倍", "name_en": "Double"}
    assert double.points - plain.points == line[0].points == plain.points  # double: one more time the earning
    capped = engine.compute(limits_config(max_multiplier="1.5"), items, engine.MemberContext(), at,
                            merchant_campaigns=(campaign(multiplier="3"),))
    assert capped.points == plain.points + plain.points // 2  # ×3 counts as the published ×1.5
    only_refills = engine.compute(limits_config(), items, engine.MemberContext(), at,
                                  merchant_campaigns=(campaign(categories=("refills",)),))
    assert only_refills.points - plain.points == 100  # refills are green (×2): 100 points doubled once more
    bonus = engine.compute(limits_config(max_bonus_points=30), items, engine.MemberContext(), at,
                           merchant_campaigns=(campaign(kind="bonus", points=500),))
    assert bonus.points == plain.points + 30
    off = engine.compute(limits_config(allowed=False), items, engine.MemberContext(), at,
                         merchant_campaigns=(campaign(),))
    assert off.points == plain.points
    later = engine.compute(limits_config(), items, engine.MemberContext(), at + timedelta(days=30),
                           merchant_campaigns=(campaign(),))
    assert later.points == plain.points  # over


def test_bad_limits_in_a_rule_set_are_refused_with_the_place():
    for limits, where in (({"max_multiplier": "0.5"}, "max_multiplier"), ({"max_days": 0}, "max_days"),
                          ({"allowed": "yes"}, "allowed"), ({"max_bonus_points": -1}, "max_bonus_points")):
        with pytest.raises(engine.RuleConfigError, match=where):
            limits_config(**limits)
    assert engine.parse_config({"tiers": [{"name": "normal", "min_points": 0}]}).merchant_limits == \
        engine.MerchantLimits()  # a rule set without the section: the defaults


# ---------------------------------------------------------------- through the back office and the API

def test_a_manager_sets_up_double_points_and_members_earn_them_from_the_merchants_account(app, client, shop, member):
    owner = signed_in_client(app, "owner@example.com")
    before = purchase(client, shop, member, "p1").get_json()
    assert form(owner).status_code == 303
    issued_before = issuance_balance(app, shop.id)
    during = purchase(client, shop, member, "p2").get_json()
    lines = {line["rule"]: line for line in during["breakdown"]}
    assert lines["merchant_campaign"]["name_en"] == "Double points week"
    assert lines["merchant_campaign"]["points"] == before["points"] > 0  # double: the same earning once more
    assert during["points"] == 2 * before["points"]
    assert issuance_balance(app, shop.id) == issued_before - during["points"]  # the merchant's account paid
    assert balance_of(app, member) == before["points"] + during["points"]
    rules_page = client.get("/rules").get_data(as_text=True)
    assert "Double points week" in rules_page and "lvlin shop" in rules_page
    assert "At most 2 campaigns of a merchant at a time." in rules_page
    shop_page = client.get("/merchants/lvlin").get_data(as_text=True)
    assert 'id="merchant-campaigns"' in shop_page and "Double points week" in shop_page
    back_office = owner.get("/merchant/campaigns").get_data(as_text=True)
    assert "Double points week" in back_office and "Running" in back_office


def test_campaigns_outside_the_limits_are_refused_with_a_clear_message_and_nothing_stored(app, shop):
    owner = signed_in_client(app, "owner@example.com")
    now = utcnow()
    for fields, message in (
            ({"multiplier": "4"}, "above 1 and at most 3"),
            ({"multiplier": "abc"}, "above 1 and at most 3"),
            ({"multiplier": "1"}, "above 1 and at most 3"),
            ({"kind": "bonus", "points": "501"}, "1 to 500 points"),
            ({"ends_at": local(now + timedelta(days=40))}, "at most 31 days"),
            ({"starts_at": local(now - timedelta(days=1))}, "cannot start in the past"),
            ({"ends_at": local(now - timedelta(minutes=30))}, "must be after the start"),
            ({"categories": "grocery, <script>"}, "short names"),
            ({"name_en": ""}, "This field is required"),
            ({"kind": "bonus", "points": ""}, "Give the bonus points")):
        answer = form(owner, **fields)
        assert answer.status_code == 422, (fields, answer.status_code)
        assert message in answer.get_data(as_text=True), (fields, message)
    with app.app_context():
        assert db.session.scalar(select(MerchantCampaign.id)) is None
    assert form(owner).status_code == 303
    assert form(owner, name_en="Second").status_code == 303
    third = form(owner, name_en="Third")
    assert third.status_code == 422 and "At most 2 of your campaigns" in third.get_data(as_text=True)
    later = form(owner, name_en="Next month", starts_at=local(now + timedelta(days=10)),
                 ends_at=local(now + timedelta(days=12)))
    assert later.status_code == 303  # does not overlap the two running ones


def test_ending_early_keeps_what_was_earned_and_late_reports_inside_the_window_still_earn(app, client, shop, member):
    owner = signed_in_client(app, "owner@example.com")
    assert form(owner).status_code == 303
    with app.app_context():
        campaign_id = db.session.scalar(select(MerchantCampaign.id))
    occurred_during = utcnow().isoformat()
    token = csrf_token(owner, "/merchant/campaigns")
    assert owner.post(f"/merchant/campaigns/{campaign_id}/end", data={"csrf_token": token}).status_code == 303
    after = purchase(client, shop, member, "a1").get_json()
    assert "merchant_campaign" not in {line["rule"] for line in after["breakdown"]}
    late = purchase(client, shop, member, "a2", occurred_at=occurred_during).get_json()
    assert "merchant_campaign" in {line["rule"] for line in late["breakdown"]}
    again = owner.post(f"/merchant/campaigns/{campaign_id}/end", data={"csrf_token": token}, follow_redirects=True)
    assert "This campaign is already over." in again.get_data(as_text=True)
    assert "Double points week" not in client.get("/merchants/lvlin").get_data(as_text=True)


def test_only_the_merchants_owner_and_managers_can_touch_its_campaigns(app, client, shop):
    owner = signed_in_client(app, "owner@example.com")
    assert form(owner).status_code == 303
    with app.app_context():
        campaign_id = db.session.scalar(select(MerchantCampaign.id))
    rival = Shop(app, "rival")
    make_user(app, "rival@example.com", role="merchant", merchant_id=rival.id)
    other = signed_in_client(app, "rival@example.com")
    token = csrf_token(other, "/merchant/campaigns")
    refused = other.post(f"/merchant/campaigns/{campaign_id}/end", data={"csrf_token": token})
    assert refused.status_code == 404  # another merchant's campaign does not exist for it
    assert "Double points week" not in other.get("/merchant/campaigns").get_data(as_text=True)
    cashier_id = make_user(app, "cashier@example.com", role="merchant", merchant_id=shop.id)
    with app.app_context(), write(db.session):
        assert db.session.get(MerchantCampaign, campaign_id).status == "scheduled"
        db.session.get(User, cashier_id).merchant_role = "cashier"
    till = signed_in_client(app, "cashier@example.com")
    assert till.get("/merchant/campaigns").status_code == 404
    member_id = make_user(app, "m@example.com")
    with app.app_context():
        with pytest.raises(NotFound):
            merchant_campaigns.end(db.session, db.session.get(User, cashier_id), db.session.get(Merchant, shop.id),
                                   campaign_id)
        with pytest.raises(NotFound):
            merchant_campaigns.suspend(db.session, db.session.get(User, member_id), campaign_id, "because")
        db.session.rollback()


def test_an_operator_stops_a_campaign_with_a_reason_the_merchant_sees(app, client, shop, member):
    owner = signed_in_client(app, "owner@example.com")
    assert form(owner).status_code == 303
    with app.app_context():
        campaign_id = db.session.scalar(select(MerchantCampaign.id))
    make_user(app, "op@example.com", role="operator")
    operator = signed_in_client(app, "op@example.com")
    console = operator.get("/admin/merchant-campaigns")
    assert console.status_code == 200 and "Double points week" in console.get_data(as_text=True)
    token = csrf_token(operator, "/admin/merchant-campaigns")
    empty = operator.post("/admin/merchant-campaigns", data={"csrf_token": token, "campaign": campaign_id, "reason": ""},
                          follow_redirects=True)
    assert "Give the reason" in empty.get_data(as_text=True)
    stop = operator.post("/admin/merchant-campaigns", data={"csrf_token": token, "campaign": campaign_id,
                                                           "reason": "Misleading name"})
    assert stop.status_code == 303
    after = purchase(client, shop, member, "s1").get_json()
    assert "merchant_campaign" not in {line["rule"] for line in after["breakdown"]}
    page = owner.get("/merchant/campaigns").get_data(as_text=True)
    assert "Stopped by the programme" in page and "Misleading name" in page
    assert owner.get("/admin/merchant-campaigns").status_code == 404


def test_lower_limits_published_later_hold_a_running_campaign_to_them(app, client, shop, member):
    owner = signed_in_client(app, "owner@example.com")
    assert form(owner, multiplier="3").status_code == 303
    op_id = make_user(app, "op@example.com", role="operator")
    now = utcnow()
    with app.app_context(), write(db.session):
        doc = dict(rules.rule_set_at(db.session, now).document)
        doc["merchant_campaigns"] = {"max_multiplier": "1.5"}
        draft = rules.save_draft(db.session, db.session.get(User, op_id), doc, "lower limits")
        rules.publish(db.session, db.session.get(User, op_id), draft.id, now + timedelta(minutes=1), now=now)
    before = purchase(client, shop, member, "l1", total=10000).get_json()
    after = purchase(client, shop, member, "l2", total=10000,
                     occurred_at=(now + timedelta(minutes=2)).isoformat()).get_json()
    line = lambda body: next(x["points"] for x in body["breakdown"] if x["rule"] == "merchant_campaign")
    earning = sum(x["points"] for x in before["breakdown"] if x["rule"] in ("base", "green"))
    assert line(before) == 2 * earning and line(after) == earning // 2  # ×3 as set up, then held to ×1.5


def test_a_campaign_cannot_be_set_up_by_a_merchant_not_approved_or_when_the_rules_forbid_it(app, shop):
    with app.app_context(), write(db.session):
        owner = db.session.scalar(select(User).where(User.email == "owner@example.com"))
        merchant = db.session.get(Merchant, shop.id)
        merchant.status = "suspended"
        now = utcnow()
        with pytest.raises(DomainError, match="not approved"):
            merchant_campaigns.create(db.session, owner, merchant, kind="bonus", name_zh="奖", name_en="Bonus",
                                      points=10, starts_at=now, ends_at=now + timedelta(days=1), now=now)
        merchant.status = "approved"
        row = merchant_campaigns.create(db.session, owner, merchant, kind="bonus", name_zh="奖", name_en="Bonus",
                                        points=10, starts_at=now + timedelta(hours=1), ends_at=now + timedelta(days=1),
                                        now=now)
        assert merchant_campaigns.end(db.session, owner, merchant, row.id, now=now).status == "withdrawn"
        with pytest.raises(Conflict):
            merchant_campaigns.end(db.session, owner, merchant, row.id, now=now)
        assert rules.merchant_campaigns_at(db.session, merchant.id, now + timedelta(hours=2)) == ()

"""Earning channels: an operator registers a bank card programme or a transit operator and gives it a
key; its system posts events to POST /api/v1/channel-events; the rules award them with a breakdown;
members link a card or transit account and unlink it; nobody else can post or unlink."""
import re

import pytest
from sqlalchemy import func, select

from mall.account.models import User
from mall.db import write
from mall.extensions import db
from mall.rules import channels
from mall.rules.models import ChannelLink, ChannelEvent, EarningChannel
from tests.builders import Auth, Shop, balance_of, csrf_token, make_user, signed_in_client


def register(app, operator, **fields):
    data = {"kind": "transit", "name_zh": "申城地铁", "name_en": "Shencheng Metro", "points_per_unit": "5",
            "rule_zh": "每次出行按票价获得积分，另加 5 积分。", "rule_en": "Fare points, plus 5 points a ride.",
            "csrf_token": csrf_token(operator, "/admin/channels"), **fields}
    answer = operator.post("/admin/channels", data=data)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    key = re.search(r'id="channel-key">([^<]+)<', answer.get_data(as_text=True))
    assert key, "the key is shown once"
    return {"Authorization": f"Bearer {key.group(1)}"}


@pytest.fixture
def operator(app):
    make_user(app, "op@example.com", role="operator")
    return signed_in_client(app, "op@example.com")


@pytest.fixture
def rider(app):
    user_id = make_user(app, "rider@example.com", name="Rider")
    with app.app_context():
        return user_id, db.session.get(User, user_id).member_code


def post(client, headers, body, key="k1"):
    return client.post("/api/v1/channel-events", json=body, headers={**headers, "Idempotency-Key": key})


def test_a_metro_ride_earns_fare_points_plus_points_per_ride_with_the_breakdown(app, client, operator, rider):
    metro = register(app, operator)
    user_id, code = rider
    answer = post(client, metro, {"reference": "ride-001", "member_code": code, "amount_fen": 500, "quantity": 2})
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    lines = {line["rule"]: line for line in body["purchase"]["breakdown"]}
    assert lines["channel"]["points"] == 10 and lines["channel"]["unit"] == "ride" and lines["channel"]["quantity"] == 2
    assert "green" in lines  # public transport is a green category of the published rules
    assert body["purchase"]["points"] == sum(line["points"] for line in body["purchase"]["breakdown"])
    assert balance_of(app, code) == body["purchase"]["points"] > 10
    replay = post(client, metro, {"reference": "ride-001", "member_code": code, "amount_fen": 500, "quantity": 2})
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    again = post(client, metro, {"reference": "ride-001", "member_code": code, "amount_fen": 500}, key="k2")
    assert again.status_code == 409 and again.get_json()["type"].endswith("duplicate-reference")
    assert balance_of(app, code) == body["purchase"]["points"]
    page = client.get("/rules").get_data(as_text=True)
    assert "Shencheng Metro" in page and "5 points per ride" in page and "Fare points, plus 5 points a ride." in page


def test_a_member_links_a_card_and_the_bank_names_it_instead_of_the_member_code(app, client, operator, rider):
    bank = register(app, operator, kind="bank_card", name_zh="绿舟银行", name_en="Lvzhou Bank", points_per_unit="0")
    user_id, code = rider
    Auth(client).login("rider@example.com")
    with app.app_context():
        channel_id = db.session.scalar(select(EarningChannel.id))
    page = client.get("/account/channels")
    assert page.status_code == 200 and "Lvzhou Bank" in page.get_data(as_text=True)
    token = csrf_token(client, "/account/channels")
    bad = client.post("/account/channels", data={"csrf_token": token, "channel": channel_id, "number": "12"})
    assert bad.status_code == 303  # refused with a message, nothing linked
    assert "8 to 24 letters and digits" in client.get("/account/channels").get_data(as_text=True)
    linked = client.post("/account/channels", data={"csrf_token": token, "channel": channel_id,
                                                    "number": "6222 0210 0112 3456"}, follow_redirects=True)
    assert "6222 **** 3456" in linked.get_data(as_text=True)
    with app.app_context():
        row = db.session.scalar(select(ChannelLink))
        assert row.masked == "6222 **** 3456" and "0112" not in row.token_hash and len(row.token_hash) == 64
    answer = post(client, bank, {"reference": "txn-9", "account": "6222021001123456", "amount_fen": 399900,
                                 "category": "appliances", "green": True})
    assert answer.status_code == 201 and answer.get_json()["purchase"]["member_code"] == code
    assert "channel" not in {line["rule"] for line in answer.get_json()["purchase"]["breakdown"]}
    unknown = post(client, bank, {"reference": "txn-10", "account": "6222021009999999", "amount_fen": 100,
                                  "category": "grocery"}, key="k3")
    assert unknown.status_code == 404 and unknown.get_json()["type"].endswith("unknown-account")
    # another member cannot link the same card, nor unlink this one
    make_user(app, "other@example.com")
    other = signed_in_client(app, "other@example.com")
    other_token = csrf_token(other, "/account/channels")
    other.post("/account/channels", data={"csrf_token": other_token, "channel": channel_id,
                                          "number": "6222021001123456"})
    assert "already linked to another membership" in other.get("/account/channels").get_data(as_text=True)
    assert other.post(f"/account/channels/{row.id}/unlink", data={"csrf_token": other_token}).status_code == 404
    with app.app_context():
        assert db.session.scalar(select(func.count(ChannelLink.id))) == 1
    assert client.post(f"/account/channels/{row.id}/unlink", data={"csrf_token": token}).status_code == 303
    with app.app_context():
        assert db.session.scalar(select(func.count(ChannelLink.id))) == 0
    gone = post(client, bank, {"reference": "txn-11", "account": "6222021001123456", "amount_fen": 100,
                               "category": "grocery"}, key="k4")
    assert gone.status_code == 404


def test_only_a_channels_key_may_post_and_bad_events_are_refused_clearly(app, client, operator, rider):
    metro = register(app, operator)
    _, code = rider
    shop = Shop(app, "lvlin")
    refused = post(client, shop.headers, {"reference": "x", "member_code": code, "amount_fen": 100})
    assert refused.status_code == 403 and refused.get_json()["type"].endswith("not-a-channel")
    assert post(client, {}, {"reference": "x"}).status_code == 401
    for n, (body, field) in enumerate((({"member_code": code, "amount_fen": 100}, "reference"),
                        ({"reference": "r", "member_code": code, "amount_fen": 0}, "amount_fen"),
                        ({"reference": "r", "member_code": code, "amount_fen": True}, "amount_fen"),
                        ({"reference": "r", "amount_fen": 100}, "member_code"),
                        ({"reference": "r", "member_code": code, "account": "1234567890", "amount_fen": 100},
                         "member_code"),
                        ({"reference": "r", "member_code": code, "amount_fen": 100, "quantity": 0}, "quantity"),
                        ({"reference": "r", "member_code": code, "amount_fen": 100, "occurred_at": "yesterday"},
                         "occurred_at"))):
        answer = post(client, metro, body, key=f"bad-{n}")
        assert answer.status_code == 422, (body, answer.get_json())
        assert answer.get_json()["type"].endswith("invalid-event")
        assert field in {e["field"] for e in answer.get_json()["errors"]}, answer.get_json()
    with app.app_context():
        assert db.session.scalar(select(func.count(ChannelEvent.id))) == 0
    assert balance_of(app, code) == 0


def test_only_operators_register_channels(app, operator):
    member_id = make_user(app, "m@example.com")
    member = signed_in_client(app, "m@example.com")
    assert member.get("/admin/channels").status_code == 404
    answer = operator.post("/admin/channels", data={"kind": "bank_card", "name_zh": "银行", "name_en": "Bank",
                                                    "points_per_unit": "3",
                                                    "csrf_token": csrf_token(operator, "/admin/channels")})
    assert answer.status_code == 303  # a card programme has no points per unit: refused, nothing made
    with app.app_context():
        assert db.session.scalar(select(func.count(EarningChannel.id))) == 0
        with pytest.raises(Exception):
            with write(db.session):
                channels.create_channel(db.session, db.session.get(User, member_id), kind="transit", name_zh="x",
                                        name_en="x", points_per_unit=1, rule_zh="", rule_en="")

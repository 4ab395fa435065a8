"""POST /api/v1/purchases, quotes and refunds: keys, idempotency, strict types, problem details."""
import json

import pytest
from sqlalchemy import func, select

from mall.extensions import db
from mall.ledger import service as ledger
from mall.rules.models import Purchase
from tests.builders import balance_of, make_merchant, purchase_body, race


def post(client, shop, path, body, key="k-1", **headers):
    return client.post(path, data=json.dumps(body), content_type="application/json",
                       headers={**shop.headers, "Idempotency-Key": key, **headers})


def purchases(app):
    with app.app_context():
        return db.session.scalar(select(func.count(Purchase.id)))


def test_purchase_awards_points_with_breakdown(client, app, shop, member_code):
    response = post(client, shop, "/api/v1/purchases", purchase_body(member_code))
    assert response.status_code == 201
    body = response.get_json()
    assert body["points"] == 192
    assert body["breakdown"] == [{"rule": "base", "points": 128}, {"rule": "green", "points": 64}]
    assert body["rule_set_version"] == 1
    assert balance_of(app, member_code) == 192
    with app.app_context():
        assert ledger.verify(db.session).ok


def test_quote_awards_nothing(client, app, shop, member_code):
    response = client.post("/api/v1/purchases/quote", json=purchase_body(member_code), headers=shop.headers)
    assert response.status_code == 200
    assert response.get_json()["points"] == 192
    assert balance_of(app, member_code) == 0
    assert purchases(app) == 0


def test_replay_returns_the_same_bytes_and_moves_nothing(client, app, shop, member_code):
    first = post(client, shop, "/api/v1/purchases", purchase_body(member_code))
    again = post(client, shop, "/api/v1/purchases", purchase_body(member_code))
    assert again.status_code == first.status_code == 201
    assert again.data == first.data
    assert again.headers["Idempotent-Replayed"] == "true"
    assert purchases(app) == 1
    assert balance_of(app, member_code) == 192


def test_same_key_other_body_is_422(client, app, shop, member_code):
    post(client, shop, "/api/v1/purchases", purchase_body(member_code))
    other = post(client, shop, "/api/v1/purchases", purchase_body(member_code, total=5000))
    assert other.status_code == 422
    assert other.content_type == "application/problem+json"
    assert other.get_json()["type"] == "/api/v1/problems/idempotency-key-reused"
    assert purchases(app) == 1


def test_keys_are_scoped_to_the_merchant(client, app, shop, other_shop, member_code):
    a = post(client, shop, "/api/v1/purchases", purchase_body(member_code), key="same")
    b = post(client, other_shop, "/api/v1/purchases", purchase_body(member_code), key="same")
    assert a.status_code == b.status_code == 201
    assert a.get_json()["id"] != b.get_json()["id"]
    assert purchases(app) == 2


def test_duplicate_in_flight_is_409(client, app, shop, member_code):
    from mall import idempotency
    from mall.db import write

    body = json.dumps(purchase_body(member_code)).encode()
    with app.app_context(), write(db.session):  # a first request has claimed the key and not finished
        idempotency.claim(db.session, shop.id, "create-purchase /api/v1/purchases", "busy", body)
    response = client.post("/api/v1/purchases", data=body, content_type="application/json",
                           headers={**shop.headers, "Idempotency-Key": "busy"})
    assert response.status_code == 409
    assert response.get_json()["type"] == "/api/v1/problems/request-in-flight"
    assert purchases(app) == 0


def test_server_error_is_not_stored_so_a_retry_succeeds(client, app, shop, member_code, monkeypatch):
    from mall.rules import service as rules

    real = rules.award_purchase
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(rules, "award_purchase", flaky)
    first = post(client, shop, "/api/v1/purchases", purchase_body(member_code))
    assert first.status_code == 500
    assert first.content_type == "application/problem+json"
    assert purchases(app) == 0
    retry = post(client, shop, "/api/v1/purchases", purchase_body(member_code))
    assert retry.status_code == 201
    assert purchases(app) == 1


def test_missing_idempotency_key_is_400(client, shop, member_code):
    response = client.post("/api/v1/purchases", json=purchase_body(member_code), headers=shop.headers)
    assert response.status_code == 400
    assert response.get_json()["type"] == "/api/v1/problems/idempotency-key-required"


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic abc"},
    {"Authorization": "Bearer gpm_000000000000_wrongsecret"},
])
def test_wrong_or_absent_key_is_401(client, headers, member_code, shop):
    response = client.post("/api/v1/purchases/quote", json=purchase_body(member_code), headers=headers)
    assert response.status_code == 401
    assert response.content_type == "application/problem+json"
    assert "Bearer" in response.headers["WWW-Authenticate"]


def test_revoked_key_is_401(client, app, shop, member_code):
    from mall.api import service as api_service
    from mall.api.models import ApiKey
    from mall.db import write
    from mall.coalition.models import Merchant

    with app.app_context(), write(db.session):
        key = db.session.scalar(select(ApiKey).where(ApiKey.merchant_id == shop.id))
        api_service.revoke_key(db.session, db.session.get(Merchant, shop.id), key.id)
    response = client.post("/api/v1/purchases/quote", json=purchase_body(member_code), headers=shop.headers)
    assert response.status_code == 401


def test_keys_are_stored_hashed(app, shop):
    from mall.api.models import ApiKey

    with app.app_context():
        stored = db.session.scalar(select(ApiKey))
        assert shop.key.split("_")[-1] not in (stored.secret_hash, stored.prefix)
        assert len(stored.secret_hash) == 64


@pytest.mark.parametrize("field, value", [
    ("total_fen", True), ("total_fen", 1.5), ("total_fen", "100"), ("total_fen", 10**30),
    ("total_fen", -5), ("total_fen", 0), ("total_fen", None), ("member_code", 12345678),
])
def test_wrongly_typed_values_are_422_with_the_field(client, app, shop, member_code, field, value):
    body = purchase_body(member_code)
    body[field] = value
    response = post(client, shop, "/api/v1/purchases", body)
    assert response.status_code == 422
    problem = response.get_json()
    assert problem["status"] == 422
    assert any(e["field"] == field for e in problem["errors"])
    assert purchases(app) == 0


@pytest.mark.parametrize("raw", [b"{nope", b'{"total_fen": NaN}', b'{"total_fen": Infinity}', b"", b"[1, 2"])
def test_malformed_json_is_400_or_422(client, shop, raw):
    response = client.post("/api/v1/purchases", data=raw, content_type="application/json",
                           headers={**shop.headers, "Idempotency-Key": "m"})
    assert response.status_code in (400, 422)
    assert response.content_type == "application/problem+json"


def test_item_types_are_strict(client, app, shop, member_code):
    body = purchase_body(member_code)
    body["items"][0]["green"] = "yes"
    body["items"][0]["quantity"] = True
    response = post(client, shop, "/api/v1/purchases", body)
    fields = {e["field"] for e in response.get_json()["errors"]}
    assert response.status_code == 422
    assert fields == {"items[0].green", "items[0].quantity"}


def test_items_must_add_up(client, shop, member_code):
    response = post(client, shop, "/api/v1/purchases", purchase_body(member_code) | {"total_fen": 99999})
    assert response.status_code == 422


def test_unknown_member_is_404(client, shop):
    response = post(client, shop, "/api/v1/purchases", purchase_body("ZZZZZZZZ"))
    assert response.status_code == 404
    assert response.get_json()["type"] == "/api/v1/problems/unknown-member"


def test_refund_claws_back_in_proportion(client, app, shop, member_code):
    created = post(client, shop, "/api/v1/purchases", purchase_body(member_code)).get_json()
    half = post(client, shop, f"/api/v1/purchases/{created['id']}/refunds", {"amount_fen": 6400}, key="r1")
    assert half.status_code == 201
    assert half.get_json()["points_clawed_back"] == 96
    assert balance_of(app, member_code) == 96
    rest = post(client, shop, f"/api/v1/purchases/{created['id']}/refunds", {"amount_fen": 6400}, key="r2")
    assert rest.get_json()["points_clawed_back"] == 96
    assert balance_of(app, member_code) == 0
    again = post(client, shop, f"/api/v1/purchases/{created['id']}/refunds", {"amount_fen": 6400}, key="r2")
    assert again.data == rest.data  # replay
    with app.app_context():
        assert ledger.verify(db.session).ok


def test_refund_larger_than_purchase_is_refused(client, app, shop, member_code):
    created = post(client, shop, "/api/v1/purchases", purchase_body(member_code)).get_json()
    response = post(client, shop, f"/api/v1/purchases/{created['id']}/refunds", {"amount_fen": 12801}, key="r")
    assert response.status_code == 409
    assert response.get_json()["type"] == "/api/v1/problems/refund-too-large"
    assert balance_of(app, member_code) == 192


def test_refund_shortfall_is_netted_against_future_earnings(client, app, shop, member_code):
    created = post(client, shop, "/api/v1/purchases", purchase_body(member_code)).get_json()
    # the member spends most of the points first
    from mall.account.models import User
    from mall.db import write

    with app.app_context(), write(db.session):
        user = db.session.scalar(select(User).where(User.member_code == member_code))
        ledger.transfer(db.session, ledger.member_account(db.session, user.id),
                        ledger.system_account(db.session, "redemption"), 150, "redeem", key="spend")
    refund = post(client, shop, f"/api/v1/purchases/{created['id']}/refunds", {"amount_fen": 12800}, key="r")
    assert refund.get_json()["points_clawed_back"] == 42
    assert refund.get_json()["shortfall"] == 150
    assert balance_of(app, member_code) == 0  # never below zero
    later = post(client, shop, "/api/v1/purchases", purchase_body(member_code, total=20000, green=False), key="p2")
    assert later.get_json()["points"] == 300  # appliances are a green category (×1.5)
    assert balance_of(app, member_code) == 150  # 300 earned, 150 settled
    with app.app_context():
        assert ledger.verify(db.session).ok


def test_merchant_cannot_see_or_refund_another_merchants_purchase(client, app, shop, other_shop, member_code):
    created = post(client, shop, "/api/v1/purchases", purchase_body(member_code)).get_json()
    assert client.get(f"/api/v1/purchases/{created['id']}", headers=other_shop.headers).status_code == 404
    response = post(client, other_shop, f"/api/v1/purchases/{created['id']}/refunds", {"amount_fen": 100}, key="x")
    assert response.status_code == 404
    assert balance_of(app, member_code) == 192


def test_pending_merchant_cannot_issue(client, app, member_code):
    from mall.api import service as api_service
    from mall.db import write
    from mall.coalition.models import Merchant

    merchant_id = make_merchant(app, "pending-shop", status="pending")
    with app.app_context(), write(db.session):
        _, key = api_service.create_key(db.session, db.session.get(Merchant, merchant_id))
    response = client.post("/api/v1/purchases/quote", json=purchase_body(member_code),
                           headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 403


def test_concurrent_replays_create_one_purchase(app, shop, member_code):
    body = json.dumps(purchase_body(member_code)).encode()
    statuses = []

    def send():
        with app.test_client() as c:
            r = c.post("/api/v1/purchases", data=body, content_type="application/json",
                       headers={**shop.headers, "Idempotency-Key": "race"})
            statuses.append(r.status_code)

    race(lambda _: send(), range(8))
    assert purchases(app) == 1
    assert set(statuses) <= {201, 409}
    assert 201 in statuses
    assert balance_of(app, member_code) == 192


def test_unknown_api_path_is_problem_json(client, shop):
    response = client.get("/api/v1/nothing-here", headers=shop.headers)
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"

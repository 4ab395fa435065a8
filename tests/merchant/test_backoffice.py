"""Merchant back office: record a purchase with a live quote, API keys, and who may enter."""
import re

import pytest
from sqlalchemy import func, select

from mall.account.models import User
from mall.api.models import ApiKey
from mall.extensions import db
from mall.ledger import service as ledger
from mall.rules.models import Purchase
from tests.builders import Auth, csrf_token, make_merchant, make_user


@pytest.fixture
def staff(merchant_staff):
    return merchant_staff


@pytest.fixture
def buyer(app):
    user_id = make_user(app, "buyer@example.com")
    with app.app_context():
        return db.session.get(User, user_id)


def purchase_form(client, code, amount="128", green=True, token=None):
    page = client.get("/merchant/purchases/new").get_data(as_text=True)
    token = token or re.search(r'name="token" type="hidden" value="([^"]+)"', page).group(1)
    data = {"csrf_token": csrf_token(client, "/merchant/purchases/new"), "member_code": code, "token": token,
            "items-0-name": "空调", "items-0-category": "appliances", "items-0-amount": amount}
    if green:
        data["items-0-green"] = "y"
    return data


def test_quote_fragment_updates_as_staff_type(client, staff, buyer):
    data = purchase_form(client, buyer.member_code)
    response = client.post("/merchant/purchases/quote", data=data, headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in html
    assert "192" in html and buyer.masked_code in html


def test_quote_for_unknown_member_says_so(client, staff):
    data = purchase_form(client, "ZZZZZZZZ")
    html = client.post("/merchant/purchases/quote", data=data, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "No member has this code." in html


def test_record_purchase_awards_points_once_even_if_submitted_twice(client, app, staff, buyer):
    data = purchase_form(client, buyer.member_code)
    first = client.post("/merchant/purchases/new", data=data)
    second = client.post("/merchant/purchases/new", data=data)  # double click / replayed form
    assert first.status_code == second.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(func.count(Purchase.id))) == 1
        assert ledger.member_balance(db.session, buyer.id) == 192
        assert ledger.verify(db.session).ok
    dashboard = client.get("/merchant/").get_data(as_text=True)
    assert "192" in dashboard


def test_record_purchase_rejects_bad_amounts_on_the_form(client, app, staff, buyer):
    response = client.post("/merchant/purchases/new", data=purchase_form(client, buyer.member_code, amount="12.345"),
                           headers={"Accept-Language": "en"})
    assert response.status_code == 422
    assert "Enter an amount in yuan" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(Purchase.id))) == 0


def test_extra_fields_cannot_change_the_merchant_or_points(client, app, staff, buyer):
    other = make_merchant(app, "other")
    data = purchase_form(client, buyer.member_code) | {"merchant_id": str(other), "points": "99999"}
    client.post("/merchant/purchases/new", data=data)
    with app.app_context():
        row = db.session.scalar(select(Purchase))
        assert row.merchant_id == staff
        assert row.points == 192


def test_api_key_shown_once_and_revocable(client, app, staff):
    page = client.post("/merchant/api-keys", data={"name": "POS 1", "csrf_token": csrf_token(client, "/merchant/api-keys")})
    key = re.search(r'<code class="secret">([^<]+)</code>', page.get_data(as_text=True)).group(1)
    assert key.startswith("gpm_")
    listing = client.get("/merchant/api-keys").get_data(as_text=True)
    assert key not in listing  # never shown again
    quote = {"member_code": "X", "total_fen": 100}
    assert client.post("/api/v1/purchases/quote", json=quote, headers={"Authorization": f"Bearer {key}"}).status_code == 404
    with app.app_context():
        key_id = db.session.scalar(select(ApiKey.id))
    client.post(f"/merchant/api-keys/{key_id}/revoke", data={"csrf_token": csrf_token(client, "/merchant/api-keys")})
    assert client.post("/api/v1/purchases/quote", json=quote, headers={"Authorization": f"Bearer {key}"}).status_code == 401


def test_staff_cannot_revoke_another_merchants_key(client, app, staff):
    from mall.api import service as api_service
    from mall.db import write
    from mall.coalition.models import Merchant

    other = make_merchant(app, "other")
    with app.app_context(), write(db.session):
        key, _ = api_service.create_key(db.session, db.session.get(Merchant, other))
        key_id = key.id
    response = client.post(f"/merchant/api-keys/{key_id}/revoke",
                           data={"csrf_token": csrf_token(client, "/merchant/api-keys")})
    assert response.status_code == 404
    with app.app_context():
        assert db.session.get(ApiKey, key_id).revoked_at is None


@pytest.mark.parametrize("role", ["member", "operator"])
def test_back_office_is_404_for_everyone_else(client, app, role):
    make_user(app, "x@example.com", role=role)
    Auth(client).login("x@example.com")
    for url in ("/merchant/", "/merchant/purchases/new", "/merchant/api-keys"):
        assert client.get(url).status_code == 404


def test_api_key_cli_prints_a_working_key(runner, app, client):
    make_merchant(app, "cli-shop")
    result = runner.invoke(args=["api-key", "create", "--merchant", "cli-shop"])
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[0]
    response = client.post("/api/v1/purchases/quote", json={"member_code": "NOPE", "total_fen": 100},
                           headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 404  # authenticated; the member is unknown
    assert runner.invoke(args=["api-key", "create", "--merchant", "nope"]).exit_code != 0

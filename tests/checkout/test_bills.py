"""Paying part of a till bill with points: value per point, cap, approval, one-time code."""
import json

import pytest

from mall.account.models import User
from mall.api import service as api_service
from mall.db import write
from mall.extensions import db
from mall.coalition.models import Merchant
from tests.builders import Auth, csrf_token


@pytest.fixture
def key(app, world):
    with app.app_context(), write(db.session):
        return {"Authorization": f"Bearer {api_service.create_key(db.session, db.session.get(Merchant, world.merchant_id))[1]}"}


def code_of(app, user_id):
    with app.app_context():
        return db.session.get(User, user_id).member_code


def post(client, key, path, body, idem):
    return client.post(path, data=json.dumps(body), content_type="application/json",
                       headers={**key, "Idempotency-Key": idem})


def test_member_approves_in_the_mall(app, client, world, key):
    member = world.member("bill@example.com", points=20000)
    created = post(client, key, "/api/v1/bill-payments", {"member_code": code_of(app, member), "bill_fen": 25000}, "b1")
    assert created.status_code == 201
    bill = created.get_json()
    assert bill["points_requested"] == 12500  # at most 50% of ¥250, 100 points per yuan
    Auth(client).login("bill@example.com")
    page = client.get("/bills").get_data(as_text=True)
    assert "12,500" in page
    client.post(f"/bills/{bill['id']}/approve", data={"csrf_token": csrf_token(client, "/bills")})
    status = client.get(f"/api/v1/bill-payments/{bill['id']}", headers=key).get_json()
    assert (status["status"], status["points_used"], status["cash_due_fen"]) == ("approved", 12500, 12500)
    assert world.balance(member) == 7500
    world.verify()


def test_over_the_cap_is_refused(app, client, world, key):
    member = world.member(points=20000)
    response = post(client, key, "/api/v1/bill-payments",
                    {"member_code": code_of(app, member), "bill_fen": 10000, "points_fen": 6000}, "b2")
    assert response.status_code == 422
    assert response.get_json()["type"] == "/api/v1/problems/over-cap"


def test_short_balance_pays_what_it_can(app, client, world, key):
    member = world.member(points=3000)
    bill = post(client, key, "/api/v1/bill-payments", {"member_code": code_of(app, member), "bill_fen": 20000}, "b3").get_json()
    with app.app_context():
        code = db.session.get(__import__("mall.checkout.models", fromlist=["BillPayment"]).BillPayment, bill["id"]).one_time_code
    wrong = post(client, key, f"/api/v1/bill-payments/{bill['id']}/confirm", {"code": "000000" if code != "000000" else "111111"}, "c0")
    assert wrong.status_code == 422
    done = post(client, key, f"/api/v1/bill-payments/{bill['id']}/confirm", {"code": code}, "c1").get_json()
    assert (done["points_used"], done["cash_due_fen"]) == (3000, 17000)
    again = post(client, key, f"/api/v1/bill-payments/{bill['id']}/confirm", {"code": code}, "c2")
    assert again.status_code == 409
    assert world.balance(member) == 0
    world.verify()


def test_another_member_cannot_approve(app, client, world, key):
    owner = world.member("owner@example.com", points=5000)
    bill = post(client, key, "/api/v1/bill-payments", {"member_code": code_of(app, owner), "bill_fen": 1000}, "b4").get_json()
    world.member("other@example.com", points=5000)
    Auth(client).login("other@example.com")
    response = client.post(f"/bills/{bill['id']}/approve", data={"csrf_token": csrf_token(client, "/bills")})
    assert response.status_code == 404
    assert world.balance(owner) == 5000

"""The refund matrix: full, partial, repeated, over-refund, partial then cancel, cancel then fulfil."""
import json

import pytest
from sqlalchemy import select

from mall.api import service as api_service
from mall.checkout import merchant_side, service
from mall.checkout.models import Order, OrderLine
from mall.checkout.payments import gateway
from mall.db import write
from mall.errors import DomainError
from mall.extensions import db
from mall.ledger.models import Lot
from mall.coalition.models import Merchant
from tests.builders import Auth, checkout_as, csrf_token, make_merchant, make_user, stock

LR = service.LineRequest

def _order(app, order_id):
    with app.app_context():
        order = db.session.get(Order, order_id)
        return order, [line.id for line in order.lines]

def refund(app, order_id, quantities, key):
    with app.app_context(), write(db.session):
        return merchant_side.refund_lines(db.session, db.session.get(Order, order_id), quantities, key)

@pytest.fixture
def coupon(world):
    return world.listing(points_price=200, kind="coupon", category="grocery", coupon_valid_days=30, stock=10)

def test_partial_refund_returns_points_stock_and_vouchers_in_proportion(app, world, coupon):
    member = world.member(points=1000)
    [order_id], _ = checkout_as(app, member, [LR(coupon, quantity=3)])
    _, [line_id] = _order(app, order_id)
    assert refund(app, order_id, {line_id: 1}, "r1") == 200
    assert world.balance(member) == 1000 - 600 + 200
    with app.app_context():
        line = db.session.get(OrderLine, line_id)
        assert line.refunded_quantity == 1
        assert sorted(v.status for v in line.vouchers) == ["active", "active", "cancelled"]
        assert db.session.get(Order, order_id).status == "placed"
    assert stock(app, coupon) == 8
    world.verify()

def test_refunding_twice_with_the_same_key_is_a_no_op(app, world, coupon):
    member = world.member(points=1000)
    [order_id], _ = checkout_as(app, member, [LR(coupon, quantity=2)])
    _, [line_id] = _order(app, order_id)
    refund(app, order_id, {line_id: 1}, "same")
    assert refund(app, order_id, {line_id: 1}, "same") == 0
    assert world.balance(member) == 800
    world.verify()

def test_refund_beyond_what_was_redeemed_is_refused(app, world, coupon):
    member = world.member(points=1000)
    [order_id], _ = checkout_as(app, member, [LR(coupon, quantity=2)])
    _, [line_id] = _order(app, order_id)
    refund(app, order_id, {line_id: 2}, "all")
    with app.app_context():
        assert db.session.get(Order, order_id).status == "cancelled"  # nothing left
    with pytest.raises(DomainError):
        refund(app, order_id, {line_id: 1}, "more")
    assert world.balance(member) == 1000
    world.verify()

def test_partial_then_merchant_cancel_gives_back_the_rest_with_compensation_on_it(app, world, coupon):
    member = world.member(points=1000)
    [order_id], _ = checkout_as(app, member, [LR(coupon, quantity=3)])
    _, [line_id] = _order(app, order_id)
    refund(app, order_id, {line_id: 1}, "r1")
    with app.app_context(), write(db.session):
        service.cancel(db.session, db.session.get(Order, order_id), "merchant", "sold out after all")
    with app.app_context():
        order = db.session.get(Order, order_id)
        assert order.compensation == 40  # 10% of the 400 points still held
    assert world.balance(member) == 1000 + 40
    with pytest.raises(DomainError), app.app_context(), write(db.session):  # cancel, then complete again
        merchant_side.fulfil(db.session, db.session.get(Merchant, world.merchant_id), order_id)
    world.verify()

def test_points_go_back_to_the_lots_they_came_from_last_drawn_first(app, world, coupon):
    member = world.member(points=0)
    world.earn(member, 300, key="first")  # expires first, drawn first
    world.earn(member, 300, key="second")
    [order_id], _ = checkout_as(app, member, [LR(coupon, quantity=3)])
    _, [line_id] = _order(app, order_id)
    refund(app, order_id, {line_id: 1}, "r1")
    with app.app_context():
        back = db.session.scalars(select(Lot).where(Lot.origin_lot_id.is_not(None))).all()
        assert [l.amount for l in back] == [200]
        origin = db.session.get(Lot, back[0].origin_lot_id)
        assert back[0].expires_at == origin.expires_at
    world.verify()

def test_partial_refund_of_points_plus_cash_refunds_cash_in_proportion(app, world):
    member = world.member(points=5000)
    item = world.listing(points_price=None, mix_points=1000, cash_fen=500, kind="coupon", category="grocery",
                         coupon_valid_days=30, stock=None)
    [order_id], _ = checkout_as(app, member, [LR(item, option="mix", quantity=2)])
    _, [line_id] = _order(app, order_id)
    refund(app, order_id, {line_id: 1}, "r1")
    with app.app_context():
        order = db.session.get(Order, order_id)
        from mall.checkout.models import Payment

        ref = db.session.get(Payment, order.payment_id).gateway_ref
        auth = gateway().payment(ref)
    assert (auth["status"], auth["refunded_fen"]) == ("partly_refunded", 500)
    assert world.balance(member) == 4000

def test_refunds_over_the_api_are_idempotent_and_scoped(app, client, world, coupon):
    member = world.member(points=1000)
    [order_id], _ = checkout_as(app, member, [LR(coupon, quantity=3)])
    _, [line_id] = _order(app, order_id)
    with app.app_context(), write(db.session):
        _, key = api_service.create_key(db.session, db.session.get(Merchant, world.merchant_id))
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "refund-1"}
    body = json.dumps({"lines": [{"line_id": line_id, "quantity": 1}]})
    first = client.post(f"/api/v1/orders/{order_id}/refunds", data=body, content_type="application/json", headers=headers)
    again = client.post(f"/api/v1/orders/{order_id}/refunds", data=body, content_type="application/json", headers=headers)
    assert first.status_code == 200 and first.get_json()["points_refunded"] == 200
    assert again.data == first.data
    assert world.balance(member) == 600
    bad = client.post(f"/api/v1/orders/{order_id}/refunds", data=json.dumps({"lines": [{"line_id": line_id, "quantity": True}]}),
                      content_type="application/json", headers={**headers, "Idempotency-Key": "bad"})
    assert bad.status_code == 422

def test_back_office_refunds_one_unit_once_and_only_its_own_orders(app, client, world, coupon):
    member = world.member(points=1000)
    [order_id], _ = checkout_as(app, member, [LR(coupon, quantity=2)])
    _, [line_id] = _order(app, order_id)
    make_user(app, "staff@example.com", role="merchant", merchant_id=world.merchant_id)
    Auth(client).login("staff@example.com")
    data = {"csrf_token": csrf_token(client, "/merchant/orders"), "token": "page-1"}
    assert client.post(f"/merchant/orders/{order_id}/lines/{line_id}/refund", data=data).status_code == 303
    client.post(f"/merchant/orders/{order_id}/lines/{line_id}/refund", data=data)  # double click
    assert world.balance(member) == 800
    other = make_merchant(app, "other-shop")
    make_user(app, "other@example.com", role="merchant", merchant_id=other)

    stranger = app.test_client()
    Auth(stranger).login("other@example.com")
    response = stranger.post(f"/merchant/orders/{order_id}/lines/{line_id}/refund",
                             data={"csrf_token": csrf_token(stranger, "/merchant/orders"), "token": "x"})
    assert response.status_code == 404
    assert world.balance(member) == 800

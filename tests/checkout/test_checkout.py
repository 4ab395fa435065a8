"""Redemption: one transaction for stock, limits, early access and points; payments; cancellations."""
import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from mall.catalog.models import ServiceSlot
from mall.checkout import merchant_side, service
from mall.checkout.models import Order, Payment, Voucher
from mall.checkout.payments import PaymentDeclined, PaymentTimeout
from mall.db import write
from mall.errors import DomainError, NotFound
from mall.extensions import db
from mall.ledger.models import Lot
from mall.coalition.models import Merchant
from tests.builders import Auth, checkout_as, csrf_token, make_merchant, race, stock

LR = service.LineRequest


def orders(app):
    with app.app_context():
        return db.session.scalar(select(func.count(Order.id)))


def test_redeem_with_points(app, world):
    member = world.member(points=5000)
    item = world.listing(points_price=2800, stock=10)
    [order_id], replayed = checkout_as(app, member, [LR(item, quantity=1)])
    assert not replayed
    assert world.balance(member) == 2200
    assert stock(app, item) == 9
    world.verify()


def test_points_plus_cash_approved_captures_the_payment(app, world):
    member = world.member(points=5000)
    item = world.listing(points_price=None, mix_points=1000, cash_fen=990)
    [order_id], _ = checkout_as(app, member, [LR(item, option="mix")])
    assert world.balance(member) == 4000
    with app.app_context():
        order = db.session.get(Order, order_id)
        assert order.cash_fen == 990
        assert db.session.get(Payment, order.payment_id).status == "captured"


@pytest.mark.parametrize("pay_token, error", [("tok_decline", PaymentDeclined), ("tok_timeout", PaymentTimeout)])
def test_declined_or_timed_out_payment_moves_nothing(app, world, pay_token, error):
    member = world.member(points=5000)
    item = world.listing(points_price=None, mix_points=1000, cash_fen=990, stock=5)
    with pytest.raises(error):
        checkout_as(app, member, [LR(item, option="mix")], pay_token=pay_token)
    assert world.balance(member) == 5000
    assert stock(app, item) == 5
    assert orders(app) == 0
    world.verify()


def test_double_submit_yields_one_order(app, world):
    member = world.member(points=5000)
    item = world.listing(points_price=1000, stock=10)
    first, _ = checkout_as(app, member, [LR(item)], token="same-token")
    second, replayed = checkout_as(app, member, [LR(item)], token="same-token")
    assert replayed and first == second
    assert world.balance(member) == 4000
    assert stock(app, item) == 9


def test_not_enough_points_is_refused_with_the_shortfall(app, world):
    member = world.member(points=500)
    item = world.listing(points_price=1700, stock=3)
    with pytest.raises(DomainError, match="1,200|1200|more"):
        checkout_as(app, member, [LR(item)])
    assert stock(app, item) == 3 and world.balance(member) == 500
    assert orders(app) == 0


def test_per_member_limit(app, world):
    member = world.member(points=50000)
    item = world.listing(points_price=100, stock=None, limit_per_member=2, limit_period="month")
    checkout_as(app, member, [LR(item, quantity=2)])
    with pytest.raises(DomainError, match="limit"):
        checkout_as(app, member, [LR(item)])


def test_early_access_only_for_good_credit(app, world):
    now = datetime.now(timezone.utc)
    member = world.member("normal@example.com", points=5000)
    good = world.member("good@example.com", points=5000)
    with app.app_context(), write(db.session):
        from mall.account.models import User

        db.session.get(User, good).good_credit = True
    item = world.listing(points_price=100, early_access_from=(now - timedelta(hours=1)).isoformat(),
                         available_from=(now + timedelta(days=1)).isoformat())
    with pytest.raises(DomainError, match="good credit"):
        checkout_as(app, member, [LR(item)])
    checkout_as(app, good, [LR(item)])
    assert world.balance(good) == 4900


def test_delivery_details_are_required_and_validated(app, world):
    member = world.member()
    goods = world.listing(points_price=100)
    topup = world.listing(points_price=100, kind="topup", category="telecom", stock=None)
    with pytest.raises(DomainError, match="address"):
        checkout_as(app, member, [LR(goods)], delivery=service.Delivery(phone="13800138000"))
    with pytest.raises(DomainError, match="mobile"):
        checkout_as(app, member, [LR(topup)], delivery=service.Delivery(phone="12345"))
    [order_id], _ = checkout_as(app, member, [LR(topup)], delivery=service.Delivery(phone="13912345678"))
    with app.app_context():
        assert db.session.get(Order, order_id).delivery == {"phone": "13912345678"}


def test_service_slot_capacity_is_shared(app, world):
    member = world.member(points=50000)
    item = world.listing(points_price=100, kind="service", category="services", stock=None)
    start = datetime.now(timezone.utc) + timedelta(days=2)
    with app.app_context(), write(db.session):
        slot = ServiceSlot(listing_id=item, starts_at=start, capacity=2, booked=1)  # one booked at the till
        db.session.add(slot)
        db.session.flush()
        slot_id = slot.id
    [order_id], _ = checkout_as(app, member, [LR(item, slot_id=slot_id)])
    with pytest.raises(DomainError, match="booked"):
        checkout_as(app, member, [LR(item, slot_id=slot_id)])
    with app.app_context():
        assert db.session.get(ServiceSlot, slot_id).booked == 2
        [voucher] = db.session.scalars(select(Voucher)).all()
        assert len(voucher.code) == 10


def test_merchant_cancellation_refunds_to_the_same_lots_with_compensation(app, world):
    member = world.member(points=0)
    world.earn(member, 300, key="early")
    world.earn(member, 5000, key="later")
    item = world.listing(points_price=1000, stock=5)
    [order_id], _ = checkout_as(app, member, [LR(item)])
    with app.app_context(), write(db.session):
        order = db.session.get(Order, order_id)
        service.cancel(db.session, order, "merchant", "closed for renovation")
    assert world.balance(member) == 5300 + 100  # every point back, plus 10% compensation
    assert stock(app, item) == 5
    with app.app_context():
        order = db.session.get(Order, order_id)
        assert (order.status, order.compensation) == ("cancelled", 100)
        refund_lots = db.session.scalars(select(Lot).where(Lot.origin_lot_id.is_not(None))).all()
        assert sum(l.amount for l in refund_lots) == 1000
        origins = {db.session.get(Lot, l.origin_lot_id).expires_at for l in refund_lots}
        assert {l.expires_at for l in refund_lots} == origins
    world.verify()


def test_member_cancels_within_the_window_only(app, world):
    member = world.member(points=5000)
    item = world.listing(points_price=1000, kind="coupon", category="grocery", coupon_valid_days=30,
                         cancel_hours=24, stock=None)
    [order_id], _ = checkout_as(app, member, [LR(item)])
    with app.app_context(), write(db.session):
        order = db.session.get(Order, order_id)
        with pytest.raises(DomainError, match="no longer"):
            service.cancel(db.session, order, "member", "", now=order.created_at + timedelta(hours=25))
    with app.app_context(), write(db.session):
        service.cancel(db.session, db.session.get(Order, order_id), "member", "")
    assert world.balance(member) == 5000  # full refund, no compensation
    with app.app_context():
        assert db.session.scalar(select(Voucher.status)) == "cancelled"


def test_cancelling_twice_is_refused(app, world):
    member = world.member(points=5000)
    item = world.listing(points_price=1000)
    [order_id], _ = checkout_as(app, member, [LR(item)])
    with app.app_context(), write(db.session):
        service.cancel(db.session, db.session.get(Order, order_id), "merchant", "x")
    with pytest.raises(DomainError), app.app_context(), write(db.session):
        service.cancel(db.session, db.session.get(Order, order_id), "merchant", "x")
    assert world.balance(member) == 5100
    world.verify()


def test_voucher_can_be_used_once_and_only_by_its_merchant(app, world):
    member = world.member(points=5000)
    item = world.listing(points_price=300, kind="coupon", category="grocery", coupon_valid_days=30, stock=None)
    checkout_as(app, member, [LR(item)])

    other = make_merchant(app, "other")
    with app.app_context():
        code = db.session.scalar(select(Voucher.code))
    with pytest.raises(NotFound), app.app_context(), write(db.session):
        merchant_side.redeem_voucher(db.session, db.session.get(Merchant, other), code)
    with app.app_context(), write(db.session):
        assert merchant_side.redeem_voucher(db.session, db.session.get(Merchant, world.merchant_id), code.lower()).status == "redeemed"
    with pytest.raises(DomainError, match="already been used"), app.app_context(), write(db.session):
        merchant_side.redeem_voucher(db.session, db.session.get(Merchant, world.merchant_id), code)


def test_another_members_order_is_404(app, client, world):
    owner = world.member("owner@example.com")
    item = world.listing(points_price=100)
    [order_id], _ = checkout_as(app, owner, [LR(item)])
    world.member("snoop@example.com")
    Auth(client).login("snoop@example.com")
    assert client.get(f"/orders/{order_id}").status_code == 404
    assert client.post(f"/orders/{order_id}/cancel", data={"csrf_token": csrf_token(client, "/orders")}).status_code == 404


def test_checkout_over_http_ignores_tampered_prices(app, client, world):
    member = world.member("buyer@example.com", points=5000)
    item = world.listing(points_price=1000, stock=5)
    Auth(client).login("buyer@example.com")
    page = client.get(f"/checkout?listing={item}").get_data(as_text=True)
    import re

    token = re.search(r'name="token" type="hidden" value="([^"]+)"', page).group(1)
    data = {"csrf_token": csrf_token(client, f"/checkout?listing={item}"), "token": token, "name": "林", "phone": "13800138000",
            "address": "北京", "points": "1", "unit_points": "1", "price": "1", "merchant_id": "999"}
    response = client.post(f"/checkout?listing={item}&quantity=1", data=data)
    assert response.status_code == 303
    again = client.post(f"/checkout?listing={item}&quantity=1", data=data)  # the same form again
    assert again.status_code == 303 and again.headers["Location"] == response.headers["Location"]
    assert world.balance(member) == 4000
    assert orders(app) == 1


def test_last_units_under_concurrency(app, world):
    item = world.listing(points_price=100, stock=3)
    members = [world.member(f"racer{n}@example.com", points=1000) for n in range(50)]
    results = race(lambda user_id: checkout_as(app, user_id, [LR(item)]), members)
    assert results.count("ok") == 3
    assert all(r in (409, 422) for r in results if r != "ok")
    assert stock(app, item) == 0
    assert orders(app) == 3
    world.verify()


def test_one_members_last_points_under_concurrency(app, world):
    member = world.member(points=1000)
    item = world.listing(points_price=300, stock=None)
    results = race(lambda _: checkout_as(app, member, [LR(item)]), range(50))
    assert results.count("ok") == 3
    assert world.balance(member) == 100
    world.verify()


def test_per_member_limit_under_concurrency(app, world):
    member = world.member(points=100000)
    item = world.listing(points_price=10, stock=None, limit_per_member=2, limit_period="day")
    results = race(lambda _: checkout_as(app, member, [LR(item)]), range(20))
    assert results.count("ok") == 2


def test_a_two_merchant_checkout_shows_every_order_it_placed(app, world):
    """A mixed cart places one order per merchant; each order's page names the others, in the page's
    language, and links to them; a voucher says where and how to use it."""
    from tests.builders import create_listing, signed_in_client

    member = world.member("two@example.com", points=5000)
    towel = world.listing(points_price=300, stock=5)
    other = make_merchant(app, "other")
    coupon = create_listing(app, other, kind="coupon", category="grocery", coupon_valid_days=30, points_price=200,
                            stock=None, title_en="Tea coupon", title_zh="茶饮券")
    first, second = checkout_as(app, member, [LR(towel), LR(coupon)])[0]
    client = signed_in_client(app, "two@example.com")
    page = client.get(f"/orders/{first}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "This checkout also placed 1 more order, one per merchant:" in page
    assert f'<a href="/orders/{second}">Order #{second}</a> · other shop · 200 points' in page
    again = client.get(f"/orders/{second}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert f'<a href="/orders/{first}">Order #{first}</a>' in again
    assert "Use it at other shop: show this code at the till" in again  # the coupon's voucher
    alone = checkout_as(app, member, [LR(towel)])[0][0]
    assert 'id="placed-with"' not in client.get(f"/orders/{alone}").get_data(as_text=True)


def test_the_checkout_page_puts_a_shortfall_first_with_what_the_member_can_afford(app, world):
    """Short of points for the points price, the summary says so first and offers the points + cash price
    the member can afford; the lots a redemption would draw are one line per expiry date."""
    from tests.builders import at, signed_in_client

    member = world.member("short@example.com", points=0)
    world.earn(member, 300, at(2026, 3, 1))  # two lots of one year: they expire together
    world.earn(member, 400, at(2026, 6, 1))
    rice = world.listing(points_price=1000, mix_points=500, cash_fen=990, stock=5)
    client = signed_in_client(app, "short@example.com")
    html = client.get(f"/checkout?listing={rice}&option=points", headers={"Accept-Language": "en"}).get_data(
        as_text=True)
    summary = html[html.index('id="summary"'):]
    assert summary.index("You need 300 more points.") < summary.index("<table")
    assert "with points + cash: 500 points + ¥9.90" in summary
    mix = client.get(f"/checkout?listing={rice}&option=mix", headers={"Accept-Language": "en"}).get_data(
        as_text=True)
    lots = re.search(r'<ul class="lots">(.*?)</ul>', mix, re.S).group(1)
    assert lots.count("<li>") == 1 and "500 · expire 2028-01-01" in lots

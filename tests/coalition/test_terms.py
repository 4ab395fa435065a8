"""Each merchant's terms, set by an operator and used where they apply: the fee per point issued, the
reimbursement per point redeemed, the share of a till bill payable with points, game coupons."""
from datetime import timedelta

import pytest

from mall.account.models import User
from mall.checkout import bills, merchant_side
from mall.checkout import service as checkout
from mall.clock import utcnow
from mall.coalition import service
from mall.coalition.models import Merchant
from mall.db import write
from mall.errors import DomainError
from mall.extensions import db
from tests.builders import World, checkout_as, csrf_token, make_user, signed_in_client


@pytest.fixture
def world(app):
    return World(app, operator="op@example.com")


def set_terms(client, merchant_id, **fields):
    data = {"settlement_cycle": "monthly", "accepts_game_coupons": "y",
            "csrf_token": csrf_token(client, f"/admin/merchants/{merchant_id}/terms"), **fields}
    return client.post(f"/admin/merchants/{merchant_id}/terms", data=data)


def test_an_operator_sets_terms_and_they_apply(app, world):
    operator = signed_in_client(app, "op@example.com")
    page = operator.get(f"/admin/merchants/{world.merchant_id}/terms").get_data(as_text=True)
    assert "1 fen per point redeemed" in page and "up to 50% payable with points" in page
    assert set_terms(operator, world.merchant_id, reimbursement="3", bill_share="100", issuance_fee="2",
                     settlement_cycle="weekly").status_code == 303
    member = world.member("m@example.com", 5000)
    towel = world.listing(points_price=1000, stock=5)
    checkout_as(app, member, [checkout.LineRequest(towel)])
    with app.app_context(), write(db.session):
        shop = db.session.get(Merchant, world.merchant_id)
        now = utcnow()
        owed = merchant_side.settlement(db.session, shop, now - timedelta(days=1), now + timedelta(seconds=1))
        assert owed == {"points": 1000, "owed_fen": 3000}  # 3 fen a point, this merchant's
        bill = bills.request_payment(db.session, shop, world.code(member), 2000, 2000)  # the whole bill
        assert bill.bill_fen == 2000
    make_user(app, "staff@example.com", role="merchant", merchant_id=world.merchant_id)
    dashboard = signed_in_client(app, "staff@example.com").get("/merchant/").get_data(as_text=True)
    assert "3 fen per point redeemed" in dashboard and "2 fen per point issued" in dashboard
    assert "up to 100% payable with points" in dashboard and "Weekly" in dashboard


def test_blank_terms_are_the_programmes_and_a_bill_share_stays_within_it(app, world, monkeypatch):
    monkeypatch.setitem(app.config, "BILL_MAX_SHARE_PERCENT", 40)
    member = world.member("m@example.com", 5000)
    with app.app_context(), write(db.session):
        shop = db.session.get(Merchant, world.merchant_id)
        terms = service.terms_of(db.session, shop)
        assert terms.bill_max_share_percent == 40 and terms.own == frozenset()
        with pytest.raises(DomainError, match="At most 40%"):
            bills.request_payment(db.session, shop, world.code(member), 1000, 500)


def test_a_merchant_that_refuses_game_coupons_cannot_accept_one(app, world):
    operator = signed_in_client(app, "op@example.com")
    set_terms(operator, world.merchant_id, accepts_game_coupons="")
    data = {k: v for k, v in {"settlement_cycle": "monthly",
                              "csrf_token": csrf_token(operator, f"/admin/merchants/{world.merchant_id}/terms")}.items()}
    assert operator.post(f"/admin/merchants/{world.merchant_id}/terms", data=data).status_code == 303
    from mall.engage import games

    with app.app_context(), write(db.session):
        shop = db.session.get(Merchant, world.merchant_id)
        assert shop.accepts_game_coupons is False
        with pytest.raises(DomainError, match="does not accept game coupons"):
            games.accept_coupon(db.session, shop, "ANYCODE")


def test_only_operators_set_terms_and_bad_figures_are_refused(app, world):
    operator = signed_in_client(app, "op@example.com")
    bad = set_terms(operator, world.merchant_id, bill_share="150")
    assert bad.status_code == 422 and "Number must be between 0 and 100" in bad.get_data(as_text=True)
    make_user(app, "staff@example.com", role="merchant", merchant_id=world.merchant_id)
    staff = signed_in_client(app, "staff@example.com")
    assert staff.get(f"/admin/merchants/{world.merchant_id}/terms").status_code == 404
    assert set_terms(staff, world.merchant_id, bill_share="100").status_code == 404
    with app.app_context():
        assert db.session.get(Merchant, world.merchant_id).bill_max_share_percent is None
        with pytest.raises(DomainError):
            with write(db.session):
                service.set_terms(db.session, db.session.get(User, 1), world.merchant_id, issuance_fee=1,
                                  reimbursement=1, bill_share=101, accepts_game_coupons=True, settlement_cycle="weekly")

"""Monthly statements per merchant, for the merchant and the operator: points issued and the fee owed,
points redeemed and the reimbursement owed, compensation paid for its cancellations, coupons accepted."""
import csv
import io

from mall.checkout import merchant_side
from mall.checkout import service as checkout
from mall.clock import utcnow
from mall.coalition.models import Merchant
from mall.db import write
from mall.extensions import db
from mall.reports import service as reports
from tests.builders import World, checkout_as, csrf_token, make_merchant, make_user, signed_in_client


def test_this_months_statement_adds_up_at_the_merchants_terms(app):
    world = World(app, operator="op@example.com")
    operator = signed_in_client(app, "op@example.com")
    operator.post(f"/admin/merchants/{world.merchant_id}/terms", data={
        "issuance_fee": "2", "reimbursement": "3", "settlement_cycle": "monthly", "accepts_game_coupons": "y",
        "csrf_token": csrf_token(operator, f"/admin/merchants/{world.merchant_id}/terms")})
    member = world.member("m@example.com", [4000, 1000])  # two purchases at the merchant
    with app.app_context():
        shop = db.session.get(Merchant, world.merchant_id)
        issued_before = reports.merchant_statements(db.session, shop)[0].issued
    towel = world.listing(points_price=1000, stock=5)
    [kept], _ = checkout_as(app, member, [checkout.LineRequest(towel)], token="a")
    [cancelled], _ = checkout_as(app, member, [checkout.LineRequest(towel)], token="b")
    with app.app_context(), write(db.session):
        merchant_side.cancel_order(db.session, db.session.get(Merchant, world.merchant_id), cancelled, "sold out")
    with app.app_context():
        shop = db.session.get(Merchant, world.merchant_id)
        [this, *older] = reports.merchant_statements(db.session, shop)
    assert this.month == utcnow().astimezone(reports.SHANGHAI).strftime("%Y-%m") and len(older) == 11
    assert this.issued == issued_before and this.issued > 0 and this.fee_fen == this.issued * 2
    assert this.redeemed == 1000 and this.reimbursement_fen == 3000  # the cancelled one came back out
    assert this.compensation == 100 and this.coupons == 0  # 10 % of 1,000 points, the programme's rate
    assert all(m.issued == m.redeemed == 0 for m in older)

    make_user(app, "staff@example.com", role="merchant", merchant_id=world.merchant_id)
    staff = signed_in_client(app, "staff@example.com")
    page = staff.get("/merchant/statements").get_data(as_text=True)
    assert this.month in page and "¥30.00" in page
    rows = list(csv.reader(io.StringIO(staff.get("/merchant/statements.csv").get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][0] == "Month" and len(rows) == 13
    assert rows[1] == [this.month, str(this.issued), str(this.fee_fen), "1000", "3000", "100", "0"]
    same = operator.get(f"/admin/merchants/{world.merchant_id}/statements.csv").get_data(as_text=True)
    assert same.lstrip("\ufeff").splitlines()[1].split(",") == rows[1]
    assert kept


def test_statements_are_the_merchants_own_and_the_operators(app):
    world = World(app)
    other = make_merchant(app, "rival")
    make_user(app, "rival@example.com", role="merchant", merchant_id=other)
    rival = signed_in_client(app, "rival@example.com")
    assert rival.get(f"/admin/merchants/{world.merchant_id}/statements").status_code == 404
    assert rival.get(f"/admin/merchants/{world.merchant_id}/statements.csv").status_code == 404
    own = rival.get("/merchant/statements").get_data(as_text=True)
    assert "<h1>rival shop: Statements</h1>" in own and "shop shop" not in own  # its own, not the other's
    make_user(app, "m@example.com")
    assert signed_in_client(app, "m@example.com").get("/merchant/statements").status_code == 404

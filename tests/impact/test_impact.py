"""CO2e accounting: what green lines save, refunds and cancellations, the impact page, certificates."""
import re

from sqlalchemy import delete

from mall.account.models import User
from mall.db import write
from mall.extensions import db
from mall.impact import service as impact
from mall.impact.models import ImpactEntry
from mall.coalition.models import Merchant
from mall.rules import service as rules
from tests.builders import Auth, checkout_as, csrf_token, make_user

GREEN_CATEGORIES = {"appliances", "public_transport", "second_hand", "refills", "ev_charging"}  # rules v1


def expected_grams(world, items):
    total = 0
    for category, green, amount in items:
        if green or category in GREEN_CATEGORIES:
            key = category if category in impact.DEFAULT_FACTORS else "other"
            total += amount * world.factor(key) // 100
    return total


def test_total_equals_the_sum_over_the_members_green_items(world):
    member = world.member()
    baskets = [
        [("public_transport", False, 800), ("grocery", False, 5000)],  # green by category
        [("appliances", True, 259900), ("grocery", True, 1234)],  # a flagged grocery line uses "other"
        [("grocery", False, 9900)],  # nothing green
        [("second_hand", True, 4550), ("refills", False, 1999), ("textiles", False, 3000)],
    ]
    for basket in baskets:
        world.buy(member, basket)
    expected = sum(expected_grams(world, basket) for basket in baskets)
    assert expected > 0
    assert world.total(member) == expected
    with world.app.app_context():
        entries = db.session.scalars(impact.select(ImpactEntry).where(ImpactEntry.member_id == member)).all()
        assert sum(e.net_grams for e in entries) == expected
        assert len(entries) == 5  # one entry per green line, none for the other lines
        by_category = dict(impact.by_category(db.session, member))
        assert by_category["appliances"] == 259900 * 400 // 100
        assert sum(by_category.values()) == expected


def test_redeemed_green_listing_counts_and_a_cancelled_order_does_not(world):
    member = world.member()
    world.earn(member, 20000)
    listing = world.listing(co2e_g=900, green=True, points_price=1000, cancel_hours=24)
    plain = world.listing(co2e_g=500, green=False, points_price=1000, title_en="Plain")
    from mall.checkout.service import LineRequest

    (order_id,), _ = checkout_as(world.app, member, [LineRequest(listing, quantity=3), LineRequest(plain)])
    assert world.total(member) == 2700  # 3 × 900 g; a non-green listing saves nothing
    with world.app.app_context():
        assert impact.by_category(db.session, member) == [("textiles", 2700)]  # the listing's category
    with world.app.app_context(), write(db.session):
        from mall.checkout import merchant_side
        from mall.checkout import service as checkout
        from mall.checkout.models import Order

        order = db.session.get(Order, order_id)
        line = next(l for l in order.lines if l.listing_id == listing)
        merchant_side.refund_lines(db.session, order, {line.id: 1}, key="r1")
    assert world.total(member) == 1800
    with world.app.app_context(), write(db.session):
        checkout.cancel(db.session, db.session.get(Order, order_id), "merchant", "closed")
    assert world.total(member) == 0
    world.verify()


def test_partial_refund_keeps_the_unrefunded_share(world):
    member = world.member()
    purchase = world.buy(member, [("appliances", True, 10000)])
    assert world.total(member) == 40000
    with world.app.app_context(), write(db.session):
        rules.refund_purchase(db.session, db.session.get(Merchant, world.merchant_id), purchase, 2500, key="r")
    assert world.total(member) == 30000
    world.verify()


def test_a_factor_change_does_not_rewrite_history(world, app):
    member = world.member()
    world.buy(member, [("public_transport", False, 1000)])
    operator = make_user(app, "op@example.com", role="operator")
    with app.app_context(), write(db.session):
        impact.set_factor(db.session, db.session.get(User, operator), "public_transport", 999, "A newer study 2027")
    assert world.total(member) == 1500
    world.buy(member, [("public_transport", False, 1000)])
    assert world.total(member) == 1500 + 9990


def test_median_member(world):
    a, b, c = world.member("a@x.cn"), world.member("b@x.cn"), world.member("c@x.cn")
    world.member("nobody@x.cn")
    for who, fen in ((a, 100), (b, 1000), (c, 10000)):
        world.buy(who, [("appliances", True, fen)])
    with world.app.app_context():
        assert impact.median_member(db.session) == 1000 * 4
    d = world.member("d@x.cn")
    world.buy(d, [("appliances", True, 2000)])
    with world.app.app_context():
        assert impact.median_member(db.session) == (4000 + 8000) // 2


def test_chart_renders_for_a_member_with_no_history(world, client):
    world.member("new@example.com")
    Auth(client).login("new@example.com")
    page = client.get("/account/impact")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'class="chart"' in html and 'role="img"' in html
    assert "No CO2e saved in the last 12 months yet." in html  # the chart's text alternative
    assert html.count("<tr><td>20") == 12  # the table alternative: one row per month
    assert 'id="impact-total"' in html and "0.0 kg" in html


def test_impact_page_shows_the_members_own_figures(world, client):
    me = world.member("me@example.com")
    other = world.member("other@example.com")
    world.buy(me, [("appliances", True, 5000)], days_ago=40)
    world.buy(other, [("appliances", True, 900000)])
    Auth(client).login("me@example.com")
    html = client.get("/account/impact").get_data(as_text=True)
    assert "20.0 kg" in html  # 50 yuan × 400 g
    assert "3,600.0" not in html  # the other member's 3,600 kg appears nowhere
    assert "Energy-saving appliances" in html
    assert 'class="bar"' in html


def test_certificate_shows_only_what_was_chosen_and_only_until_withdrawn(world, client, app):
    me = world.member("me@example.com", name="Lin Xiaolü")
    world.buy(me, [("appliances", True, 5000)])
    auth = Auth(client)
    auth.login("me@example.com")
    made = client.post("/account/impact/shares", data={"csrf_token": csrf_token(client, "/account/impact"),
                                                       "show_trees": "y"})
    assert made.status_code == 303
    link = made.headers["Location"]
    token = link.rsplit("/", 1)[1]
    auth.logout()
    # Anyone with the link (here: another member) sees the total and the chosen parts only.
    make_user(app, "other@example.com")
    auth.login("other@example.com")
    shown = client.get(f"/impact/certificate/{token}")
    assert shown.status_code == 200
    html = shown.get_data(as_text=True)
    assert "20.0 kg" in html and 'id="certificate-trees"' in html
    assert "Lin Xiaolü" not in html and 'id="certificate-categories"' not in html and 'class="chart"' not in html  # no chart either
    assert shown.headers["X-Robots-Tag"] == "noindex"
    # …but not the member's impact page, nor a way to withdraw their link.
    own = client.get("/account/impact").get_data(as_text=True)
    assert re.search(r'id="impact-total">.*?<strong>0\.0 kg</strong>', own, re.S)
    with app.app_context():
        share_id = impact.get_share(db.session, token).id
    assert client.post(f"/account/impact/shares/{share_id}/revoke",
                       data={"csrf_token": csrf_token(client, "/account/impact")}).status_code == 404
    assert client.get("/impact/certificate/not-a-real-token").status_code == 404
    auth.logout()
    auth.login("me@example.com")
    assert client.post(f"/account/impact/shares/{share_id}/revoke",
                       data={"csrf_token": csrf_token(client, "/account/impact")}).status_code == 303
    assert client.get(f"/impact/certificate/{token}").status_code == 404


def test_certificate_with_name_categories_and_chart(world, client):
    me = world.member("me@example.com", name="Lin Xiaolü")
    world.buy(me, [("appliances", True, 5000)])
    Auth(client).login("me@example.com")
    made = client.post("/account/impact/shares", data={
        "csrf_token": csrf_token(client, "/account/impact"), "show_name": "y", "show_categories": "y",
        "show_chart": "y"})
    html = client.get(made.headers["Location"]).get_data(as_text=True)
    assert "Lin Xiaolü" in html and 'id="certificate-categories"' in html and 'class="chart"' in html
    assert 'id="certificate-trees"' not in html


def test_public_pages_publish_the_factors_and_the_programme_total(world, client):
    member = world.member()
    world.buy(member, [("appliances", True, 5000)])
    rules_page = client.get("/rules").get_data(as_text=True)
    assert 'id="impact-factors"' in rules_page
    assert "China grid 0.57 kg/kWh" in rules_page and "18.0 kg" in rules_page
    page = client.get("/transparency").get_data(as_text=True)
    assert re.search(r'id="programme-co2">20\.0 kg', page)
    assert 'class="chart"' in page


def test_only_operators_set_factors(world, client, app):
    make_user(app, "m2@example.com")
    Auth(client).login("m2@example.com")
    assert client.get("/admin/impact").status_code == 404
    Auth(client).logout()
    make_user(app, "op@example.com", role="operator")
    Auth(client).login("op@example.com")
    bad = client.post("/admin/impact", data={"csrf_token": csrf_token(client, "/admin/impact"),
                                             "key": "refills", "grams": "-5", "source": "x"})
    assert bad.status_code == 422
    ok = client.post("/admin/impact", data={"csrf_token": csrf_token(client, "/admin/impact"),
                                            "key": "refills", "grams": "333", "source": "Refill study 2027"})
    assert ok.status_code == 303
    assert world.factor("refills") == 333
    assert "Refill study 2027" in client.get("/rules").get_data(as_text=True)


def test_backfill_records_older_events_once(world, runner, app):
    member = world.member()
    world.buy(member, [("appliances", True, 5000), ("grocery", False, 100)])
    world.buy(member, [("grocery", False, 100)])
    with app.app_context(), write(db.session):
        db.session.execute(delete(ImpactEntry))
    assert world.total(member) == 0
    assert runner.invoke(args=["impact", "backfill"]).exit_code == 0
    assert world.total(member) == 20000
    assert runner.invoke(args=["impact", "backfill"]).exit_code == 0
    assert world.total(member) == 20000

"""The statement in words a member reads: what each row was for (an order's items, a purchase's amount,
a donation's project), where, in the page's language, linking to the order, the purchase's breakdown or
the receipt; no raw token or id. Another member's purchase page is not found."""
import re

from mall.checkout import service as checkout
from tests.builders import World, checkout_as, create_listing, signed_in_client


def statement(client, lang):
    return client.get("/account/statement", headers={"Accept-Language": lang}).get_data(as_text=True)


def test_each_row_says_what_it_was_for_and_links_to_it(app):
    world = World(app, operator="op@example.com")
    lin = world.member("lin@example.com", points=0)
    purchase_id = world.buy(lin, [("groceries", True, 12000)])  # ¥120.00, green
    rice = create_listing(app, world.merchant_id, title_zh="有机大米 5kg", title_en="Organic rice 5kg",
                          points_price=100, stock=5)
    [order_id], _ = checkout_as(app, lin, [checkout.LineRequest(rice)])
    project = world.project(title_zh="城市植树", title_en="City trees")
    world.donate(lin, project, 10)
    client = signed_in_client(app, "lin@example.com")
    english, chinese = statement(client, "en"), statement(client, "zh-CN")
    assert re.search(rf'<a href="/orders/{order_id}">Redeemed Organic rice 5kg · shop shop</a>', english)
    assert re.search(rf'<a href="/orders/{order_id}">兑换 有机大米 5kg · shop商户</a>', chinese)
    assert re.search(rf'<a href="/account/purchases/{purchase_id}">Earned for ¥120.00 spent · shop shop</a>', english)
    assert re.search(r'<a href="/charity/receipts/[^"]+">Donated City trees</a>', english)
    assert "城市植树" in chinese and "City trees" not in chinese and "Organic rice" not in chinese
    assert "order #" not in english and "#" not in re.sub(r"&#\d+;|#[a-z-]+\"|href=\"#\w+", "", english.split("<tbody")[1])


def test_a_purchase_shows_its_breakdown_to_its_member_only(app):
    world = World(app)
    lin = world.member("lin@example.com", points=0)
    world.member("wu@example.com", points=0)
    purchase_id = world.buy(lin, [("groceries", True, 12000)])
    page = signed_in_client(app, "lin@example.com").get(f"/account/purchases/{purchase_id}",
                                                        headers={"Accept-Language": "en"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "¥120.00" in html and 'class="compact breakdown"' in html
    total = re.search(r"<tfoot><tr><th>Total</th><th class=\"num\">([\d,]+)</th>", html).group(1)
    assert int(total.replace(",", "")) == world.balance(lin) > 120  # green goods earn more than the base
    assert signed_in_client(app, "wu@example.com").get(f"/account/purchases/{purchase_id}").status_code == 404
    assert app.test_client().get(f"/account/purchases/{purchase_id}").status_code == 302  # sign in first

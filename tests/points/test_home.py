"""我的: a member's home shows their balance, tier and the way to the next, what expires soon and their
shortcuts; staff and operators see their own work instead. The header counts the cart."""
import re
from datetime import UTC, datetime, timedelta

from mall.account.models import User
from mall.checkout import service as checkout
from mall.db import write
from mall.extensions import db
from mall.rules import service as rules
from tests.builders import World, make_user, signed_in_client


def page(client, lang="en"):
    answer = client.get("/account", headers={"Accept-Language": lang})
    assert answer.status_code == 200
    return answer.get_data(as_text=True)


def test_a_member_sees_tier_progress_expiry_and_shortcuts(app):
    world = World(app)
    lin = world.member("lin@example.com", points=0)
    app.config["POINTS_EXPIRY_POLICY"] = "never"  # what the purchases earn stays
    world.buy(lin, [("groceries", False, 120000)], days_ago=10)  # 1 point a yuan: 1,200 points
    app.config["POINTS_EXPIRY_POLICY"] = "months:1"
    world.earn(lin, 700, datetime.now(UTC) - timedelta(days=20))  # a lot that expires in about ten days
    client = signed_in_client(app, "lin@example.com")
    html = page(client)
    assert "Normal member" in html
    earned = int(re.search(r'<progress max="5000" value="(\d+)"', html).group(1))
    assert earned == 1200
    assert "3,800 more points earned in 12 months make you a Silver member (1,200 of 5,000)." in html
    assert "700 points expire within 30 days, the first on" in html
    for target in ("/account/statement", "/orders", "/rewards", "/games", "/account/impact", "/family/",
                   "/account/donations", "/account/member-code"):
        assert f'href="{target}"' in html, target
    with app.app_context():  # a year on, that purchase no longer counts
        later = rules.tier_standing(db.session, db.session.get(User, lin), datetime.now(UTC) + timedelta(days=360))
        assert later.earned_12m == 0 and later.tier == "normal" and later.to_next == 5000
    chinese = page(client, "zh-CN")
    assert "普通会员" in chinese and "白银会员" in chinese


def test_the_top_tier_says_so(app):
    world = World(app)
    gold = world.member("gold@example.com", points=0)
    world.buy(gold, [("groceries", False, 2100000)], days_ago=3)  # 21,000 points at 1 a yuan (capped at 20,000)
    html = page(signed_in_client(app, "gold@example.com"))
    assert "Gold member" in html and "The top tier" in html and "<progress" not in html


def test_staff_see_their_work_not_a_members_shortcuts(app):
    world = World(app)
    make_user(app, "cashier@example.com", role="merchant", merchant_id=world.merchant_id)
    html = page(signed_in_client(app, "cashier@example.com"))
    assert 'href="/merchant/"' in html and "My work" in html
    assert 'class="shortcuts"' not in html and "<progress" not in html and 'id="header-balance"' not in html
    assert 'href="/cart"' not in html  # staff get no cart and no balance in the header
    tabs = re.search(r'<nav class="tabbar".*?</nav>', html, re.S).group(0)
    assert 'href="/merchant/purchases/new"' in tabs and 'href="/merchant/vouchers"' in tabs


def test_the_header_and_tab_bar_count_what_is_in_the_cart(app):
    world = World(app)
    lin = world.member("lin@example.com", points=5000)
    towel = world.listing(points_price=100, stock=10)
    client = signed_in_client(app, "lin@example.com")
    assert '<span class="count">' not in client.get("/catalog").get_data(as_text=True)
    with app.app_context(), write(db.session):
        checkout.add_to_cart(db.session, db.session.get(User, lin), towel, quantity=3)
    html = client.get("/catalog").get_data(as_text=True)
    assert html.count('<span class="count">3</span>') == 2  # beside the header's cart and the tab bar's
    assert client.get("/catalog").get_data(as_text=True).count('<span class="count">3</span>') == 2  # kept page


def test_a_members_rewards_page_does_not_show_the_programmes_game_budget(app):
    world = World(app)
    world.member("lin@example.com", points=100)
    html = signed_in_client(app, "lin@example.com").get("/rewards", headers={"Accept-Language": "en"}).get_data(
        as_text=True)
    assert "Task rewards are paid by the programme." in html and "Game budget now" not in html

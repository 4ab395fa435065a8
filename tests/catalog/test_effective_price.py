"""One price in force (a sale inside its window, the points + cash option) for the catalog's "I can
afford it", its points range and sort, and the home page's "within your points"; and "I can afford
it" counting the family pool a member may spend from."""
import re
from datetime import timedelta

import pytest

from mall.clock import utcnow
from tests.builders import World, create_listing, signed_in_client
from tests.family.conftest import Household


def titles(client, query=""):
    html = client.get(f"/catalog?{query}", headers={"HX-Request": "true"}).get_data(as_text=True)
    return re.findall(r"<h3>([^<]+)</h3>", html)


@pytest.fixture
def priced(app):
    """Four listings whose price in force differs from their list price in each way there is."""
    world = World(app)
    now = utcnow()
    create_listing(app, world.merchant_id, title_en="Spring sale kettle", title_zh="春季特惠水壶",
                   points_price=3000, sale_points_price=2500, sale_starts_at=now - timedelta(days=1),
                   sale_ends_at=now + timedelta(days=1))
    create_listing(app, world.merchant_id, title_en="Plain towel", title_zh="毛巾", points_price=2600)
    create_listing(app, world.merchant_id, title_en="Sale next week lamp", title_zh="下周特惠台灯",
                   points_price=2700, sale_points_price=2000, sale_starts_at=now + timedelta(days=7),
                   sale_ends_at=now + timedelta(days=9))
    create_listing(app, world.merchant_id, title_en="Points and cash blender", title_zh="积分加钱料理机",
                   points_price=5000, mix_points=2400, cash_fen=1990)
    return world


def test_i_can_afford_counts_a_sale_in_force_and_not_one_to_come(app, priced):
    member = priced.member("lin@example.com", points=2600)
    client = signed_in_client(app, "lin@example.com")
    assert priced.balance(member) == 2600
    assert set(titles(client, "affordable=y")) == {"Spring sale kettle", "Plain towel", "Points and cash blender"}


@pytest.mark.parametrize("query, expected", [
    ("max_points=2550", {"Spring sale kettle", "Points and cash blender"}),
    ("min_points=2550", {"Plain towel", "Sale next week lamp"}),
    ("min_points=2450&max_points=2650", {"Spring sale kettle", "Plain towel"}),
])
def test_the_points_range_is_the_price_in_force(client, priced, query, expected):
    assert set(titles(client, query)) == expected


def test_sorting_by_points_uses_the_price_in_force(client, priced):
    cheapest_first = ["Points and cash blender", "Spring sale kettle", "Plain towel", "Sale next week lamp"]
    assert titles(client, "sort=points_asc") == cheapest_first
    assert titles(client, "sort=points_desc") == cheapest_first[::-1]
    assert titles(client, "sort=points_asc&max_points=2650") == cheapest_first[:3]
    assert titles(client, "sort=points_desc&q=kettle") == ["Spring sale kettle"]
    assert titles(client, "sort=points_asc&q=lamp&min_points=2500") == ["Sale next week lamp"]


def test_the_home_page_offers_what_the_points_reach_today(app, priced):
    priced.member("lin@example.com", points=2550)
    html = signed_in_client(app, "lin@example.com").get("/").get_data(as_text=True)
    within = html.split("Within your points", 1)[1].split("</section>", 1)[0]
    assert re.findall(r"<h3>([^<]+)</h3>", within) == ["Spring sale kettle", "Points and cash blender"]


def test_i_can_afford_may_count_the_family_pool_i_may_spend(app):
    home = Household(app)
    create_listing(app, home.merchant_id, title_en="Family hotel night", title_zh="家庭酒店一晚", points_price=9000)
    create_listing(app, home.merchant_id, title_en="Small towel", title_zh="小毛巾", points_price=300)
    head = home.member("head@example.com", points=20000)
    kid = home.member("kid@example.com", points=400)
    home.family(head, kid)
    home.contribute(head, 12000)
    client = signed_in_client(app, "kid@example.com")
    page = client.get("/catalog").get_data(as_text=True)
    assert "Count the family pool I may spend" not in page  # the head has not let the kid redeem from it
    assert set(titles(client, "affordable=y&with_pool=y")) == {"Small towel"}

    from mall.family import service as family
    home.run(head, family.set_rights, kid, True, None)
    page = client.get("/catalog").get_data(as_text=True)
    assert "Count the family pool I may spend" in page and "12,000 points" in page
    assert set(titles(client, "affordable=y")) == {"Small towel"}
    assert set(titles(client, "affordable=y&with_pool=y")) == {"Small towel", "Family hotel night"}
    home.run(head, family.set_rights, kid, True, 5000)  # a monthly limit under the hotel's price
    assert set(titles(client, "affordable=y&with_pool=y")) == {"Small towel"}

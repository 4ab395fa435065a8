"""What the rules read of a member's purchases before pricing a new one (``rules.member_context``), in
one statement: points earned today and over the last 12 months (the tier), and whether the member has
bought at this merchant before (a first-purchase bonus)."""
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from mall.coalition.models import Merchant
from mall.extensions import db
from mall.rules import service as rules
from mall.rules.models import Purchase
from tests.builders import World, make_merchant


def context(app, world, member_id, merchant_id, at):
    with app.app_context():
        config = rules.config_of(rules.rule_set_at(db.session, at))
        return config, rules.member_context(db.session, world.user(member_id), db.session.get(Merchant, merchant_id),
                                            at, config)


def test_member_context_reads_today_the_last_year_and_the_first_visit(app):
    world = World(app)
    other = make_merchant(app, "elsewhere")
    member = world.member("ctx@example.com", points=0)
    now = datetime.now(UTC)
    _, fresh = context(app, world, member, world.merchant_id, now)
    assert fresh.first_at_merchant and fresh.earned_today == 0

    world.buy(member, [("grocery", True, 500000)], days_ago=300)
    world.buy(member, [("grocery", True, 100000)], days_ago=30)
    world.buy(member, [("grocery", False, 20000)])  # today
    with app.app_context():
        points = {p.occurred_at.date(): p.points for p in db.session.scalars(select(Purchase))}
    config, seen = context(app, world, member, world.merchant_id, now)
    assert not seen.first_at_merchant
    today = sum(v for day, v in points.items() if day == now.date())
    assert today > 0 and seen.earned_today == today
    assert seen.tier == config.tier_for(sum(points.values())).name
    # 100 days on, the purchase of 300 days ago is past the 12 months and nothing was earned that day
    later = now + timedelta(days=100)
    config, ahead = context(app, world, member, world.merchant_id, later)
    year = sum(v for day, v in points.items() if day > (later - timedelta(days=365)).date())
    assert year < sum(points.values())
    assert ahead.tier == config.tier_for(year).name and ahead.earned_today == 0
    assert ahead.tier != seen.tier, points  # the old purchase decided the tier

    _, there = context(app, world, member, other, now)
    assert there.first_at_merchant and there.earned_today == today

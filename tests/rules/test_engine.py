"""The earning rules engine: every rule, their combinations, rounding and caps."""
from datetime import datetime, timedelta, timezone
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mall.rules.engine import DEFAULT_RULES, Item, MemberContext, RuleConfigError, compute, parse_config

AT = datetime(2026, 11, 20, 4, 0, tzinfo=timezone.utc)


def config(**changes):
    doc = {**DEFAULT_RULES, **changes}
    return parse_config(doc)


def lines(award):
    return {line.rule: line.points for line in award.breakdown}


@pytest.mark.parametrize("items, member, expected, breakdown", [
    # the design's example: ¥128 grade-1 air conditioner, green → 128 base + 64 green
    ([Item("appliances", 12800, True)], MemberContext(), 192, {"base": 128, "green": 64}),
    # plain groceries, rounded down once: ¥56.80 → 56
    ([Item("grocery", 5680)], MemberContext(), 56, {"base": 56}),
    # silver ×1.2 on 56.8 → 68.16 → 68
    ([Item("grocery", 5680)], MemberContext(tier="silver"), 68, {"base": 57, "tier": 11}),
    # gold ×1.5 and good credit ×1.1 on ¥20 metro (green ×2): 40 + 20 + 4 = 64
    ([Item("public_transport", 2000)], MemberContext(tier="gold", good_credit=True), 64,
     {"base": 20, "green": 20, "tier": 20, "credit": 4}),
    # green category and flagged item do not compound: the larger multiplier wins (2.0)
    ([Item("second_hand", 10000, True)], MemberContext(), 200, {"base": 100, "green": 100}),
    # birthday bonus is a fixed 200
    ([Item("grocery", 1000)], MemberContext(birthday_month=True), 210, {"base": 10, "birthday": 200}),
    # below the ¥1 minimum: nothing
    ([Item("grocery", 99)], MemberContext(birthday_month=True), 0, {}),
    # rounding once at the end: 3 × ¥0.50 = ¥1.50 → 1, not 0 + 0 + 0
    ([Item("grocery", 50), Item("grocery", 50), Item("grocery", 50)], MemberContext(), 1, {"base": 1}),
])
def test_rules_table(items, member, expected, breakdown):
    award = compute(config(), items, member, AT)
    assert award.points == expected
    assert lines(award) == breakdown
    assert sum(lines(award).values()) == award.points


def test_category_base_rate_overrides_default_and_merchant_category_applies():
    cfg = config(base={"points_per_yuan": "1", "by_category": {"hotel": "2", "telecom": "0.5"}})
    assert compute(cfg, [Item("hotel", 10000)], MemberContext(), AT).points == 200
    assert compute(cfg, [Item("telecom", 10000)], MemberContext(), AT).points == 50
    # an item category with no rate falls back to the merchant's category rate
    assert compute(cfg, [Item("misc", 10000)], MemberContext(), AT, merchant_category="hotel").points == 200


def _campaign(**fields):
    base = {"id": "c1", "name_zh": "活动", "name_en": "Campaign",
            "starts_at": "2026-11-11T00:00:00+08:00", "ends_at": "2026-11-21T00:00:00+08:00"}
    return {**base, **fields}


def test_multiplier_campaign_only_inside_its_window():
    cfg = config(campaigns=[_campaign(kind="multiplier", multiplier="2")])
    inside = compute(cfg, [Item("grocery", 10000)], MemberContext(), AT)
    assert inside.points == 200 and lines(inside)["campaign:c1"] == 100
    start = datetime(2026, 11, 10, 16, 0, tzinfo=timezone.utc)  # 2026-11-11 00:00 Shanghai
    assert compute(cfg, [Item("grocery", 10000)], MemberContext(), start).points == 200
    assert compute(cfg, [Item("grocery", 10000)], MemberContext(), start - timedelta(microseconds=1)).points == 100
    end = datetime(2026, 11, 20, 16, 0, tzinfo=timezone.utc)
    assert compute(cfg, [Item("grocery", 10000)], MemberContext(), end).points == 100


def test_scoped_multiplier_applies_to_its_categories_only():
    cfg = config(campaigns=[_campaign(kind="multiplier", multiplier="3", categories=["refills"])])
    award = compute(cfg, [Item("refills", 1000), Item("grocery", 1000)], MemberContext(), AT)
    # refills: 10 base + 10 green (×2) = 20, campaign adds 2 × 20; groceries 10
    assert lines(award) == {"base": 20, "green": 10, "campaign:c1": 40}


def test_fixed_cross_category_and_first_purchase_bonuses():
    cfg = config(campaigns=[
        _campaign(id="b", kind="bonus", points=50),
        _campaign(id="x", kind="cross_category", points=200, categories=["grocery", "textiles"]),
        _campaign(id="f", kind="first_purchase", points=300),
    ])
    one = compute(cfg, [Item("grocery", 1000)], MemberContext(), AT)
    assert lines(one) == {"base": 10, "campaign:b": 50}
    both = compute(cfg, [Item("grocery", 1000), Item("textiles", 1000)], MemberContext(first_at_merchant=True), AT)
    assert lines(both) == {"base": 20, "campaign:b": 50, "campaign:x": 200, "campaign:f": 300}


def test_per_purchase_cap_scales_breakdown_to_the_cap():
    cfg = config(caps={"per_purchase": 100, "per_member_per_day": 1000, "min_purchase_fen": 0})
    award = compute(cfg, [Item("appliances", 100000, True)], MemberContext(tier="gold"), AT)
    assert award.points == 100
    assert award.uncapped == 2250
    assert sum(lines(award).values()) == 100
    assert award.notes == ("per_purchase_cap",)


def test_daily_cap_counts_what_was_earned_today():
    cfg = config(caps={"per_member_per_day": 500, "min_purchase_fen": 0})
    assert compute(cfg, [Item("grocery", 100000)], MemberContext(earned_today=450), AT).points == 50
    assert compute(cfg, [Item("grocery", 100000)], MemberContext(earned_today=500), AT).points == 0
    assert compute(cfg, [Item("grocery", 100000)], MemberContext(earned_today=900), AT).points == 0


def test_tier_is_chosen_by_points_in_the_last_12_months():
    cfg = config()
    assert cfg.tier_for(0).name == "normal"
    assert cfg.tier_for(4999).name == "normal"
    assert cfg.tier_for(5000).name == "silver"
    assert cfg.tier_for(20000).name == "gold"


@pytest.mark.parametrize("doc, where", [
    ({"tiers": []}, "tiers"),
    ({"tiers": [{"name": "a", "min_points": 5, "multiplier": "1"}]}, "start at 0"),
    ({"base": {"points_per_yuan": 1.5}}, "decimal string"),
    ({"base": {"points_per_yuan": True}}, "decimal string"),
    ({"base": {"points_per_yuan": "-1"}}, "between 0 and 100"),
    ({"caps": {"per_purchase": "100"}}, "caps.per_purchase"),
    ({"campaigns": [_campaign(kind="teleport")]}, "kind"),
    ({"campaigns": [_campaign(kind="bonus", points=1, starts_at="2026-11-11T00:00:00")]}, "time zone"),
    ({"campaigns": [_campaign(kind="cross_category", points=1, categories=["a"])]}, "two categories"),
])
def test_malformed_rule_sets_are_refused_with_the_place(doc, where):
    with pytest.raises(RuleConfigError, match=where):
        parse_config({**DEFAULT_RULES, **doc})


items_strategy = st.lists(st.builds(
    Item, category=st.sampled_from(["grocery", "appliances", "public_transport", "hotel", "refills"]),
    amount_fen=st.integers(0, 10**8), green=st.booleans()), min_size=1, max_size=8)
member_strategy = st.builds(MemberContext, tier=st.sampled_from(["normal", "silver", "gold"]),
                            good_credit=st.booleans(), birthday_month=st.booleans(),
                            first_at_merchant=st.booleans(), earned_today=st.integers(0, 60000))


@settings(max_examples=300, deadline=None)
@given(items=items_strategy, member=member_strategy, multiplier=st.sampled_from(["1", "1.5", "2", "3"]),
       cap=st.one_of(st.none(), st.integers(1, 30000)))
def test_breakdown_sums_to_total_and_is_never_negative(items, member, multiplier, cap):
    caps = {"min_purchase_fen": 100, "per_member_per_day": 50000}
    if cap is not None:
        caps["per_purchase"] = cap
    cfg = config(caps=caps, campaigns=[
        _campaign(kind="multiplier", multiplier=multiplier),
        _campaign(id="x", kind="cross_category", points=77, categories=["grocery", "hotel"]),
    ])
    award = compute(cfg, items, member, AT)
    assert award.points >= 0
    assert all(line.points > 0 for line in award.breakdown)
    assert sum(line.points for line in award.breakdown) == award.points
    assert award.points <= award.uncapped
    if cap is not None:
        assert award.points <= cap
    assert award.points <= max(0, 50000 - member.earned_today)
    # every multiplier here is at least 1, so the uncapped award is at least the plain yuan spent
    exact = sum(Fraction(i.amount_fen, 100) for i in items)
    if sum(i.amount_fen for i in items) >= 100:
        assert award.uncapped >= int(exact)

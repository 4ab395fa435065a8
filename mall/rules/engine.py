"""The earning rules engine: a pure function from (rule set, purchase, member context) to points.

No Flask, no database. Every multiplier is an exact fraction; points are rounded down once, at the
end, and the per-rule breakdown is apportioned so that it sums exactly to the total.

How rules combine (this text is published on /rules):
- base points = yuan spent × the base rate of the item's category (or the default rate);
- green: green items earn an extra (green multiplier − 1) × their base points;
- tier, good credit and multiplier campaigns each add (multiplier − 1) × (base + green points);
- fixed bonuses (campaign bonus, cross-category, first purchase at a merchant, birthday) add points;
- caps and the minimum purchase apply last; the result is rounded down once.
"""
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction

from mall.validation import MAX_PURCHASE_FEN as MAX_FEN, is_whole

MAX_ITEMS = 200


class RuleConfigError(ValueError):
    """The rule-set document is malformed; the message says where."""


def _rate(value, where: str) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise RuleConfigError(f"{where}: give the rate as a decimal string such as \"1.5\"")
    try:
        rate = Fraction(str(value))
    except (ValueError, ZeroDivisionError):
        raise RuleConfigError(f"{where}: {value!r} is not a decimal number")
    if rate < 0 or rate > 100:
        raise RuleConfigError(f"{where}: must be between 0 and 100")
    return rate


def rate_text(rate: Fraction) -> str:
    """An exact rate as a short decimal (1.5, 0.25) or, if it does not terminate, a fraction."""
    if rate.denominator == 1:
        return str(rate.numerator)
    for places in range(1, 7):
        scaled = rate * 10**places
        if scaled.denominator == 1:
            whole, frac = divmod(scaled.numerator, 10**places)
            return f"{whole}.{frac:0{places}d}".rstrip("0")
    return f"{rate.numerator}/{rate.denominator}"


def _int(value, where: str, low: int = 0, high: int = 10**9) -> int:
    if not is_whole(value, low, high):
        raise RuleConfigError(f"{where}: must be a whole number from {low} to {high}")
    return value


def _instant(value, where: str) -> datetime:
    try:
        at = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise RuleConfigError(f"{where}: {value!r} is not an ISO 8601 date-time")
    if at.tzinfo is None:
        raise RuleConfigError(f"{where}: needs a time zone, e.g. 2026-11-11T00:00:00+08:00")
    return at


def _text(value, where: str, limit: int = 120) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise RuleConfigError(f"{where}: text of 1 to {limit} characters is required")
    return value.strip()


@dataclass(frozen=True)
class Tier:
    name: str
    min_points: int
    multiplier: Fraction


@dataclass(frozen=True)
class Campaign:
    id: str
    kind: str  # multiplier | bonus | cross_category | first_purchase
    name_zh: str
    name_en: str
    starts_at: datetime
    ends_at: datetime
    multiplier: Fraction = Fraction(1)
    points: int = 0
    categories: tuple[str, ...] = ()

    def active(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at


@dataclass(frozen=True)
class MerchantLimits:
    """What a merchant's own campaigns may give, as the operator publishes it in the rule set
    (``merchant_campaigns``). The engine holds every merchant campaign to the limits in force at the
    purchase, whatever they were when it was set up."""

    allowed: bool = True
    max_multiplier: Fraction = Fraction(3)
    max_bonus_points: int = 500
    max_days: int = 31
    max_running: int = 2


@dataclass(frozen=True)
class RuleConfig:
    base_rate: Fraction
    category_rates: dict
    tiers: tuple[Tier, ...]
    green_categories: dict
    green_flagged: Fraction
    campaigns: tuple[Campaign, ...]
    birthday_points: int
    credit_multiplier: Fraction
    per_purchase_cap: int | None
    daily_cap: int | None
    min_purchase_fen: int
    raw: dict = field(compare=False, repr=False)
    merchant_limits: MerchantLimits = MerchantLimits()

    def tier_for(self, points_12m: int) -> Tier:
        eligible = [t for t in self.tiers if points_12m >= t.min_points]
        return max(eligible, key=lambda t: t.min_points)

    def tier_named(self, name: str) -> Tier:
        for tier in self.tiers:
            if tier.name == name:
                return tier
        raise KeyError(name)


CAMPAIGN_KINDS = ("multiplier", "bonus", "cross_category", "first_purchase")


def parse_config(doc: dict) -> RuleConfig:
    """Validate a rule-set document and return the typed configuration."""
    if not isinstance(doc, dict):
        raise RuleConfigError("the rule set must be a JSON object")
    base = doc.get("base") or {}
    tiers_doc = doc.get("tiers") or []
    green = doc.get("green") or {}
    caps = doc.get("caps") or {}
    if not isinstance(base, dict) or not isinstance(green, dict) or not isinstance(caps, dict):
        raise RuleConfigError("base, green and caps must be objects")
    category_rates = {}
    for category, rate in (base.get("by_category") or {}).items():
        category_rates[_text(category, "base.by_category key", 40)] = _rate(rate, f"base.by_category.{category}")
    if not isinstance(tiers_doc, list) or not tiers_doc:
        raise RuleConfigError("tiers: at least one tier is required")
    tiers = []
    for i, t in enumerate(tiers_doc):
        if not isinstance(t, dict):
            raise RuleConfigError(f"tiers[{i}] must be an object")
        tiers.append(Tier(_text(t.get("name"), f"tiers[{i}].name", 20),
                          _int(t.get("min_points"), f"tiers[{i}].min_points"),
                          _rate(t.get("multiplier", "1"), f"tiers[{i}].multiplier")))
    if not any(t.min_points == 0 for t in tiers):
        raise RuleConfigError("tiers: one tier must start at 0 points")
    if len({t.name for t in tiers}) != len(tiers):
        raise RuleConfigError("tiers: names must be unique")
    campaigns = []
    for i, c in enumerate(doc.get("campaigns") or []):
        where = f"campaigns[{i}]"
        if not isinstance(c, dict):
            raise RuleConfigError(f"{where} must be an object")
        kind = c.get("kind")
        if kind not in CAMPAIGN_KINDS:
            raise RuleConfigError(f"{where}.kind must be one of {', '.join(CAMPAIGN_KINDS)}")
        starts, ends = _instant(c.get("starts_at"), f"{where}.starts_at"), _instant(c.get("ends_at"), f"{where}.ends_at")
        if ends <= starts:
            raise RuleConfigError(f"{where}: ends_at must be after starts_at")
        categories = c.get("categories") or []
        if not isinstance(categories, list) or not all(isinstance(x, str) for x in categories):
            raise RuleConfigError(f"{where}.categories must be a list of category names")
        if kind == "cross_category" and len(categories) < 2:
            raise RuleConfigError(f"{where}: a cross-category bonus needs at least two categories")
        campaigns.append(Campaign(
            id=_text(c.get("id"), f"{where}.id", 40), kind=kind,
            name_zh=_text(c.get("name_zh"), f"{where}.name_zh"), name_en=_text(c.get("name_en"), f"{where}.name_en"),
            starts_at=starts, ends_at=ends,
            multiplier=_rate(c.get("multiplier", "1"), f"{where}.multiplier") if kind == "multiplier" else Fraction(1),
            points=_int(c.get("points", 0), f"{where}.points", 0, 10**6) if kind != "multiplier" else 0,
            categories=tuple(categories)))
    if len({c.id for c in campaigns}) != len(campaigns):
        raise RuleConfigError("campaigns: ids must be unique")
    per_purchase = caps.get("per_purchase")
    daily = caps.get("per_member_per_day")
    limits = doc.get("merchant_campaigns") or {}
    if not isinstance(limits, dict):
        raise RuleConfigError("merchant_campaigns must be an object")
    allowed = limits.get("allowed", True)
    if not isinstance(allowed, bool):
        raise RuleConfigError("merchant_campaigns.allowed must be true or false")
    default = MerchantLimits()
    merchant_limits = MerchantLimits(
        allowed=allowed,
        max_multiplier=_rate(limits.get("max_multiplier", rate_text(default.max_multiplier)),
                             "merchant_campaigns.max_multiplier"),
        max_bonus_points=_int(limits.get("max_bonus_points", default.max_bonus_points),
                              "merchant_campaigns.max_bonus_points", 0, 10**6),
        max_days=_int(limits.get("max_days", default.max_days), "merchant_campaigns.max_days", 1, 366),
        max_running=_int(limits.get("max_running", default.max_running), "merchant_campaigns.max_running", 0, 20))
    if merchant_limits.max_multiplier < 1:
        raise RuleConfigError("merchant_campaigns.max_multiplier: must be at least 1")
    return RuleConfig(
        base_rate=_rate(base.get("points_per_yuan", "1"), "base.points_per_yuan"),
        category_rates=category_rates,
        tiers=tuple(sorted(tiers, key=lambda t: t.min_points)),
        green_categories={_text(k, "green.categories key", 40): _rate(v, f"green.categories.{k}")
                          for k, v in (green.get("categories") or {}).items()},
        green_flagged=_rate(green.get("flagged_items", "1"), "green.flagged_items"),
        campaigns=tuple(campaigns),
        birthday_points=_int((doc.get("birthday") or {}).get("points", 0), "birthday.points", 0, 10**6),
        credit_multiplier=_rate((doc.get("credit") or {}).get("multiplier", "1"), "credit.multiplier"),
        per_purchase_cap=None if per_purchase is None else _int(per_purchase, "caps.per_purchase", 1),
        daily_cap=None if daily is None else _int(daily, "caps.per_member_per_day", 1),
        min_purchase_fen=_int(caps.get("min_purchase_fen", 0), "caps.min_purchase_fen", 0, MAX_FEN),
        merchant_limits=merchant_limits,
        raw=doc,
    )


@dataclass(frozen=True)
class Item:
    category: str
    amount_fen: int
    green: bool = False
    sku: str = ""
    name: str = ""
    quantity: int = 1


@dataclass(frozen=True)
class MemberContext:
    """What the engine needs to know about the member at the purchase instant."""

    tier: str = "normal"
    good_credit: bool = False
    birthday_month: bool = False  # purchase falls in the birthday month and no bonus yet this year
    first_at_merchant: bool = False
    earned_today: int = 0


@dataclass(frozen=True)
class Line:
    rule: str
    points: int
    detail: dict


@dataclass(frozen=True)
class Award:
    points: int
    breakdown: tuple[Line, ...]
    uncapped: int
    notes: tuple[str, ...] = ()

    def as_json(self) -> list[dict]:
        return [{"rule": line.rule, "points": line.points, **line.detail} for line in self.breakdown]


def lines_from_json(document: list[dict]) -> list["Line"]:
    """A stored breakdown (``Award.as_json``) as its lines again."""
    return [Line(entry["rule"], entry["points"], {k: v for k, v in entry.items() if k not in ("rule", "points")})
            for entry in document or []]


def compute(config: RuleConfig, items: list[Item], member: MemberContext, at: datetime,
            merchant_category: str = "", merchant_campaigns: tuple[Campaign, ...] = ()) -> Award:
    """The points a purchase earns, with a per-rule breakdown that sums to the total.
    ``merchant_campaigns`` are the merchant's own (multiplier or bonus), held to the published
    ``merchant_limits``: a multiplier above the limit counts as the limit, a bonus likewise."""
    total_fen = sum(item.amount_fen for item in items)
    if total_fen < config.min_purchase_fen or total_fen <= 0:
        return Award(0, (), 0, ("below_minimum",))

    parts: list[tuple[str, Fraction, dict]] = []
    base = green = Fraction(0)
    earned_by_item = []
    for item in items:
        rate = config.category_rates.get(item.category, config.category_rates.get(merchant_category, config.base_rate))
        item_base = Fraction(item.amount_fen, 100) * rate
        multiplier = max(config.green_categories.get(item.category, Fraction(1)),
                         config.green_flagged if item.green else Fraction(1))
        base += item_base
        green += item_base * (multiplier - 1)
        earned_by_item.append((item, item_base * multiplier))
    parts.append(("base", base, {}))
    if green:
        parts.append(("green", green, {}))
    earning = base + green
    tier = config.tier_named(member.tier) if member.tier in {t.name for t in config.tiers} else config.tiers[0]
    if tier.multiplier != 1:
        parts.append(("tier", earning * (tier.multiplier - 1), {"tier": tier.name}))
    if member.good_credit and config.credit_multiplier != 1:
        parts.append(("credit", earning * (config.credit_multiplier - 1), {}))
    categories = {item.category for item in items}
    for c in config.campaigns:
        if not c.active(at):
            continue
        if c.kind == "multiplier":
            scoped = earning if not c.categories else sum(
                (earned for i, earned in earned_by_item if i.category in c.categories), Fraction(0))
            if scoped:
                parts.append((f"campaign:{c.id}", scoped * (c.multiplier - 1), {}))
        elif c.kind == "bonus" and (not c.categories or categories & set(c.categories)):
            parts.append((f"campaign:{c.id}", Fraction(c.points), {}))
        elif c.kind == "cross_category" and set(c.categories) <= categories:
            parts.append((f"campaign:{c.id}", Fraction(c.points), {}))
        elif c.kind == "first_purchase" and member.first_at_merchant:
            parts.append((f"campaign:{c.id}", Fraction(c.points), {}))
    limits = config.merchant_limits
    for c in merchant_campaigns if limits.allowed else ():
        if not c.active(at):
            continue
        detail = {"campaign": c.id, "name_zh": c.name_zh, "name_en": c.name_en}
        if c.kind == "multiplier":
            scoped = earning if not c.categories else sum(
                (earned for i, earned in earned_by_item if i.category in c.categories), Fraction(0))
            parts.append(("merchant_campaign", scoped * (min(c.multiplier, limits.max_multiplier) - 1), detail))
        elif c.kind == "bonus" and (not c.categories or categories & set(c.categories)):
            parts.append(("merchant_campaign", Fraction(min(c.points, limits.max_bonus_points)), detail))
    if member.birthday_month and config.birthday_points:
        parts.append(("birthday", Fraction(config.birthday_points), {}))

    parts = [(rule, value, detail) for rule, value, detail in parts if value > 0]
    raw = sum((value for _, value, _ in parts), Fraction(0))
    uncapped = int(raw)  # floor: raw is never negative
    total, notes = uncapped, []
    if config.per_purchase_cap is not None and total > config.per_purchase_cap:
        total, notes = config.per_purchase_cap, notes + ["per_purchase_cap"]
    if config.daily_cap is not None:
        allowance = max(0, config.daily_cap - member.earned_today)
        if total > allowance:
            total, notes = allowance, notes + ["daily_cap"]
    return Award(total, tuple(_apportion(parts, raw, total)), uncapped, tuple(notes))


def _apportion(parts, raw: Fraction, total: int) -> list[Line]:
    """Split ``total`` over the parts in proportion to their exact values (largest remainder)."""
    if total == 0 or raw == 0:
        return []
    shares = [(rule, value * total / raw, detail) for rule, value, detail in parts]
    floors = [int(share) for _, share, _ in shares]
    left = total - sum(floors)
    order = sorted(range(len(shares)), key=lambda i: (-(shares[i][1] - floors[i]), i))
    for i in order[:left]:
        floors[i] += 1
    return [Line(rule, points, detail) for (rule, _, detail), points in zip(shares, floors) if points > 0]


DEFAULT_RULES = {
    "base": {"points_per_yuan": "1", "by_category": {}},
    "tiers": [
        {"name": "normal", "min_points": 0, "multiplier": "1.0"},
        {"name": "silver", "min_points": 5000, "multiplier": "1.2"},
        {"name": "gold", "min_points": 20000, "multiplier": "1.5"},
    ],
    "green": {
        "categories": {"appliances": "1.5", "public_transport": "2.0", "second_hand": "2.0",
                       "refills": "2.0", "ev_charging": "1.5"},
        "flagged_items": "1.5",
    },
    "campaigns": [],
    "birthday": {"points": 200},
    "credit": {"multiplier": "1.1"},
    "caps": {"per_purchase": 20000, "per_member_per_day": 50000, "min_purchase_fen": 100},
    "merchant_campaigns": {"allowed": True, "max_multiplier": "3", "max_bonus_points": 500, "max_days": 31,
                           "max_running": 2},
}

"""Turning a rule set into what the public pages show (no Flask imports)."""
import json
from dataclasses import dataclass
from datetime import datetime

from mall.ledger import policy
from mall.rules import engine
from mall.rules.engine import rate_text

EXAMPLES = [
    # (id, category, amount_fen, green, tier, good credit)
    ("aircon", "appliances", 12800, True, "normal", False),
    ("groceries", "grocery", 5680, False, "silver", False),
    ("metro", "public_transport", 2000, False, "gold", True),
]




@dataclass
class Example:
    id: str
    category: str
    amount_fen: int
    green: bool
    tier: str
    good_credit: bool
    award: engine.Award


def tier_or_default(config: engine.RuleConfig, tier: str | None) -> str:
    """``tier`` if the rule set has it, else its first (entry) tier."""
    return tier if tier in {t.name for t in config.tiers} else config.tiers[0].name


def one_item(config: engine.RuleConfig, category: str, amount_fen: int, green: bool, tier: str | None,
             good_credit: bool, at: datetime) -> engine.Award:
    """What one item earns, by the engine itself (the calculator and the worked examples)."""
    return engine.compute(config, [engine.Item(category, amount_fen, green)],
                          engine.MemberContext(tier=tier_or_default(config, tier), good_credit=good_credit), at)


def examples(config: engine.RuleConfig, at: datetime) -> list[Example]:
    """The published worked examples, computed by the engine itself (no campaigns, no caps of the day)."""
    return [Example(ex_id, category, amount, green, tier_or_default(config, tier), credit,
                    one_item(config, category, amount, green, tier, credit, at))
            for ex_id, category, amount, green, tier, credit in EXAMPLES]


def campaigns_by_state(config: engine.RuleConfig, at: datetime):
    running = [c for c in config.campaigns if c.active(at)]
    upcoming = sorted((c for c in config.campaigns if c.starts_at > at), key=lambda c: c.starts_at)
    past = [c for c in config.campaigns if c.ends_at <= at]
    return running, upcoming, past


def page(rule_set, expiry_policy: str, now: datetime) -> dict:
    """Everything the rules page shows of ``rule_set``, derived from the very document the engine applies."""
    config = engine.parse_config(rule_set.document)
    running, upcoming, past = campaigns_by_state(config, now)
    return {"rule_set": rule_set, "config": config, "rate": rate_text, "running": running, "upcoming": upcoming,
            "past": past, "examples": examples(config, now), "expiry": policy.describe(expiry_policy)}


def flatten(doc, prefix: str = "") -> dict[str, str]:
    """A rule-set document as {path: value} lines, for a readable diff."""
    lines = {}
    if isinstance(doc, dict):
        for key in sorted(doc):
            lines.update(flatten(doc[key], f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            name = value.get("id") or value.get("name") if isinstance(value, dict) else None
            lines.update(flatten(value, f"{prefix}[{name or index}]"))
    else:
        lines[prefix] = json.dumps(doc, ensure_ascii=False)
    return lines


def diff(old: dict, new: dict) -> list[tuple[str, str | None, str | None]]:
    """(path, old value, new value) for every line that differs."""
    a, b = flatten(old), flatten(new)
    return [(path, a.get(path), b.get(path)) for path in sorted(set(a) | set(b)) if a.get(path) != b.get(path)]

"""Recording the CO2e of purchases and orders made before impact accounting existed. Callers own the
transaction; functions flush, never commit."""
from sqlalchemy.orm import Session

from mall.checkout import service as checkout
from mall.impact import service as impact
from mall.rules import service as rules


def backfill(session: Session, source: str, after_id: int = 0, batch: int = 500) -> int | None:
    """Record entries for one batch of purchases or orders (``source``) with ids above ``after_id``;
    returns the last id seen (None when done). Idempotent: rows that already have entries are skipped.
    Orders use the CO2e fixed on their lines; purchases the category factors in force now and the green
    categories of the rule set they were awarded under."""
    if source == "purchase":
        rows = rules.purchases_after(session, after_id, batch)
    else:
        rows = checkout.orders_after(session, after_id, batch)
    if not rows:
        return None
    recorded = impact.recorded(session, source, [r.id for r in rows])
    table, configs = impact.factors(session), {}  # read once per batch, not once per purchase
    for row in rows:
        if row.id in recorded:
            continue
        if source == "purchase":
            if row.rule_set_version not in configs:
                configs[row.rule_set_version] = rules.config_of(rules.get_version(session, row.rule_set_version))
            impact.record_purchase(session, row.id, row.member_id, row.occurred_at, row.items,
                                   configs[row.rule_set_version].green_categories, table)
            if row.refunded_fen:
                impact.purchase_refunded(session, row.id, row.total_fen, row.refunded_fen)
        else:
            impact.sync_order(session, row)
    return rows[-1].id

"""Plain words for ledger rows: "Earned at 便利蜂 · order #123"."""
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from mall.ledger.service import StatementRow
from mall.merchant.models import Merchant

KIND_LABELS = {
    "earn": _l("Earned"), "redeem": _l("Redeemed"), "refund": _l("Refunded"),
    "compensate": _l("Compensation"), "gift": _l("Gift"), "pool_in": _l("To family pool"),
    "pool_out": _l("From family pool"), "donate": _l("Donated"), "match": _l("Matched donation"),
    "expire": _l("Expired"), "clawback": _l("Clawed back"), "adjust": _l("Adjustment"),
    "award": _l("Reward"), "game": _l("Game"), "payout": _l("Payout"), "forfeit": _l("Forfeited"),
    "reversal": _l("Reversal"), "bill": _l("Paid a bill"),
}

SYSTEM_LABELS = {
    "issuance": _l("the programme"), "redemption": _l("the mall"), "expiry": _l("expiry"),
    "compensation": _l("the programme"), "game_budget": _l("games and tasks"),
    "payout": _l("payout"), "forfeit": _l("forfeit"),
}


def describe(session, rows: list[StatementRow], locale: str) -> list[str]:
    """One sentence per row, with counterpart names loaded in one query."""
    merchant_ids = {r.counterparty.owner_id for r in rows if r.counterparty.owner_kind == "merchant"}
    merchants = {}
    if merchant_ids:
        merchants = {m.id: m.name(locale) for m in session.scalars(
            select(Merchant).where(Merchant.id.in_(merchant_ids)))}
    sentences = []
    for row in rows:
        t, other = row.transfer, row.counterparty
        label = str(KIND_LABELS.get(t.kind, t.kind))
        if other.owner_kind == "merchant":
            where = merchants.get(other.owner_id, "")
        elif other.owner_kind == "system":
            where = str(SYSTEM_LABELS.get(other.name, other.name))
        else:
            where = ""
        parts = [f"{label} · {where}" if where else label]
        if t.memo:
            parts.append(t.memo)
        if t.ref_type and t.ref_type != "lot":
            parts.append(f"#{t.ref_id}")
        sentences.append(" · ".join(parts))
    return sentences

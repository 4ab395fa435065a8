"""Plain words for ledger rows: "Earned at 便利蜂 · order #123"."""
from flask_babel import lazy_gettext as _l

from mall.ledger.service import StatementRow
from mall.coalition import service as merchants

KIND_LABELS = {
    "earn": _l("Earned"), "redeem": _l("Redeemed"), "refund": _l("Refunded"),
    "compensate": _l("Compensation"), "gift": _l("Gift"), "pool_in": _l("To family pool"),
    "pool_out": _l("From family pool"), "donate": _l("Donated"), "match": _l("Matched donation"),
    "expire": _l("Expired"), "clawback": _l("Clawed back"), "adjust": _l("Adjustment"),
    "award": _l("Reward"), "game": _l("Game"), "payout": _l("Payout"), "forfeit": _l("Forfeited"),
    "reversal": _l("Reversal"), "bill": _l("Paid a bill"),
}

SYSTEM_LABELS = {
    "issuance": _l("the programme"), "redemption": _l("the mall"),
    "compensation": _l("the programme"), "game_budget": _l("games and tasks"),
    "payout": _l("payout"), "forfeit": _l("forfeit"),
}  # no words for "expiry": "Expired" says it all

PEER_LABELS = {  # (counterparty kind, points came in?) -> words; never another member's name
    ("member", True): _l("from another member"), ("member", False): _l("to another member"),
    ("family", True): _l("from the family pool"), ("family", False): _l("to the family pool"),
    ("charity", True): _l("from a charity project"), ("charity", False): _l("to a charity project"),
}


def kind_label(kind: str) -> str:
    return str(KIND_LABELS.get(kind, kind))


def describe(session, rows: list[StatementRow], locale: str) -> list[str]:
    """One sentence per row, with counterpart names loaded in one query."""
    names = merchants.names_of(
        session, {r.counterparty.owner_id for r in rows if r.counterparty.owner_kind == "merchant"}, locale)
    sentences = []
    for row in rows:
        t, other = row.transfer, row.counterparty
        label = kind_label(t.kind)
        if row.reverses_kind:
            label = f"{label} ({kind_label(row.reverses_kind)})"
        if other.owner_kind == "merchant":
            where = names.get(other.owner_id, "")
        elif other.owner_kind == "system":
            where = str(SYSTEM_LABELS.get(other.name, ""))
        else:
            where = str(PEER_LABELS.get((other.owner_kind, row.delta > 0), ""))
        parts = [f"{label} · {where}" if where else label]
        if t.memo:
            parts.append(t.memo)
        if t.ref_type and t.ref_type != "lot":
            parts.append(f"#{t.ref_id}")
        sentences.append(" · ".join(parts))
    return sentences

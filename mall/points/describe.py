"""Plain words for ledger rows: "兑换 有机大米 5kg · 绿邻便利店", linking to the order."""
import re
from dataclasses import dataclass, field
from typing import Callable

from flask_babel import lazy_gettext as _l

from mall import labels
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


ORDER_MEMO = re.compile(r"^order #(\d+)$")  # a checkout posting's leg names its order
# memos written for the ledger's readers, not the member's: ids, receipt numbers, the posting's own words
MACHINE_MEMO = re.compile(r"^(?:(?:order|family|bill) #\d+|gift|refund|CH\d{8}-\d+)$")
PLAY_SUFFIX = re.compile(r",? (?:game )?play #\d+$")


@dataclass(frozen=True)
class Line:
    """A statement row in words, and the page that shows what it was for (endpoint and values), if any."""
    text: str
    endpoint: str | None = None
    values: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return self.text


RESOLVERS: dict[str, Callable] = {}  # reference type -> (session, owner id, ref ids, locale) -> {id: Reference}


def resolves(ref_type: str, resolver: Callable) -> None:
    """Name the references of ``ref_type`` with ``resolver`` (the app factory registers each area's)."""
    RESOLVERS[ref_type] = resolver


def _reference_key(transfer) -> tuple[str, str] | None:
    if transfer.ref_type in ("checkout", "order"):  # a redemption and its refund name their order
        found = ORDER_MEMO.match(transfer.memo or "")
        if found:
            return "order", found.group(1)
        return ("order", transfer.ref_id) if transfer.ref_type == "order" else None
    return (transfer.ref_type, transfer.ref_id) if transfer.ref_type else None


def _memo_words(memo: str, locale: str, names: set[str]) -> str:
    """A memo people may read: an operator's or merchant's own words as written, one half of a bilingual
    one; none that repeats a merchant's name or is a code (an order number, a receipt number)."""
    memo = PLAY_SUFFIX.sub("", (memo or "").strip())
    if not memo or MACHINE_MEMO.match(memo) or memo in names:
        return ""
    found = labels.BILINGUAL.match(memo)
    if found and (found.group("zh").strip() in names or found.group("en").strip() in names):
        return ""
    return labels.in_language(memo, locale)


def describe(session, rows: list[StatementRow], locale: str, owner_id: int | None = None) -> list[Line]:
    """One line per row, in the page's language: the kind, what it was for (the items of an order, the
    amount of a purchase, a donation's project, a game) and where (the merchant), with the page showing
    it when ``owner_id`` (the statement's member) may open it. Names are read once per page."""
    names = merchants.names_of(
        session, {r.counterparty.owner_id for r in rows if r.counterparty.owner_kind == "merchant"}, locale)
    wanted: dict[str, set[str]] = {}
    for row in rows:
        key = _reference_key(row.transfer)
        if key and key[0] in RESOLVERS:
            wanted.setdefault(key[0], set()).add(key[1])
    found = {}
    if owner_id is not None:
        for ref_type, ids in wanted.items():
            for ref_id, reference in RESOLVERS[ref_type](session, owner_id, ids, locale).items():
                found[(ref_type, ref_id)] = reference
    merchant_names = set(names.values())
    lines = []
    for row in rows:
        t, other = row.transfer, row.counterparty
        label = kind_label(t.kind)
        if row.reverses_kind and t.kind == "reversal":
            label = f"{label} ({kind_label(row.reverses_kind)})"
        if other.owner_kind == "merchant":
            where = names.get(other.owner_id, "")
        elif other.owner_kind == "system":
            where = str(SYSTEM_LABELS.get(other.name, ""))
        else:
            where = str(PEER_LABELS.get((other.owner_kind, row.delta > 0), ""))
        reference = found.get(_reference_key(t))
        what = reference.words if reference else _memo_words(t.memo, locale, merchant_names)
        text = " ".join(part for part in (label, what) if part)
        if reference and other.owner_kind != "merchant":
            where = ""  # a donation's project, a game: the words say it already
        if where:
            text = f"{text} · {where}"
        lines.append(Line(text, reference.endpoint, reference.values) if reference and reference.endpoint
                     else Line(text))
    return lines

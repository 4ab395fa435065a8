"""Earning channels: partners outside the mall (a bank's green card programme, a metro or bus operator,
an EV charging network) that award points through ``POST /api/v1/channel-events``.

A channel is a coalition merchant of its own (its issuance account pays the points; its API keys post
the events). An event is what the member spent with the partner — the fare, the charging bill, a green
card purchase and its category — and, for transit and charging, how many rides or kWh: it becomes a
purchase at the channel, so the published rules (base points, green bonus, tier, caps, campaigns) award
it with their breakdown, plus the channel's own points per unit as one more line. The member is named
by member code, or by the card or transit account they linked (only a keyed hash of its number and a
masked number are kept). Flush, never commit.
"""
import hashlib
import hmac
import re

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from mall.account.models import User
from mall.clock import utcnow
from mall.coalition import service as coalition
from mall.coalition.models import Merchant
from mall.errors import Conflict, DomainError, NotFound
from mall.rules import engine
from mall.rules import service as rules
from mall.rules.models import CHANNEL_KINDS, ChannelEvent, ChannelLink, EarningChannel, Purchase
from mall.settings import settings_of
from mall.validation import strict_int, strict_text

# the category a channel's merchant has, and of what it reports (a bank card names each purchase's)
KIND_CATEGORY = {"bank_card": "bank_card", "transit": "public_transport", "ev_charging": "ev_charging"}
KIND_UNIT = {"bank_card": None, "transit": "ride", "ev_charging": "kwh"}
MAX_LINKS = 5


def channels(session: Session, active_only: bool = True) -> list[EarningChannel]:
    stmt = select(EarningChannel).order_by(EarningChannel.id)
    if active_only:
        stmt = stmt.where(EarningChannel.active.is_(True))
    return list(session.scalars(stmt))


def create_channel(session: Session, operator: User, *, kind: str, name_zh: str, name_en: str, points_per_unit: int,
                   rule_zh: str, rule_en: str) -> EarningChannel:
    """An operator registers a channel: its merchant (approved, with its ledger accounts) and its rule."""
    if operator is None or not operator.is_operator:
        raise NotFound(_l("Not found."))
    if kind not in CHANNEL_KINDS:
        raise DomainError(_l("Choose the kind of channel."), field="kind")
    name_zh, name_en = " ".join((name_zh or "").split())[:120], " ".join((name_en or "").split())[:120]
    if not name_zh or not name_en:
        raise DomainError(_l("Give the channel's name in Chinese and English."), field="name_zh")
    if not isinstance(points_per_unit, int) or isinstance(points_per_unit, bool) or not 0 <= points_per_unit <= 1000:
        raise DomainError(_l("Points per unit are a whole number from 0 to 1,000."), field="points_per_unit")
    if kind == "bank_card" and points_per_unit:
        raise DomainError(_l("A card programme earns by the rules on what is spent; it has no points per unit."),
                          field="points_per_unit")
    slug = re.sub(r"[^a-z0-9]+", "-", name_en.lower()).strip("-")[:40] or "channel"
    while coalition.get_by_slug(session, slug) is not None:
        slug = f"{slug}-x"
    merchant = coalition.create_merchant(session, slug=slug, name_zh=name_zh, name_en=name_en,
                                         category=KIND_CATEGORY[kind], status="approved")
    row = EarningChannel(merchant_id=merchant.id, kind=kind, name_zh=name_zh, name_en=name_en,
                         points_per_unit=points_per_unit, rule_zh=(rule_zh or "").strip()[:300],
                         rule_en=(rule_en or "").strip()[:300], active=True, created_at=utcnow())
    session.add(row)
    session.flush()
    return row


def channel_of(session: Session, merchant: Merchant) -> EarningChannel:
    """The channel an API key's merchant is; any other merchant may not post channel events (403)."""
    row = session.scalar(select(EarningChannel).where(EarningChannel.merchant_id == merchant.id))
    if row is None or not row.active:
        raise NotAChannel(_l("Only an earning channel's key may post channel events."))
    return row


class NotAChannel(DomainError):
    """A merchant's key was used for a channel's endpoint."""

    status = 403
    code = "not-a-channel"


# ---------------------------------------------------------------- a member's linked accounts

def _number(raw: str) -> str:
    return re.sub(r"[\s-]", "", raw or "").upper()


def _token(session: Session, channel_id: int, number: str) -> str:
    key = settings_of(session).ledger_key  # a secret never stored in the database
    return hmac.new(key, f"channel:{channel_id}:{number}".encode(), hashlib.sha256).hexdigest()


def links_of(session: Session, member: User) -> list[ChannelLink]:
    return list(session.scalars(select(ChannelLink).where(ChannelLink.member_id == member.id)
                                .order_by(ChannelLink.id)))


def link(session: Session, member: User, channel_id: int, number: str) -> ChannelLink:
    """The member links a card or transit account to their membership."""
    if member.role != "member":
        raise NotFound(_l("Not found."))
    channel = session.get(EarningChannel, channel_id)
    if channel is None or not channel.active:
        raise NotFound(_l("No such channel."))
    number = _number(number)
    if not re.fullmatch(r"[0-9A-Z]{8,24}", number):
        raise DomainError(_l("Type the card or account number: 8 to 24 letters and digits."), field="number")
    token = _token(session, channel.id, number)
    existing = session.scalar(select(ChannelLink).where(ChannelLink.token_hash == token))
    if existing is not None:
        if existing.member_id == member.id:
            return existing
        raise Conflict(_l("This card or account is already linked to another membership."), code="linked-elsewhere")
    if len(links_of(session, member)) >= MAX_LINKS:
        raise Conflict(_l("You can link at most 5 cards and accounts."), code="link-limit")
    row = ChannelLink(channel_id=channel.id, member_id=member.id, token_hash=token,
                      masked=f"{number[:4]} **** {number[-4:]}", created_at=utcnow())
    session.add(row)
    session.flush()
    return row


def unlink(session: Session, member: User, link_id: int) -> None:
    row = session.get(ChannelLink, link_id)
    if row is None or row.member_id != member.id:
        raise NotFound(_l("No such linked account."))
    session.delete(row)
    session.flush()


# ---------------------------------------------------------------- events

class InvalidEvent(rules.InvalidPurchase):
    """A channel event that does not validate (the same problem shape as a purchase's)."""

    code = "invalid-event"

    def __init__(self, errors: list[dict]):
        super().__init__(errors)
        self.message = "The event is not valid."
        self.args = (self.message,)


def record_event(session: Session, merchant: Merchant, doc) -> tuple[ChannelEvent, Purchase, str]:
    """A channel's event: validated, its member found, awarded by the rules. Returns (event, purchase,
    member code). The same reference twice is refused (409): the Idempotency-Key replays an answer."""
    channel = channel_of(session, merchant)
    errors: list[dict] = []
    if not isinstance(doc, dict):
        raise InvalidEvent([{"field": "", "message": "the body must be a JSON object"}])
    reference = strict_text(doc.get("reference"), "reference", errors, 64)
    amount = strict_int(doc.get("amount_fen"), "amount_fen", errors, 1, engine.MAX_FEN)
    unit = KIND_UNIT[channel.kind]
    if unit:  # rides, or whole kWh
        quantity = strict_int(doc.get("quantity", 1), "quantity", errors, 1, 10000)
    else:
        quantity = 1
        if "quantity" in doc:
            errors.append({"field": "quantity", "message": "a card programme reports no quantity"})
    category = KIND_CATEGORY[channel.kind]
    green = True
    if channel.kind == "bank_card":
        category = strict_text(doc.get("category"), "category", errors, 40)
        green = doc.get("green", False)
        if not isinstance(green, bool):
            errors.append({"field": "green", "message": "must be true or false"})
    code, account = doc.get("member_code"), doc.get("account")
    if (code is None) == (account is None):
        errors.append({"field": "member_code", "message": "give either member_code or account (a linked number)"})
    elif account is not None:
        number = strict_text(account, "account", errors, 40)
        if number is not None:
            found = session.scalar(select(ChannelLink).where(
                ChannelLink.token_hash == _token(session, channel.id, _number(number))))
            if found is None:
                raise NotFound(_l("No member has linked this card or account."), code="unknown-account")
            code = session.get(User, found.member_id).member_code
    if errors:
        raise InvalidEvent(errors)
    if session.scalar(select(ChannelEvent.id).where(ChannelEvent.channel_id == channel.id,
                                                     ChannelEvent.reference == reference)) is not None:
        raise Conflict(_l("An event with this reference was recorded already."), code="duplicate-reference")
    item = {"category": category.lower(), "amount_fen": amount, "quantity": quantity, "green": green,
            "name": f"{channel.name_en}"[:80]}
    try:
        purchase = rules.parse_purchase({"member_code": code, "total_fen": amount,
                                         "occurred_at": doc.get("occurred_at"), "items": [item]})
    except rules.InvalidPurchase as err:  # the time, or a category too long: the event's own fields
        raise InvalidEvent(err.errors) from err
    bonus = None
    if unit and channel.points_per_unit:
        bonus = engine.Line("channel", channel.points_per_unit * quantity,
                            {"unit": unit, "quantity": quantity, "per_unit": channel.points_per_unit})
    row = rules.award_purchase(session, merchant, purchase, bonus=bonus)
    event = ChannelEvent(channel_id=channel.id, reference=reference, purchase_id=row.id, quantity=quantity,
                         created_at=utcnow())
    session.add(event)
    session.flush()
    return event, row, purchase.member_code

"""Paying part of a till bill with points: the merchant asks, the member approves (in the mall, or by
telling the cashier the one-time code shown there).

A code is short, so guessing it is made useless: it is valid for a few minutes, every try is counted
on the request (a wrong one is committed although it is refused), the request is void after the last
allowed wrong try (and the member told), a merchant may keep only a few requests waiting per member,
and the views limit the tries per caller and per member (see mall.checkout.limits)."""
import re
import secrets
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from mall import events
from mall.account import service as accounts
from mall.account.models import User
from mall.checkout.models import BillPayment
from mall.clock import utcnow
from mall.db import lock
from mall.errors import Conflict, DomainError, InsufficientPoints, NotFound
from mall.ledger import service as ledger
from mall.numbers import format_fen
from mall.references import Reference
from mall.coalition.models import Merchant
from mall.coalition.service import terms_of
from mall.settings import settings_of
from mall.validation import is_whole

MAX_BILL_FEN = 10**9
CODE = re.compile(r"[0-9]{6}")  # ASCII only: \d would take full-width digits too


class Refused(DomainError):
    """A refusal whose record stands: a counted try of the code, or a request found expired."""
    commits = True


class Voided(Refused):
    status = 409
    code = "voided"


def _strict(value, name, low, high):
    if not is_whole(value, low, high):
        raise DomainError(_l("%(name)s must be a whole number from %(low)s to %(high)s.", name=name, low=low, high=high),
                          code="invalid-bill", field=name)
    return value


def points_for_fen(session: Session, fen: int) -> int:
    return fen * settings_of(session).bill_points_per_yuan // 100


def fen_for_points(session: Session, points: int) -> int:
    return points * 100 // settings_of(session).bill_points_per_yuan


def request_payment(session: Session, merchant: Merchant, member_code: str, bill_fen, points_fen=None,
                    reference: str = "", now: datetime | None = None) -> BillPayment:
    """Ask a member to pay up to ``points_fen`` of a bill with points (capped at the published share)."""
    now = now or utcnow()
    settings = settings_of(session)
    if merchant.status != "approved":
        raise DomainError(_l("This merchant is not approved."), code="merchant-not-approved")
    bill_fen = _strict(bill_fen, "bill_fen", 1, MAX_BILL_FEN)
    share = terms_of(session, merchant).bill_max_share_percent  # the merchant's, else the programme's
    cap = bill_fen * share // 100
    points_fen = cap if points_fen is None else _strict(points_fen, "points_fen", 1, MAX_BILL_FEN)
    if points_fen > cap:
        raise DomainError(_l("At most %(percent)s%% of a bill can be paid with points.",
                             percent=share), code="over-cap", cap_fen=cap)
    member = accounts.get_member_by_code(session, member_code)
    # Writers are serialised (mall.db.write), so counting and adding cannot race past the cap.
    waiting = session.scalar(select(func.count()).select_from(BillPayment).where(
        BillPayment.merchant_id == merchant.id, BillPayment.member_id == member.id,
        BillPayment.status == "pending", BillPayment.expires_at > now))
    if waiting >= settings.bill_max_pending:
        raise Conflict(_l("This member already has %(count)s requests from you waiting: wait until they are "
                          "decided or expire.", count=waiting), code="too-many-pending", waiting=waiting)
    points = points_for_fen(session, points_fen)
    if points <= 0:
        raise DomainError(_l("The amount is too small to pay with points."), code="too-small")
    bill = BillPayment(merchant_id=merchant.id, member_id=member.id, bill_fen=bill_fen, points_requested=points,
                       cash_due_fen=bill_fen, one_time_code=_code(session), reference=(reference or "")[:64],
                       expires_at=now + timedelta(minutes=settings.bill_code_valid_minutes), created_at=now)
    session.add(bill)
    session.flush()
    events.bill_requested.send(session, bill_id=bill.id, member_id=member.id, merchant_id=merchant.id,
                               points=points, bill_fen=bill_fen, points_fen=points_fen, code=bill.one_time_code,
                               expires_at=bill.expires_at)
    return bill


def _code(session: Session) -> str:
    while True:
        code = f"{secrets.randbelow(10**6):06d}"
        if session.scalar(select(BillPayment.id).where(BillPayment.one_time_code == code,
                                                       BillPayment.status == "pending")) is None:
            return code


def pending_for(session: Session, member: User, now: datetime | None = None) -> list[BillPayment]:
    now = now or utcnow()
    return session.scalars(select(BillPayment).where(BillPayment.member_id == member.id, BillPayment.status == "pending",
                                                     BillPayment.expires_at > now).order_by(BillPayment.id.desc())).all()


def get_for_member(session: Session, member: User, bill_id: int) -> BillPayment:
    bill = session.get(BillPayment, bill_id)
    if bill is None or bill.member_id != member.id:
        raise NotFound(_l("No such payment request."))
    return bill


def get_for_merchant(session: Session, merchant: Merchant, bill_id: int) -> BillPayment:
    bill = session.get(BillPayment, bill_id)
    if bill is None or bill.merchant_id != merchant.id:
        raise NotFound(_l("No such payment request."))
    return bill


def member_of(session: Session, bill_id: int) -> int | None:
    """The member a request is addressed to (one primary-key read), for the per-member rate limit."""
    return session.scalar(select(BillPayment.member_id).where(BillPayment.id == bill_id))


def _refuse_unless_open(session: Session, bill: BillPayment, now: datetime) -> None:
    if bill.status == "voided":
        raise Voided(_l("This payment request is void: its one-time code was typed wrong too many times. "
                        "The till has to send a new one."))
    if bill.status != "pending":
        raise Conflict(_l("This payment request has already been decided."), code="decided")
    if bill.expires_at <= now:
        bill.status = "expired"
        session.flush()
        raise Refused(_l("This payment request has expired: the till has to send a new one."), code="expired")


def approve(session: Session, bill: BillPayment, now: datetime | None = None) -> BillPayment:
    """Move the points (all requested, or the whole balance if less) and work out the cash still due."""
    now = now or utcnow()
    bill = lock(session, BillPayment, [bill.id])[bill.id]
    _refuse_unless_open(session, bill, now)
    wallet = ledger.member_account(session, bill.member_id)
    wallet = ledger.lock_accounts(session, [wallet.id])[wallet.id]
    points = min(bill.points_requested, ledger.spendable(session, wallet, now))
    points -= points % max(1, settings_of(session).bill_points_per_yuan // 100)  # whole fen only
    if points <= 0:
        raise InsufficientPoints(_l("You have no points to pay with."))
    posting = ledger.transfer(session, wallet, ledger.open_account(session, "merchant", bill.merchant_id, "redemption"),
                              points, "bill", key=f"bill:{bill.id}", memo=bill.reference or f"bill #{bill.id}",
                              actor_id=bill.member_id, ref=("bill", str(bill.id)), now=now)
    bill.points_used, bill.cash_due_fen = points, bill.bill_fen - fen_for_points(session, points)
    bill.status, bill.decided_at, bill.transfer_id = "approved", now, posting.transfer.id
    session.flush()
    return bill


def decline(session: Session, bill: BillPayment, now: datetime | None = None) -> BillPayment:
    if bill.status != "pending":
        raise Conflict(_l("This payment request has already been decided."), code="decided")
    bill.status, bill.decided_at = "declined", now or utcnow()
    session.flush()
    return bill


def decide(session: Session, member: User, bill_id: int, decision: str) -> BillPayment:
    """The member approves ("approve") or declines one of their payment requests in the mall."""
    bill = get_for_member(session, member, bill_id)
    return approve(session, bill) if decision == "approve" else decline(session, bill)


def confirm_by_code(session: Session, merchant: Merchant, bill_id: int, code: str,
                    now: datetime | None = None) -> BillPayment:
    """The cashier types the one-time code the member reads from the mall: that is the member's consent.

    Every try takes one of the request's ``max_code_attempts`` in a conditional UPDATE before the code is
    compared, so parallel tries from any number of workers get no more than that in total; a wrong or
    malformed code is refused with the count committed, and the last allowed wrong one voids the request."""
    now = now or utcnow()
    max_attempts = settings_of(session).bill_max_code_attempts
    bill = get_for_merchant(session, merchant, bill_id)
    _refuse_unless_open(session, bill, now)
    tries = session.scalar(
        update(BillPayment).where(BillPayment.id == bill.id, BillPayment.status == "pending",
                                  BillPayment.code_attempts < max_attempts)
        .values(code_attempts=BillPayment.code_attempts + 1).returning(BillPayment.code_attempts))
    if tries is None:  # decided meanwhile, or out of tries (the limit was lowered since)
        session.refresh(bill)
        _refuse_unless_open(session, bill, now)
        _void(session, bill, merchant, now)
    code = (code or "").strip()
    well_formed = CODE.fullmatch(code) is not None
    if well_formed and secrets.compare_digest(bill.one_time_code.encode(), code.encode()):
        return approve(session, bill, now)
    left = max_attempts - tries
    if left <= 0:
        _void(session, bill, merchant, now)
    if not well_formed:
        raise Refused(_l("The one-time code is 6 digits from 0 to 9. Tries left before the request is void: "
                         "%(left)s.", left=left), code="invalid-code", attempts_left=left)
    raise Refused(_l("The one-time code does not match. Tries left before the request is void: %(left)s.",
                     left=left), code="wrong-code", attempts_left=left)


def _void(session: Session, bill: BillPayment, merchant: Merchant, now: datetime):
    """Out of tries: the request can no longer be approved, and the member hears of it."""
    bill.status, bill.decided_at = "voided", now
    accounts.notify(session, bill.member_id, "bill_voided",
                    {"bill_id": bill.id, "points": bill.points_requested, "merchant_zh": merchant.name_zh,
                     "merchant_en": merchant.name_en}, dedupe_key=f"bill:voided:{bill.id}")
    session.flush()
    raise Voided(_l("The one-time code was typed wrong too many times: this payment request is now void. "
                    "The till has to send a new one."))


def recent_for(session: Session, merchant: Merchant, limit: int = 20) -> list[BillPayment]:
    return session.scalars(select(BillPayment).where(BillPayment.merchant_id == merchant.id)
                           .order_by(BillPayment.id.desc()).limit(limit)).all()


def merchant_names(session: Session, bills: list[BillPayment], locale: str) -> dict[int, str]:
    """The requesting merchants' names, in one query."""
    ids = {bill.merchant_id for bill in bills}
    if not ids:
        return {}
    return {m.id: m.name(locale) for m in session.scalars(select(Merchant).where(Merchant.id.in_(ids)))}


def bill_references(session: Session, user_id: int, ids: set[str], locale: str) -> dict:
    """The statement's words for the member's till bills ``ids``: the bill's amount (the merchant is
    named beside it), linking to their bills."""
    wanted = {int(i) for i in ids if i.isdigit()}
    rows = session.scalars(select(BillPayment).where(BillPayment.id.in_(wanted), BillPayment.member_id == user_id)
                           ).all() if wanted else []
    return {str(b.id): Reference(format_fen(b.bill_fen), "checkout.bills") for b in rows}

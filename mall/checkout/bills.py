"""Paying part of a till bill with points: the merchant asks, the member approves (in the mall, or by
telling the cashier the one-time code shown there)."""
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from mall.account import service as accounts
from mall.account.models import User
from mall.checkout.models import BillPayment
from mall.errors import Conflict, DomainError, NotFound
from mall.ledger import service as ledger
from mall.merchant.models import Merchant
from mall.models import utcnow

settings = {"points_per_yuan": 100, "max_share_percent": 50, "valid_minutes": 15}
MAX_BILL_FEN = 10**9


def _strict(value, name, low, high):
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise DomainError(f"{name} must be an integer from {low} to {high}.", code="invalid-bill", field=name)
    return value


def points_for_fen(fen: int) -> int:
    return fen * settings["points_per_yuan"] // 100


def fen_for_points(points: int) -> int:
    return points * 100 // settings["points_per_yuan"]


def request_payment(session: Session, merchant: Merchant, member_code: str, bill_fen, points_fen=None,
                    reference: str = "", now: datetime | None = None) -> BillPayment:
    """Ask a member to pay up to ``points_fen`` of a bill with points (capped at the published share)."""
    now = now or utcnow()
    if merchant.status != "approved":
        raise DomainError("This merchant is not approved.", code="merchant-not-approved")
    bill_fen = _strict(bill_fen, "bill_fen", 1, MAX_BILL_FEN)
    cap = bill_fen * settings["max_share_percent"] // 100
    points_fen = cap if points_fen is None else _strict(points_fen, "points_fen", 1, MAX_BILL_FEN)
    if points_fen > cap:
        raise DomainError(f"At most {settings['max_share_percent']}% of a bill can be paid with points.",
                          code="over-cap", cap_fen=cap)
    member = accounts.get_member_by_code(session, member_code)
    points = points_for_fen(points_fen)
    if points <= 0:
        raise DomainError("The amount is too small to pay with points.", code="too-small")
    bill = BillPayment(merchant_id=merchant.id, member_id=member.id, bill_fen=bill_fen, points_requested=points,
                       cash_due_fen=bill_fen, one_time_code=_code(session), reference=(reference or "")[:64],
                       expires_at=now + timedelta(minutes=settings["valid_minutes"]), created_at=now)
    session.add(bill)
    session.flush()
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
        raise NotFound("No such payment request.")
    return bill


def get_for_merchant(session: Session, merchant: Merchant, bill_id: int) -> BillPayment:
    bill = session.get(BillPayment, bill_id)
    if bill is None or bill.merchant_id != merchant.id:
        raise NotFound("No such payment request.")
    return bill


def approve(session: Session, bill: BillPayment, now: datetime | None = None) -> BillPayment:
    """Move the points (all requested, or the whole balance if less) and work out the cash still due."""
    now = now or utcnow()
    from mall.db import lock

    bill = lock(session, BillPayment, [bill.id])[bill.id]
    if bill.status != "pending":
        raise Conflict("This payment request has already been decided.", code="decided")
    if bill.expires_at <= now:
        bill.status = "expired"
        session.flush()
        raise DomainError("This payment request has expired; ask the cashier for a new one.", code="expired")
    wallet = ledger.member_account(session, bill.member_id)
    wallet = ledger.lock_accounts(session, [wallet.id])[wallet.id]
    points = min(bill.points_requested, ledger.spendable(session, wallet, now))
    points -= points % max(1, settings["points_per_yuan"] // 100)  # whole fen only
    if points <= 0:
        raise DomainError("You have no points to pay with.", code="insufficient-points")
    posting = ledger.transfer(session, wallet, ledger.open_account(session, "merchant", bill.merchant_id, "redemption"),
                              points, "bill", key=f"bill:{bill.id}", memo=bill.reference or f"bill #{bill.id}",
                              actor_id=bill.member_id, ref=("bill", str(bill.id)), now=now)
    bill.points_used, bill.cash_due_fen = points, bill.bill_fen - fen_for_points(points)
    bill.status, bill.decided_at, bill.transfer_id = "approved", now, posting.transfer.id
    session.flush()
    return bill


def decline(session: Session, bill: BillPayment, now: datetime | None = None) -> BillPayment:
    if bill.status != "pending":
        raise Conflict("This payment request has already been decided.", code="decided")
    bill.status, bill.decided_at = "declined", now or utcnow()
    session.flush()
    return bill


def confirm_by_code(session: Session, merchant: Merchant, bill_id: int, code: str,
                    now: datetime | None = None) -> BillPayment:
    """The cashier types the one-time code the member reads from the mall: that is the member's consent."""
    bill = get_for_merchant(session, merchant, bill_id)
    if not secrets.compare_digest(bill.one_time_code, (code or "").strip()):
        raise DomainError("The one-time code does not match.", code="wrong-code")
    return approve(session, bill, now)


def recent_for(session: Session, merchant: Merchant, limit: int = 20) -> list[BillPayment]:
    return session.scalars(select(BillPayment).where(BillPayment.merchant_id == merchant.id)
                           .order_by(BillPayment.id.desc()).limit(limit)).all()


def merchant_names(session: Session, bills: list[BillPayment], locale: str) -> dict[int, str]:
    """The requesting merchants' names, in one query."""
    ids = {bill.merchant_id for bill in bills}
    if not ids:
        return {}
    return {m.id: m.name(locale) for m in session.scalars(select(Merchant).where(Merchant.id.in_(ids)))}

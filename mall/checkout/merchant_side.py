"""Redemption, the merchant's side: the orders to fulfil, fulfilment, cancellation with compensation,
partial refunds, vouchers accepted at the till, and the settlement of points redeemed. The back office
and the JSON API share these. Functions flush, never commit."""
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from mall import events
from mall.checkout.models import Order, OrderLine, Payment, Voucher
from mall.checkout.payments import gateway
from mall.checkout.service import CheckoutError, cancel, lock_order_accounts, lock_order_and_stock, release
from mall.clock import utcnow
from mall.db import lock
from mall.errors import Conflict, DomainError, NotFound
from mall.ledger import service as ledger
from mall.ledger.models import Transfer
from mall.coalition.models import Merchant
from mall.coalition.service import terms_of
from mall.validation import is_whole


def merchant_orders(session: Session, merchant: Merchant, status: str | None = None, limit: int = 50) -> list[Order]:
    """The merchant's orders, newest first, in one status (any other value: all)."""
    stmt = select(Order).where(Order.merchant_id == merchant.id)
    if status in ("placed", "fulfilled", "cancelled"):
        stmt = stmt.where(Order.status == status)
    return session.scalars(stmt.order_by(Order.id.desc()).limit(limit)).all()


def get_merchant_order(session: Session, merchant: Merchant, order_id: int) -> Order:
    """The merchant's own order, or NotFound (another merchant's order looks absent)."""
    order = session.get(Order, order_id)
    if order is None or order.merchant_id != merchant.id:
        raise NotFound(_l("No such order."))
    return order


def fulfil(session: Session, merchant: Merchant, order_id: int, now: datetime | None = None) -> Order:
    """Mark the merchant's order fulfilled (again: no change); a cancelled one cannot be."""
    order = get_merchant_order(session, merchant, order_id)
    order = lock(session, Order, [order.id])[order.id]
    if order.status == "fulfilled":
        return order
    if order.status != "placed":
        raise Conflict(_l("A cancelled order cannot be fulfilled."), code="not-fulfillable")
    order.status, order.fulfilled_at = "fulfilled", now or utcnow()
    session.flush()
    events.order_fulfilled.send(session, order_id=order.id, member_id=order.member_id, merchant_id=order.merchant_id)
    return order


def cancel_order(session: Session, merchant: Merchant, order_id: int, reason: str) -> Order:
    """The merchant cancels its order: every point back to the member, plus compensation."""
    return cancel(session, get_merchant_order(session, merchant, order_id), "merchant", reason)


def refund_lines(session: Session, order: Order, quantities: dict[int, int], key: str,
                 now: datetime | None = None) -> int:
    """Refund some units of some lines (a partial refund): their points go back to the lots they
    came from, their stock, slots and nights are released, their vouchers void, and the cash part
    is refunded in proportion. Replaying ``key`` changes nothing. Returns the points given back.
    Refunding every unit left leaves the order cancelled."""
    now = now or utcnow()
    order = lock_order_and_stock(session, order)
    if session.scalar(select(Transfer.id).where(Transfer.batch_key == f"order:{order.id}:{key}")) is not None:
        return 0  # the same refund again: already done
    if order.status == "cancelled":
        raise Conflict(_l("This order is already cancelled."), code="not-refundable")
    lines = {line.id: line for line in order.lines}
    points = cash = 0
    for line_id, quantity in quantities.items():
        line = lines.get(line_id)
        if line is None:
            raise NotFound(_l("No such order line."))
        if not is_whole(quantity, 1, 10**6):
            raise CheckoutError(_l("Choose a quantity from 1 to 99."), code="quantity")
        if line.refunded_quantity + quantity > line.quantity:
            raise Conflict(_l("More units would be refunded than were redeemed."), code="over-refund")
        line.refunded_quantity += quantity
        points += line.unit_points * quantity
        cash += line.unit_cash_fen * quantity
        release(session, line, quantity)
        for voucher in [v for v in line.vouchers if v.status == "active"][:quantity]:
            voucher.status = "cancelled"
    if points and order.transfer_id:
        lock_order_accounts(session, order)
        ledger.give_back(session, order.transfer_id, points, key=f"order:{order.id}:{key}", kind="refund",
                         memo=f"order #{order.id}", actor_id=order.member_id, now=now)
    if cash and order.payment_id:
        payment = session.get(Payment, order.payment_id)
        if payment.status == "captured":
            gateway().refund(payment.gateway_ref, cash)
    if all(line.refunded_quantity == line.quantity for line in order.lines):
        order.status, order.cancelled_by, order.cancelled_at = "cancelled", "merchant", now
        order.cancel_reason = order.cancel_reason or "refunded"
    session.flush()
    events.order_refunded.send(session, order_id=order.id, member_id=order.member_id, merchant_id=order.merchant_id,
                               points=points, refund_key=key, cash_fen=cash)
    return points


def refund_order_lines(session: Session, merchant: Merchant, order_id: int, quantities: dict[int, int],
                       key: str) -> int:
    """``refund_lines`` for one of the merchant's own orders."""
    return refund_lines(session, get_merchant_order(session, merchant, order_id), quantities, key)


def redeem_voucher(session: Session, merchant: Merchant, code: str, now: datetime | None = None) -> Voucher:
    """Accept a voucher at the till: it must be this merchant's, active and not expired; only once."""
    now = now or utcnow()
    code = (code or "").strip().upper()
    voucher = session.scalar(select(Voucher).where(Voucher.code == code, Voucher.merchant_id == merchant.id))
    if voucher is None:
        raise NotFound(_l("No voucher of yours has this code."), code="unknown-voucher")
    done = session.execute(update(Voucher).where(
        Voucher.id == voucher.id, Voucher.status == "active",
        (Voucher.valid_until.is_(None)) | (Voucher.valid_until > now)).values(status="redeemed", redeemed_at=now)).rowcount
    session.refresh(voucher)
    if done != 1:
        if voucher.status == "redeemed":
            raise Conflict(_l("This voucher has already been used."), code="voucher-used")
        raise DomainError(_l("This voucher is not valid (cancelled or expired)."), code="voucher-invalid")
    order_id, member_id = session.execute(select(Order.id, Order.member_id).join(
        OrderLine, OrderLine.order_id == Order.id).where(OrderLine.id == voucher.order_line_id)).one()
    events.voucher_redeemed.send(session, voucher_id=voucher.id, order_id=order_id, member_id=member_id,
                                 merchant_id=merchant.id)
    return voucher


def settlement(session: Session, merchant: Merchant, start: datetime, end: datetime) -> dict:
    """Points redeemed at the merchant between ``start`` and ``end`` (refunds deducted) and the fen the
    programme owes for them (the merchant's reimbursement per point, else REDEMPTION_VALUE_FEN_PER_POINT)."""
    account = ledger.open_account(session, "merchant", merchant.id, "redemption")
    credited = session.scalar(select(func.coalesce(func.sum(Transfer.amount), 0)).where(
        Transfer.credit_account_id == account.id, Transfer.created_at >= start, Transfer.created_at < end))
    debited = session.scalar(select(func.coalesce(func.sum(Transfer.amount), 0)).where(
        Transfer.debit_account_id == account.id, Transfer.created_at >= start, Transfer.created_at < end))
    points = int(credited or 0) - int(debited or 0)
    return {"points": points, "owed_fen": points * terms_of(session, merchant).reimbursement_fen_per_point}


def remind_vouchers(session: Session, now: datetime, days: int = 7, limit: int = 1000) -> int:
    """Tell the holders of active vouchers that lapse within ``days`` days (``voucher_expiring``; the
    messages area sends each voucher's reminder once however often this runs). Returns how many."""
    rows = session.execute(
        select(Voucher.id, Voucher.valid_until, OrderLine.order_id, OrderLine.title_zh, OrderLine.title_en,
               Order.member_id)
        .join(OrderLine, OrderLine.id == Voucher.order_line_id).join(Order, Order.id == OrderLine.order_id)
        .where(Voucher.status == "active", Voucher.valid_until > now, Voucher.valid_until <= now + timedelta(days=days))
        .order_by(Voucher.valid_until, Voucher.id).limit(limit)).all()
    for row in rows:
        events.voucher_expiring.send(session, voucher_id=row.id, order_id=row.order_id, member_id=row.member_id,
                                     title_zh=row.title_zh, title_en=row.title_en, expires_at=row.valid_until)
    return len(rows)

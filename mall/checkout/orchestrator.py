"""Checkout, a NAMED ORCHESTRATOR (see ``mall.edge``): one of the only use cases that commits more than
once, on purpose. The card gateway is an outside party that no transaction of ours can include, so:

0. refuse a sold-out listing at once, on a plain read before any transaction or lock (a flash sale's
   losers do not queue behind its winners);
1. check the lines and the delivery (a short transaction; a replayed form ends here with its orders);
2. authorise the cash part at the gateway, then record the authorisation (committed);
3. place the orders — stock, slots, nights, limits and points — in ONE transaction;
4. capture the cash at the gateway and record it (committed); if step 3 failed, void it instead.

A worker killed between 3 and 4 leaves an open authorisation: ``flask payments reconcile`` captures it
(its order was committed) or voids it. Each step is a service function of ``mall.checkout.service``;
this module only orders them and owns their transactions: each step is one write transaction run by
``mall.db.retried``, which re-runs that step on a PostgreSQL deadlock or serialization failure and
then gives up with ``Busy`` (a 503, nothing of that step written; a failed placing voids the
authorisation as any other failure does)."""
from contextlib import suppress
from datetime import datetime

from sqlalchemy.orm import Session

from mall.account.models import User
from mall.checkout import service
from mall.checkout.payments import PaymentDeclined, PaymentTimeout, gateway
from mall.clock import utcnow
from mall.db import retried
from mall.errors import DomainError


def checkout(session: Session, member: User, requests: list[service.LineRequest], delivery: service.Delivery,
             token: str, pay_token: str = "", now: datetime | None = None, source: str = "own") -> service.Placed:
    """Redeem the lines: authorise any cash first, then take stock, limits and points in one short
    transaction, then capture the cash (or void it if the orders could not be placed). Replaying
    ``token`` returns the orders the first submission placed. ``source`` "family" pays the points
    from the member's family pool."""
    now = now or utcnow()
    service.check_request(requests, token, source)
    service.refuse_sold_out(session, member, requests, token)

    def check():
        done = service.existing_orders(session, member, token)
        if done:
            return service.Placed(done, replayed=True), 0
        return None, service.redeemable(session, member, requests, delivery, now).cash_fen

    replay, cash = retried(session, check)
    if replay is not None:
        return replay
    payment_id, ref = (None, None)
    if cash:
        payment_id, ref = _authorise(session, member, token, cash, pay_token)
        service.fault_point(session, "after_authorise")
    try:
        placed = retried(session, service.place, session, member, requests, delivery, token, payment_id, now, source)
    except BaseException:
        if ref:
            _settle(session, payment_id, ref, "voided")
        raise
    service.fault_point(session, "after_commit")
    if ref and not placed.replayed:
        _settle(session, payment_id, ref, "captured")
    return placed


def _authorise(session: Session, member: User, token: str, amount: int, pay_token: str) -> tuple[int, str]:
    """Authorise ``amount`` at the gateway (idempotent by checkout) and record it; a refusal is recorded too."""
    key = f"checkout:{member.id}:{token}"
    try:
        ref = gateway().authorise(amount, pay_token, key)
    except (PaymentDeclined, PaymentTimeout) as err:
        retried(session, service.record_refused_payment, session, member, token, amount,
                "declined" if isinstance(err, PaymentDeclined) else "timed_out")
        if isinstance(err, PaymentTimeout):
            with suppress(DomainError):  # nothing was authorised after all
                gateway().void(key)
        raise
    return retried(session, service.record_authorisation, session, member, token, amount, ref), ref


def _settle(session: Session, payment_id: int, ref: str, status: str) -> None:
    """Capture or void the authorisation at the gateway, then record it."""
    (gateway().capture if status == "captured" else gateway().void)(ref)
    retried(session, service.set_payment_status, session, payment_id, status)

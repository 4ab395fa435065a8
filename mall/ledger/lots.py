"""Lots: the dated parcels a member's or family's points are held in. A credit opens lots, a debit draws
on them (the earliest-expiring first; ``mall.ledger.batch`` plans and writes both), and what a lot
still holds past its date is expired by ``mall.ledger.posting.expire``. Also the reads of lots: what
expires soon, what can be spent."""
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from mall.ledger.models import Account, Lot
from mall.ledger.seals import as_utc

REFUND_GRACE = timedelta(days=30)  # points coming back after their date live this much longer


@dataclass
class Plan:
    """Extra lot instructions for a leg: lots to draw from first / only, lots to mirror on credit."""

    prefer_lots: list[int] = field(default_factory=list)
    only_lots: list[int] | None = None
    mirror_draws: list | None = None  # LotDraw or Share: (lot_id, amount) to mirror


@dataclass(frozen=True)
class Share:
    """A part of an earlier draw to give back: ``amount`` points to a lot like ``lot_id``."""

    lot_id: int
    amount: int


def expiring_lots(session: Session, now: datetime, days: int, account_ids=None, limit: int = 1000,
                  after: tuple[datetime, int] | None = None):
    """Open lots of members that expire within ``days`` days: (lot, account) pairs, soonest first.
    ``after`` (the last pair's expiry and lot id) continues from a previous page."""
    now = as_utc(now)
    stmt = (select(Lot, Account).join(Account, Account.id == Lot.account_id)
            .where(Lot.remaining > 0, Lot.expires_at > now, Lot.expires_at <= now + timedelta(days=days),
                   Account.owner_kind == "member")
            .order_by(Lot.expires_at, Lot.id).limit(limit))
    if account_ids is not None:
        stmt = stmt.where(Lot.account_id.in_(account_ids))
    if after is not None:
        stmt = stmt.where(or_(Lot.expires_at > after[0], and_(Lot.expires_at == after[0], Lot.id > after[1])))
    return session.execute(stmt).all()


def expiring_summary(session: Session, account: Account, now: datetime, days: int = 30) -> list[tuple[datetime, int]]:
    """(expiry instant, points) for the account's points expiring within ``days`` days."""
    now = as_utc(now)
    rows = session.execute(
        select(Lot.expires_at, func.sum(Lot.remaining))
        .where(Lot.account_id == account.id, Lot.remaining > 0, Lot.expires_at > now,
               Lot.expires_at <= now + timedelta(days=days))
        .group_by(Lot.expires_at).order_by(Lot.expires_at)).all()
    return [(at, int(points)) for at, points in rows]


def spendable(session: Session, account: Account, now: datetime | None = None) -> int:
    """What the account can spend at ``now``: its balance less lots already past their date (the
    next posting from the account expires those first). Read it under ``lock_accounts`` to act on it."""
    if not account.lotted:
        return account.balance
    overdue = session.scalar(select(func.coalesce(func.sum(Lot.remaining), 0)).where(
        Lot.account_id == account.id, Lot.remaining > 0, Lot.expires_at <= as_utc(now)))
    return account.balance - int(overdue or 0)


def open_lots(session: Session, account: Account, limit: int = 50) -> list[Lot]:
    """The account's unspent lots in the order they will be spent."""
    return session.scalars(select(Lot).where(Lot.account_id == account.id, Lot.remaining > 0)
                           .order_by(Lot.expires_at.is_(None), Lot.expires_at, Lot.id).limit(limit)).all()

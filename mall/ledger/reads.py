"""Reading the ledger: balances, an account's statement, programme-wide totals and the daily digest."""
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, union_all
from sqlalchemy.orm import Session

from mall.ledger.models import Account, Block, Transfer


def member_balance(session: Session, user_id: int) -> int | None:
    """The member's balance, or None if the user has no member account."""
    return session.scalar(select(Account.balance).where(
        Account.owner_kind == "member", Account.owner_id == user_id, Account.name == "main"))


@dataclass
class StatementRow:
    """One transfer as an account's statement shows it."""

    transfer: Transfer
    delta: int  # + credit to the account, - debit from it
    counterparty: Account
    reverses_kind: str | None = None  # for a reversal: the kind of the transfer it undid


def statement(session: Session, account: Account, *, kinds: list[str] | None = None,
              start: datetime | None = None, end: datetime | None = None,
              before_id: int | None = None, limit: int = 20) -> list[StatementRow]:
    """One page of the account's history, newest first; ``before_id`` continues from a row.

    Each side (debits, credits) is read through its own (account, id) index and cut to ``limit``
    before the two are merged, so a page costs the same however long the history is."""
    conditions = []
    if kinds:
        conditions.append(Transfer.kind.in_(kinds))
    if start:
        conditions.append(Transfer.created_at >= start)
    if end:
        conditions.append(Transfer.created_at < end)
    if before_id:
        conditions.append(Transfer.id < before_id)

    def side(column):
        page = (select(Transfer.id).where(column == account.id, *conditions)
                .order_by(Transfer.id.desc()).limit(limit).subquery())
        return select(page.c.id)

    ids = union_all(side(Transfer.debit_account_id), side(Transfer.credit_account_id)).subquery()
    rows = session.scalars(select(Transfer).where(Transfer.id.in_(select(ids.c.id)))
                           .order_by(Transfer.id.desc()).limit(limit)).all()
    other_ids = {t.credit_account_id if t.debit_account_id == account.id else t.debit_account_id for t in rows}
    others = {a.id: a for a in session.scalars(select(Account).where(Account.id.in_(other_ids)))} if other_ids else {}
    reversed_ids = {t.reverses_id for t in rows if t.reverses_id is not None}
    reversed_kinds = dict(session.execute(select(Transfer.id, Transfer.kind).where(
        Transfer.id.in_(reversed_ids))).all()) if reversed_ids else {}
    result = []
    for t in rows:
        outgoing = t.debit_account_id == account.id
        other = others[t.credit_account_id if outgoing else t.debit_account_id]
        result.append(StatementRow(t, -t.amount if outgoing else t.amount, other,
                                   reversed_kinds.get(t.reverses_id)))
    return result


def totals_by_kind(session: Session) -> dict[str, int]:
    """Points moved per transfer kind, programme-wide."""
    return {kind: int(total) for kind, total in session.execute(
        select(Transfer.kind, func.sum(Transfer.amount)).group_by(Transfer.kind))}


def daily_digest(session: Session, day_end: datetime) -> str | None:
    """The hash of the last block sealed before ``day_end``: publishing it commits to all history sealed
    by then (``verify`` recomputes every block from its transfers and the block before it)."""
    return session.scalar(select(Block.hash).where(Block.sealed_at < day_end).order_by(Block.id.desc()).limit(1))

"""Accounts: opening and finding them, the system accounts, freezing, the locks every posting takes,
and moving a balance (a locked column for exact accounts, a counter shard for sharded ones)."""
import secrets

from sqlalchemy import bindparam, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, scoped_session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from mall.db import is_postgres
from mall.ledger.models import (
    GUARDED_KINDS, SHARDS, SYSTEM_ACCOUNTS, Account, BalanceShard, LedgerHead, sharded_clause,
)
from mall.ledger.seals import GENESIS, seal_new, seal_of


def open_account(session: Session, owner_kind: str, owner_id: int = 0, name: str = "main") -> Account:
    """Create the account of an owner (in the owner's creating transaction), or return it."""
    account = find_account(session, owner_kind, owner_id, name)
    if account is None:
        account = Account(owner_kind=owner_kind, owner_id=owner_id, name=name,
                          guarded=owner_kind in GUARDED_KINDS, frozen=False, balance=0)
        session.add(account)
        seal_new(session, [account])
        session.flush()
    return account


def set_frozen(session: Session, account: Account, frozen: bool) -> None:
    """Freeze or unfreeze an account's spending (a fraud case decides): the one way the flag
    changes, so the account's seal is renewed with it."""
    account.frozen = frozen
    account.mac = seal_of(account)
    session.flush()


def find_account(session: Session, owner_kind: str, owner_id: int = 0, name: str = "main") -> Account | None:
    """The owner's account, or None if it was never opened."""
    return session.scalar(select(Account).where(
        Account.owner_kind == owner_kind, Account.owner_id == owner_id, Account.name == name))


def member_account_columns(owner_id_column):
    """The balance and frozen flag of the member account whose owner is ``owner_id_column`` (a column
    of the caller's statement), as correlated expressions; NULL when the account was never opened.
    Member accounts are guarded, hence exact: their balance is the balance column."""
    where = (Account.owner_kind == "member", Account.owner_id == owner_id_column, Account.name == "main")
    return (select(Account.stored_balance).where(*where).scalar_subquery(),
            select(Account.frozen).where(*where).scalar_subquery())


def system_account(session: Session, name: str) -> Account:
    """One of the programme's own accounts (SYSTEM_ACCOUNTS), opened on first use."""
    if name not in SYSTEM_ACCOUNTS:
        raise ValueError(f"unknown system account {name!r}")
    return open_account(session, "system", 0, name)


def member_account(session: Session, user_id: int) -> Account:
    """The member's account, opened on first use."""
    return open_account(session, "member", user_id)


def ensure_system_accounts(session: Session) -> None:
    """Open every system account and the head row (what the migrations seed)."""
    for name in SYSTEM_ACCOUNTS:
        system_account(session, name)
    if session.get(LedgerHead, 1) is None:
        session.add(LedgerHead(id=1, last_transfer_id=0, last_hash=GENESIS))
        session.flush()


def lock_head(session: Session) -> LedgerHead:
    """The head row, locked for the rest of the transaction: the sealer's lock (postings never take it)."""
    stmt = select(LedgerHead).where(LedgerHead.id == 1).execution_options(populate_existing=True)
    if is_postgres(session):
        stmt = stmt.with_for_update()
    head = session.scalar(stmt)
    if head is None:
        raise RuntimeError("ledger not initialised: run `flask db upgrade`")
    return head


def lock_accounts(session: Session, account_ids) -> dict[int, Account]:
    """Lock the exact accounts among ``account_ids`` for the rest of the transaction, in id order, and
    return all of them, freshly read.

    Exact accounts (guarded ones, and unguarded ones a caller checks before paying from them, such
    as the game budget) are locked ``FOR UPDATE`` in id order: the same order every posting uses, so
    two postings never wait on each other in a cycle. Sharded accounts (the system and merchant
    accounts nearly every posting touches) are read but not locked: postings add to one of their
    counter shards instead (``move_balance``), so they are no hot row. A use case that reads a
    balance before spending it, or that will post and also locks other rows (stock, orders), locks
    those rows first and calls this last, instead of ``mall.db.lock`` on accounts (the canonical
    order in ``mall.db``)."""
    ids = sorted(set(account_ids))
    if not ids:
        return {}
    held = {}
    for i in ids:
        known = session.identity_map.get(identity_key(Account, i))
        if known is None or inspect(known).expired:
            break
        held[i] = known
    else:  # the session holds them all (the use case read them): their owner, name and guard never
        exact = [i for i in ids if not held[i].sharded]  # change, so only what does (the balance, the
        if exact:  # freeze and its seal) is read again, under the lock, without the ORM
            stmt = _LOCK_HELD.where(_ACCOUNTS.c.id.in_(exact))
            if is_postgres(session):
                stmt = stmt.with_for_update()
            for row in session.connection().execute(stmt):
                for column in ("stored_balance", "frozen", "mac"):
                    set_committed_value(held[row.id], column, getattr(row, column))
        return held
    stmt = (select(Account).where(Account.id.in_(ids), _EXACT).order_by(Account.id)
            .execution_options(populate_existing=True))
    if is_postgres(session):
        stmt = stmt.with_for_update(of=Account)
    found = {row.id: row for row in session.scalars(stmt)}
    rest = []
    for i in ids:  # sharded accounts this transaction already read need no second read: no posting
        if i in found:  # changes their row (their balance moves in the shards)
            continue
        known = session.identity_map.get(identity_key(Account, i))
        if known is not None and not inspect(known).expired:
            found[i] = known
        else:
            rest.append(i)
    if rest:
        found.update((row.id, row) for row in session.scalars(
            select(Account).where(Account.id.in_(rest)).execution_options(populate_existing=True)))
    return found


_ACCOUNTS = Account.__table__
_LOCK_HELD = (select(_ACCOUNTS.c.id, _ACCOUNTS.c.balance.label("stored_balance"), _ACCOUNTS.c.frozen, _ACCOUNTS.c.mac)
              .order_by(_ACCOUNTS.c.id))
_EXACT = ~sharded_clause()  # built once: the clause is the same for every posting


def _shard_upsert(dialect):
    """``INSERT … ON CONFLICT (account_id, shard) DO UPDATE SET amount = amount + excluded.amount``, built
    once per dialect with bound parameters (a posting only supplies the values)."""
    stmt = dialect.insert(BalanceShard.__table__).values(account_id=bindparam("account_id"),
                                                         shard=bindparam("shard"), amount=bindparam("amount"))
    return stmt.on_conflict_do_update(index_elements=["account_id", "shard"],
                                      set_={"amount": BalanceShard.__table__.c.amount + stmt.excluded.amount})


_SHARD_UPSERT = {"postgresql": _shard_upsert(postgresql), "sqlite": _shard_upsert(sqlite)}


def move_balance(session: Session, deltas: dict[int, int], accounts: dict[int, Account]) -> None:
    """Apply a posting's net change per account: an exact account's balance column (locked by
    ``lock_accounts``), or one counter shard of a sharded account, chosen at random and added to in
    the database (``INSERT … ON CONFLICT DO UPDATE SET amount = amount + delta``): no lock on the
    account, and concurrent transactions meet on the same row only one time in SHARDS. A transaction
    uses one shard for all its postings, and a posting writes its shard rows in account order, so a
    transaction never holds two shard rows of one account and two postings never lock shards in a
    cycle (two use cases posting to two sharded accounts in opposite orders on the same shard still
    can: the edge retries that rare deadlock)."""
    shard = _transaction_shard(session)
    upsert = _SHARD_UPSERT["postgresql" if is_postgres(session) else "sqlite"]
    for account_id in sorted(deltas):
        delta = deltas[account_id]
        if not delta:
            continue
        account = accounts[account_id]
        if not account.sharded:
            account.stored_balance += delta
            continue
        # Core, on the session's connection: no ORM object is involved, so no flush is needed first.
        session.connection().execute(upsert, {"account_id": account_id, "shard": shard, "amount": delta})


def _transaction_shard(session: Session) -> int:
    """The shard this transaction adds to (chosen at random on its first posting)."""
    session = session() if isinstance(session, scoped_session) else session
    transaction = session.get_transaction()
    chosen = session.info.get("ledger_shard")
    if chosen is None or chosen[0] is not transaction:
        chosen = session.info["ledger_shard"] = (transaction, secrets.randbelow(SHARDS))
    return chosen[1]

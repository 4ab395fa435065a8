"""Accounts: opening and finding them, the system accounts, freezing, and the locks every posting takes."""
from sqlalchemy import select
from sqlalchemy.orm import Session

from mall.db import is_postgres, lock
from mall.ledger.models import GUARDED_KINDS, SYSTEM_ACCOUNTS, Account, LedgerHead
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


def system_account(session: Session, name: str) -> Account:
    """One of the programme's own accounts (SYSTEM_ACCOUNTS), opened on first use."""
    if name not in SYSTEM_ACCOUNTS:
        raise ValueError(f"unknown system account {name!r}")
    return open_account(session, "system", 0, name)


def member_account(session: Session, user_id: int) -> Account:
    """The member's account, opened on first use."""
    return open_account(session, "member", user_id)


def ensure_system_accounts(session: Session) -> None:
    """Open every system account and the chain's head row (what the migrations seed)."""
    for name in SYSTEM_ACCOUNTS:
        system_account(session, name)
    if session.get(LedgerHead, 1) is None:
        session.add(LedgerHead(id=1, last_transfer_id=0, last_hash=GENESIS))
        session.flush()


def lock_head(session: Session) -> LedgerHead:
    """The chain's head row, locked for the rest of the transaction: every posting queues here first."""
    stmt = select(LedgerHead).where(LedgerHead.id == 1).execution_options(populate_existing=True)
    if is_postgres(session):
        stmt = stmt.with_for_update()
    head = session.scalar(stmt)
    if head is None:
        raise RuntimeError("ledger not initialised: run `flask db upgrade`")
    return head


def lock_accounts(session: Session, account_ids) -> dict[int, Account]:
    """Take the ledger's locks for the rest of the transaction and return the accounts, freshly read.

    The ledger head first, then the accounts in id order: the same order every posting uses. A use
    case that reads a balance before spending it, or that will post and also locks other rows (stock,
    orders), calls this first, instead of ``mall.db.lock`` on accounts. Any other order can deadlock
    on PostgreSQL against a posting that holds the head."""
    lock_head(session)
    return lock(session, Account, account_ids)

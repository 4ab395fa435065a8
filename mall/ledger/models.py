"""Accounts, transfers, lots and the draws that tie spends to the lots they consumed."""
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, UniqueConstraint, and_, func, not_, select
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, object_session

from mall.models import Base, UTCDateTime, utcnow

OWNER_KINDS = ("member", "family", "merchant", "charity", "system")
LOTTED_KINDS = ("member", "family")  # accounts whose points carry lots and expire
GUARDED_KINDS = ("member", "family", "charity")  # accounts that may never go below zero
SYSTEM_ACCOUNTS = ("issuance", "redemption", "expiry", "compensation", "game_budget", "payout", "forfeit")
# Unguarded accounts whose balance a caller still checks, under lock, before paying from it: kept exact.
EXACT_UNGUARDED = (("system", "game_budget"),)
SHARDS = 16  # counter rows per sharded account (see BalanceShard)

KINDS = (
    "earn", "redeem", "refund", "compensate", "gift", "pool_in", "pool_out", "donate", "match",
    "expire", "clawback", "adjust", "award", "game", "payout", "forfeit", "reversal", "bill",
)


class Account(Base):
    __tablename__ = "ledger_account"
    __table_args__ = (
        UniqueConstraint("owner_kind", "owner_id", "name", name="owner"),
        CheckConstraint("NOT guarded OR balance >= 0", name="guarded_not_negative"),
        CheckConstraint(
            "owner_kind IN ('member', 'family', 'merchant', 'charity', 'system')", name="owner_kind"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_kind: Mapped[str] = mapped_column(String(16))
    owner_id: Mapped[int] = mapped_column(default=0)  # 0 for system accounts
    name: Mapped[str] = mapped_column(String(32), default="main")
    # The balance column: the whole balance of an exact account, the base of a sharded one (see ``balance``).
    stored_balance: Mapped[int] = mapped_column("balance", BigInteger, default=0)
    guarded: Mapped[bool] = mapped_column(default=False)
    frozen: Mapped[bool] = mapped_column(default=False)  # spending refused (a fraud case froze it)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    mac: Mapped[str] = mapped_column(String(64), default="")  # seal of owner, name, guard, freeze

    @property
    def lotted(self) -> bool:
        return self.owner_kind in LOTTED_KINDS

    @property
    def sharded(self) -> bool:
        """Whether postings move this account's balance through counter shards, without locking it:
        the unguarded accounts nobody checks before debiting (system and merchant accounts)."""
        return is_sharded(self.owner_kind, self.name, self.guarded)

    @hybrid_property
    def balance(self) -> int:
        """The account's balance: the balance column plus its shards (none for an exact account).
        The one read of a balance; in SQL, ``Account.balance`` adds the shards the same way."""
        if not self.sharded or self.id is None:
            return self.stored_balance
        session = object_session(self)
        extra = session.scalar(SHARD_SUM.where(BalanceShard.account_id == self.id)) if session else 0
        return self.stored_balance + int(extra or 0)

    @balance.inplace.setter
    def _balance_setter(self, value: int) -> None:
        self.stored_balance = value

    @balance.inplace.expression
    @classmethod
    def _balance_expression(cls):
        shards = (select(func.coalesce(func.sum(BalanceShard.amount), 0))
                  .where(BalanceShard.account_id == cls.id).correlate(cls).scalar_subquery())
        return (cls.stored_balance + shards).label("balance")


def is_sharded(owner_kind: str, name: str, guarded: bool) -> bool:
    return not guarded and (owner_kind, name) not in EXACT_UNGUARDED


def sharded_clause():
    """``Account.sharded`` in SQL."""
    exact = [and_(Account.owner_kind == kind, Account.name == name) for kind, name in EXACT_UNGUARDED]
    return and_(not_(Account.guarded), *[not_(clause) for clause in exact])


class BalanceShard(Base):
    """A counter row of a sharded account's balance: a posting adds its amount to one of SHARDS rows
    chosen at random (an upsert), so concurrent postings to the account rarely meet on a row."""

    __tablename__ = "ledger_balance_shard"

    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"), primary_key=True)
    shard: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    amount: Mapped[int] = mapped_column(BigInteger, default=0)


SHARD_SUM = select(func.coalesce(func.sum(BalanceShard.amount), 0))


class LedgerHead(Base):
    """The sealer's row (locking it orders sealers; postings never touch it), which also keeps where the
    ledger's legacy hash chain ended: transfers up to ``last_transfer_id`` were chained one to the next
    before blocks existed (migration 0013), and ``verify`` still checks them as that chain."""

    __tablename__ = "ledger_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_transfer_id: Mapped[int] = mapped_column(BigInteger, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))


class Transfer(Base):
    __tablename__ = "ledger_transfer"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("debit_account_id <> credit_account_id", name="not_to_self"),
        Index("ix_ledger_transfer_debit", "debit_account_id", "id"),
        Index("ix_ledger_transfer_credit", "credit_account_id", "id"),
        Index("ix_ledger_transfer_ref", "ref_type", "ref_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    debit_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"))
    credit_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    batch_key: Mapped[str] = mapped_column(String(200), index=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    actor_id: Mapped[int | None] = mapped_column()
    ref_type: Mapped[str | None] = mapped_column(String(32))
    ref_id: Mapped[str | None] = mapped_column(String(64))
    memo: Mapped[str] = mapped_column(String(200), default="")
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transfer.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    hash: Mapped[str] = mapped_column(String(64))  # its content hash (the chain hash, up to the legacy end)
    mac: Mapped[str] = mapped_column(String(64), default="")  # seal of id, hash, batch key, fingerprint
    # The block the sealer put it in (None: not sealed yet). No foreign key on purpose: ``verify`` reports a
    # transfer claiming a block that does not exist, and the column is added and dropped in place on SQLite.
    block_id: Mapped[int | None] = mapped_column(index=True)
    posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow)  # wall clock, for the sealing lag


class Block(Base):
    """A run of transfers chained by the sealer: its hash covers the previous block's hash and its
    members' ids and hashes, in id order (``mall.ledger.sealing``)."""

    __tablename__ = "ledger_block"

    id: Mapped[int] = mapped_column(primary_key=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    first_transfer_id: Mapped[int] = mapped_column(BigInteger)
    last_transfer_id: Mapped[int] = mapped_column(BigInteger)
    transfers: Mapped[int] = mapped_column()
    sealed_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    mac: Mapped[str] = mapped_column(String(64), default="")  # seal of all the above


class Lot(Base):
    __tablename__ = "ledger_lot"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("remaining >= 0 AND remaining <= amount", name="remaining_in_range"),
        Index("ix_ledger_lot_open", "account_id", "remaining", "expires_at"),
        Index("ix_ledger_lot_expiry", "expires_at", "remaining"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"))
    transfer_id: Mapped[int] = mapped_column(ForeignKey("ledger_transfer.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    remaining: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: never
    origin_lot_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_lot.id"))
    mac: Mapped[str] = mapped_column(String(64), default="")  # seal of all but ``remaining``


class LotDraw(Base):
    """How much a debit transfer took from which lot of the debited account."""

    __tablename__ = "ledger_lot_draw"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("ledger_transfer.id"), index=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("ledger_lot.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    mac: Mapped[str] = mapped_column(String(64), default="")

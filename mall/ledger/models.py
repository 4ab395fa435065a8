"""Accounts, transfers, lots and the draws that tie spends to the lots they consumed."""
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mall.models import Base, UTCDateTime, utcnow

OWNER_KINDS = ("member", "family", "merchant", "charity", "system")
LOTTED_KINDS = ("member", "family")  # accounts whose points carry lots and expire
GUARDED_KINDS = ("member", "family", "charity")  # accounts that may never go below zero
SYSTEM_ACCOUNTS = ("issuance", "redemption", "expiry", "compensation", "game_budget", "payout", "forfeit")

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
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    guarded: Mapped[bool] = mapped_column(default=False)
    frozen: Mapped[bool] = mapped_column(default=False)  # spending refused (a fraud case froze it)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    mac: Mapped[str] = mapped_column(String(64), default="")  # seal of owner, name, guard, freeze

    @property
    def lotted(self) -> bool:
        return self.owner_kind in LOTTED_KINDS


class LedgerHead(Base):
    """The single row that holds the end of the hash chain; locking it orders all postings."""

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
    hash: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str] = mapped_column(String(64), default="")  # seal of id, hash, batch key, fingerprint


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

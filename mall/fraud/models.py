"""A case against a member, its evidence, and the actions taken under it.

An action (freeze, deduct) above the configured amount waits for a second operator's approval
(four-eyes); every executed deduction is a ledger transfer that references the case."""
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mall.models import Base, UTCDateTime, utcnow

CASE_STATUSES = ("open", "appealed", "upheld", "reversed")
ACTION_KINDS = ("freeze", "deduct")
ACTION_STATUSES = ("pending", "executed", "rejected", "cancelled")


class FraudCase(Base):
    __tablename__ = "fraud_case"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'appealed', 'upheld', 'reversed')", name="status"),
        Index("ix_fraud_case_member", "member_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    opened_by: Mapped[int] = mapped_column(ForeignKey("user.id"))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    frozen: Mapped[bool] = mapped_column(default=False)  # the member's spending is frozen under this case
    disclosed: Mapped[bool] = mapped_column(default=False)  # the member has been told (an action was taken)
    appeal_statement: Mapped[str | None] = mapped_column(Text)
    appealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    member = relationship("User", foreign_keys=[member_id], lazy="joined")
    evidence = relationship("CaseEvidence", order_by="CaseEvidence.id", lazy="selectin")
    actions = relationship("CaseAction", order_by="CaseAction.id", lazy="selectin")

    @property
    def active(self) -> bool:
        return self.status in ("open", "appealed")


class CaseEvidence(Base):
    """A file an operator uploaded, or a reference to one ledger transfer the member received."""

    __tablename__ = "fraud_evidence"
    __table_args__ = (
        CheckConstraint("kind IN ('file', 'transfer')", name="kind"),
        CheckConstraint("(kind = 'transfer') = (transfer_id IS NOT NULL)", name="transfer_ref"),
        UniqueConstraint("case_id", "transfer_id", name="uq_fraud_evidence_case_transfer"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("fraud_case.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    transfer_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transfer.id"))
    amount: Mapped[int] = mapped_column(BigInteger, default=0)  # what the evidenced transfer awarded
    file_name: Mapped[str] = mapped_column(String(200), default="")
    file_key: Mapped[str] = mapped_column(String(100), default="")  # where the file is stored (its SHA-256)
    file_size: Mapped[int] = mapped_column(default=0)
    content_type: Mapped[str] = mapped_column(String(100), default="")
    added_by: Mapped[int] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CaseAction(Base):
    __tablename__ = "fraud_action"
    __table_args__ = (
        CheckConstraint("kind IN ('freeze', 'deduct')", name="kind"),
        CheckConstraint("status IN ('pending', 'executed', 'rejected', 'cancelled')", name="status"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("fraud_case.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)  # points deducted, or the balance a freeze covers
    note: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    requested_by: Mapped[int] = mapped_column(ForeignKey("user.id"))
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    transfer_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transfer.id"))
    reversal_transfer_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transfer.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

"""Published rule sets, purchases reported by merchants, the awards and refunds they caused."""
from datetime import datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mall.models import Base, UTCDateTime, utcnow


class RuleSet(Base):
    """A versioned rule-set document. Drafts are editable; a published version never changes."""

    __tablename__ = "rule_set"
    __table_args__ = (CheckConstraint("status IN ('draft', 'published')", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int | None] = mapped_column(unique=True)  # assigned at publication
    status: Mapped[str] = mapped_column(String(16), default="draft")
    effective_from: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    document: Mapped[dict] = mapped_column(JSON)
    note: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Purchase(Base):
    """A member's purchase at a merchant, and the points it earned."""

    __tablename__ = "purchase"
    __table_args__ = (
        CheckConstraint("total_fen > 0", name="total_positive"),
        CheckConstraint("refunded_fen >= 0 AND refunded_fen <= total_fen", name="refund_in_range"),
        Index("ix_purchase_member_time", "member_id", "occurred_at"),
        Index("ix_purchase_merchant_time", "merchant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    total_fen: Mapped[int] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    items: Mapped[list] = mapped_column(JSON)
    points: Mapped[int] = mapped_column(BigInteger)
    breakdown: Mapped[list] = mapped_column(JSON)
    rule_set_version: Mapped[int] = mapped_column()
    birthday_bonus: Mapped[bool] = mapped_column(default=False)
    green_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    clawed_back: Mapped[int] = mapped_column(BigInteger, default=0)
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    merchant = relationship("Merchant", lazy="joined")


class PurchaseRefund(Base):
    __tablename__ = "purchase_refund"
    __table_args__ = (CheckConstraint("amount_fen > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    purchase_id: Mapped[int] = mapped_column(ForeignKey("purchase.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    points_clawed: Mapped[int] = mapped_column(BigInteger)  # taken from the balance now
    shortfall: Mapped[int] = mapped_column(BigInteger)  # owed, netted against future earnings
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PointsDebt(Base):
    """Points a member owes a merchant after a refund clawback found the balance short;
    settled from the member's next earnings."""

    __tablename__ = "points_debt"
    __table_args__ = (UniqueConstraint("member_id", "merchant_id", name="member_merchant"),
                      CheckConstraint("points >= 0", name="points_not_negative"))

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id"))
    points: Mapped[int] = mapped_column(BigInteger, default=0)

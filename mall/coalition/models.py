"""Participating merchants."""
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from mall.models import Base, UTCDateTime, utcnow

MERCHANT_STATUSES = ("pending", "approved", "suspended")


class Merchant(Base):
    __tablename__ = "merchant"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'suspended')", name="status"),
        CheckConstraint("bill_max_share_percent IS NULL OR bill_max_share_percent BETWEEN 0 AND 100",
                        name="bill_share"),
        CheckConstraint("settlement_cycle IN ('weekly', 'monthly')", name="settlement_cycle"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    name_zh: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(120))
    category: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    status_reason: Mapped[str] = mapped_column(String(500), default="")  # why it was suspended
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # the public page (/merchants/<slug>): filled from the application that made the merchant
    address: Mapped[str] = mapped_column(String(300), default="")
    opening_hours: Mapped[str] = mapped_column(String(120), default="")
    green_statement: Mapped[str] = mapped_column(String(1000), default="")
    phone: Mapped[str] = mapped_column(String(20), default="")
    credit_code: Mapped[str | None] = mapped_column(String(18), unique=True, index=True)
    logo: Mapped[str | None] = mapped_column(String(80))  # media path stem: <logo>-small.webp, -large.webp
    # its terms, set by an operator (mall.coalition.service.terms_of); None: the programme's default
    issuance_fee_fen_per_point: Mapped[int | None] = mapped_column()
    reimbursement_fen_per_point: Mapped[int | None] = mapped_column()
    bill_max_share_percent: Mapped[int | None] = mapped_column()
    accepts_game_coupons: Mapped[bool] = mapped_column(default=True)
    settlement_cycle: Mapped[str] = mapped_column(String(8), default="monthly")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def name(self, locale: str) -> str:
        return self.name_en if locale.startswith("en") else self.name_zh


APPLICATION_STATUSES = ("pending", "needs_info", "approved", "refused")


class MerchantApplication(Base):
    """A business asking to join the coalition, made by the signed-in account that will own it."""

    __tablename__ = "merchant_application"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'needs_info', 'approved', 'refused')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    applicant_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    name_zh: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(120))
    category: Mapped[str] = mapped_column(String(40))
    credit_code: Mapped[str] = mapped_column(String(18), index=True)  # 统一社会信用代码
    contact_name: Mapped[str] = mapped_column(String(60))
    phone: Mapped[str] = mapped_column(String(20))
    email: Mapped[str] = mapped_column(String(254))
    address: Mapped[str] = mapped_column(String(300))
    opening_hours: Mapped[str] = mapped_column(String(120))
    green_statement: Mapped[str] = mapped_column(String(1000))
    logo: Mapped[str | None] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(12), default="pending")
    reason: Mapped[str] = mapped_column(String(500), default="")  # why refused, or what is missing
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchant.id"))
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

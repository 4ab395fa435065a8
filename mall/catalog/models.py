"""Listings members can redeem: goods, services, top-ups, hotel stays and coupons."""
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mall.models import Base, UTCDateTime, utcnow

KINDS = ("goods", "service", "topup", "stay", "coupon")
STATUSES = ("draft", "active", "paused", "archived")


class Listing(Base):
    __tablename__ = "listing"
    __table_args__ = (
        CheckConstraint("kind IN ('goods', 'service', 'topup', 'stay', 'coupon')", name="kind"),
        CheckConstraint("status IN ('draft', 'active', 'paused', 'archived')", name="status"),
        CheckConstraint("points_price >= 0", name="points_price"),
        CheckConstraint("cash_fen >= 0", name="cash_fen"),
        CheckConstraint("stock IS NULL OR stock >= 0", name="stock"),
        Index("ix_listing_status_points", "status", "points_price"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(40), index=True)
    title_zh: Mapped[str] = mapped_column(String(160))
    title_en: Mapped[str] = mapped_column(String(160))
    description_zh: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    points_price: Mapped[int] = mapped_column(default=0)
    cash_fen: Mapped[int] = mapped_column(default=0)
    stock: Mapped[int | None] = mapped_column()  # None: unlimited
    green: Mapped[bool] = mapped_column(default=False)
    co2e_g: Mapped[int] = mapped_column(default=0)  # grams CO2e saved per unit
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    merchant = relationship("Merchant", lazy="joined")

    def title(self, locale: str) -> str:
        return self.title_en if locale.startswith("en") else self.title_zh

    def description(self, locale: str) -> str:
        return self.description_en if locale.startswith("en") else self.description_zh

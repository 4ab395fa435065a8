"""Participating merchants."""
from datetime import datetime

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from mall.models import Base, UTCDateTime, utcnow

MERCHANT_STATUSES = ("pending", "approved", "suspended")


class Merchant(Base):
    __tablename__ = "merchant"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'suspended')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    name_zh: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(120))
    category: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    status_reason: Mapped[str] = mapped_column(String(500), default="")  # why it was suspended
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def name(self, locale: str) -> str:
        return self.name_en if locale.startswith("en") else self.name_zh

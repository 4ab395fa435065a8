"""One row per action: who, in which role, what, on what, when, from where, and the values before
and after. Rows are never updated or deleted (the database refuses it, see migration 0008)."""
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mall.models import Base, UTCDateTime, utcnow


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_actor_time", "actor_id", "id"),
        Index("ix_audit_log_target", "target_type", "target_id"),
        Index("ix_audit_log_merchant", "merchant_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    actor_role: Mapped[str] = mapped_column(String(16))  # operator, merchant, api, system
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchant.id"))
    action: Mapped[str] = mapped_column(String(80), index=True)
    target_type: Mapped[str] = mapped_column(String(40), default="")
    target_id: Mapped[str] = mapped_column(String(40), default="")
    ip: Mapped[str] = mapped_column(String(45), default="")
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)
    note: Mapped[str] = mapped_column(String(500), default="")

    actor = relationship("User", lazy="raise")  # loaded with the page by ``search``
    merchant = relationship("Merchant", lazy="raise")

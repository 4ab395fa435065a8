"""Published CO2e factors, the CO2e recorded per green line at the time of the event, and shares."""
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mall.models import Base, UTCDateTime, utcnow

TREE = "tree"  # the factor row holding grams CO2e one tree absorbs in a year
OTHER = "other"  # the factor for a green line whose category has no factor of its own


class ImpactFactor(Base):
    """Grams CO2e saved per yuan spent on a green line of a category, or (key "tree") absorbed by one
    tree in a year. Published on /rules with its source; a change applies to later events only."""

    __tablename__ = "impact_factor"
    __table_args__ = (CheckConstraint("grams >= 0", name="grams_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    grams: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(300), default="")
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ImpactEntry(Base):
    """One green line's CO2e, fixed when the purchase was awarded or the order placed; ``net_grams``
    falls with refunds and cancellations (a cancelled order counts nothing)."""

    __tablename__ = "impact_entry"
    __table_args__ = (
        UniqueConstraint("source", "source_id", "line", name="uq_impact_entry_line"),
        CheckConstraint("source IN ('purchase', 'order')", name="source"),
        CheckConstraint("net_grams >= 0 AND net_grams <= grams", name="net_in_range"),
        Index("ix_impact_entry_member_month", "member_id", "month"),
        Index("ix_impact_entry_month", "month"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    source: Mapped[str] = mapped_column(String(12))
    source_id: Mapped[int] = mapped_column()
    line: Mapped[int] = mapped_column()
    category: Mapped[str] = mapped_column(String(40))
    grams: Mapped[int] = mapped_column(BigInteger)
    net_grams: Mapped[int] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM in Asia/Shanghai
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ImpactShare(Base):
    """A certificate link: an unguessable token and exactly the parts the member chose to show."""

    __tablename__ = "impact_share"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    token: Mapped[str] = mapped_column(String(48), unique=True)
    show_name: Mapped[bool] = mapped_column(default=False)
    show_categories: Mapped[bool] = mapped_column(default=False)
    show_chart: Mapped[bool] = mapped_column(default=False)
    show_trees: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

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


CHANNEL_KINDS = ("bank_card", "transit", "ev_charging")


class EarningChannel(Base):
    """A partner outside the mall that awards points: a bank's green card programme, a metro or bus
    operator, an EV charging network. It is a coalition merchant (its own issuance account pays the
    points, its API key posts events); the published rules apply to what it reports, plus its own
    points per unit (per ride, per kWh) when it has one."""

    __tablename__ = "earning_channel"
    __table_args__ = (CheckConstraint("kind IN ('bank_card', 'transit', 'ev_charging')", name="kind"),
                      CheckConstraint("points_per_unit >= 0 AND points_per_unit <= 1000", name="per_unit"))

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id"), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    name_zh: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(120))
    points_per_unit: Mapped[int] = mapped_column(default=0)  # per ride (transit) or per kWh (charging)
    rule_zh: Mapped[str] = mapped_column(String(300), default="")  # the earning rule in words, for /rules
    rule_en: Mapped[str] = mapped_column(String(300), default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    merchant = relationship("Merchant")

    def name(self, locale: str) -> str:
        return self.name_en if locale.startswith("en") else self.name_zh

    def rule(self, locale: str) -> str:
        return self.rule_en if locale.startswith("en") else self.rule_zh


class ChannelLink(Base):
    """A card or transit account a member linked to their membership: only a keyed hash of its number
    (to recognise it in a channel's events) and a masked number (to show them) are kept."""

    __tablename__ = "channel_link"
    __table_args__ = (Index("ix_channel_link_member", "member_id", "channel_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("earning_channel.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # HMAC of channel id and number
    masked: Mapped[str] = mapped_column(String(24))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChannelEvent(Base):
    """One event a channel posted (its reference is unique per channel) and the purchase it became."""

    __tablename__ = "channel_event"
    __table_args__ = (UniqueConstraint("channel_id", "reference", name="uq_channel_event_reference"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("earning_channel.id"))
    reference: Mapped[str] = mapped_column(String(64))
    purchase_id: Mapped[int] = mapped_column(ForeignKey("purchase.id"), unique=True)
    quantity: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


MERCHANT_CAMPAIGN_KINDS = ("multiplier", "bonus")


class MerchantCampaign(Base):
    """A merchant's own double-points or bonus campaign on purchases at its tills, within the limits
    the operator publishes in the rule set (``merchant_campaigns``); its points come out of the
    merchant's issuance account like every point it issues, so its issuance fee pays for them.
    Ending one early, or an operator suspending it, moves ``ends_at`` to that instant (to its start
    if it had not begun: an empty window); purchases before it keep what they earned."""

    __tablename__ = "merchant_campaign"
    __table_args__ = (
        CheckConstraint("kind IN ('multiplier', 'bonus')", name="kind"),
        CheckConstraint("status IN ('scheduled', 'ended', 'withdrawn', 'suspended')", name="status"),
        CheckConstraint("ends_at >= starts_at", name="window"),
        CheckConstraint("points >= 0", name="points_not_negative"),
        Index("ix_merchant_campaign_merchant_window", "merchant_id", "ends_at"),
        Index("ix_merchant_campaign_window", "ends_at", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id"))
    kind: Mapped[str] = mapped_column(String(12))
    name_zh: Mapped[str] = mapped_column(String(60))
    name_en: Mapped[str] = mapped_column(String(60))
    multiplier: Mapped[str] = mapped_column(String(8), default="1")  # an exact decimal, e.g. "2" or "1.5"
    points: Mapped[int] = mapped_column(default=0)  # a bonus's points per purchase
    categories: Mapped[list] = mapped_column(JSON, default=list)  # empty: every purchase at the merchant
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(12), default="scheduled")
    reason: Mapped[str] = mapped_column(String(300), default="")  # why an operator suspended it
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    merchant = relationship("Merchant", lazy="joined")

    def name(self, locale: str) -> str:
        return self.name_en if locale.startswith("en") else self.name_zh

    def state(self, at: datetime) -> str:
        """scheduled, running, ended, withdrawn or suspended, at ``at``."""
        if self.status != "scheduled":
            return self.status
        if at < self.starts_at:
            return "scheduled"
        return "running" if at < self.ends_at else "ended"

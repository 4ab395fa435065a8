"""Charity projects, donations (with their receipts), monthly pledges, matching campaigns, payouts."""
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mall.models import Base, UTCDateTime, utcnow

CAUSES = ("education", "environment", "disaster_relief", "health", "elderly")
STATUSES = ("upcoming", "open", "funded", "closed")
PLEDGE_STATUSES = ("active", "paused", "cancelled", "ended")


class Project(Base):
    """A charity project with its own guarded ledger account ("charity", id, "main").

    The status is derived from dates, the amount raised and ``closed_at`` (see ``status_at``), so it
    can never disagree with them."""

    __tablename__ = "charity_project"
    __table_args__ = (
        CheckConstraint("goal_points > 0", name="goal_positive"),
        CheckConstraint("fen_per_100_points > 0", name="value_positive"),
        CheckConstraint("raised_points >= 0 AND paid_out_points >= 0", name="totals"),
        CheckConstraint("ends_at > starts_at", name="dates"),
        Index("ix_charity_project_listing", "cause", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cause: Mapped[str] = mapped_column(String(24))
    organisation_zh: Mapped[str] = mapped_column(String(120))
    organisation_en: Mapped[str] = mapped_column(String(120))
    title_zh: Mapped[str] = mapped_column(String(120))
    title_en: Mapped[str] = mapped_column(String(120))
    story_zh: Mapped[str] = mapped_column(Text, default="")
    story_en: Mapped[str] = mapped_column(Text, default="")
    cover_image: Mapped[str | None] = mapped_column(String(200))
    goal_points: Mapped[int] = mapped_column(BigInteger)
    fen_per_100_points: Mapped[int] = mapped_column(default=100)  # what the programme pays per 100 points
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    raised_points: Mapped[int] = mapped_column(BigInteger, default=0)  # donations + matches, ever
    paid_out_points: Mapped[int] = mapped_column(BigInteger, default=0)
    donor_count: Mapped[int] = mapped_column(default=0)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closing_note: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def title(self, locale: str) -> str:
        return self.title_en if locale.startswith("en") else self.title_zh

    def organisation(self, locale: str) -> str:
        return self.organisation_en if locale.startswith("en") else self.organisation_zh

    def story(self, locale: str) -> str:
        return self.story_en if locale.startswith("en") else self.story_zh

    def status_at(self, now: datetime) -> str:
        if self.closed_at is not None or now >= self.ends_at:
            return "closed"
        if now < self.starts_at:
            return "upcoming"
        return "funded" if self.raised_points >= self.goal_points else "open"

    def accepts_donations(self, now: datetime) -> bool:
        return self.status_at(now) in ("open", "funded")

    @property
    def last_moment(self) -> datetime:
        """The last instant of the last day (``ends_at`` itself is exclusive), for display."""
        return self.ends_at - timedelta(microseconds=1)

    @property
    def percent(self) -> int:
        return min(100, self.raised_points * 100 // self.goal_points)

    def value_fen(self, points: int) -> int:
        return points * self.fen_per_100_points // 100


class Donation(Base):
    """One donation and its receipt. ``public_name`` is only ever set when the donor chose to be named."""

    __tablename__ = "charity_donation"
    __table_args__ = (
        CheckConstraint("points > 0 AND matched_points >= 0 AND value_fen >= 0", name="amounts"),
        UniqueConstraint("receipt_number", name="uq_charity_donation_receipt"),
        UniqueConstraint("donor_id", "token", name="uq_charity_donation_token"),
        UniqueConstraint("pledge_id", "pledge_month", name="uq_charity_donation_pledge_month"),
        Index("ix_charity_donation_project", "project_id", "id"),
        Index("ix_charity_donation_donor", "donor_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("charity_project.id"))
    donor_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    points: Mapped[int] = mapped_column(BigInteger)
    matched_points: Mapped[int] = mapped_column(BigInteger, default=0)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("charity_match_campaign.id"))
    value_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # the donor's points in yuan, at the rate of the day
    receipt_number: Mapped[str] = mapped_column(String(32))
    public_name: Mapped[str | None] = mapped_column(String(60))
    token: Mapped[str] = mapped_column(String(64))
    pledge_id: Mapped[int | None] = mapped_column(ForeignKey("charity_pledge.id"))
    pledge_month: Mapped[str | None] = mapped_column(String(7))  # "2026-11" for a monthly collection
    transfer_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transfer.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    project = relationship("Project", lazy="joined")
    campaign = relationship("MatchCampaign", lazy="joined")

    @property
    def anonymous(self) -> bool:
        return self.public_name is None


class Pledge(Base):
    """N points a month to a project, collected by ``flask charity run-pledges``."""

    __tablename__ = "charity_pledge"
    __table_args__ = (
        CheckConstraint("points_per_month > 0", name="points_positive"),
        CheckConstraint("status IN ('active', 'paused', 'cancelled', 'ended')", name="status"),
        Index("ix_charity_pledge_member", "member_id", "id"),
        Index("ix_charity_pledge_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("charity_project.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    points_per_month: Mapped[int] = mapped_column(BigInteger)
    anonymous: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(12), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    project = relationship("Project", lazy="joined")


class MatchCampaign(Base):
    """A sponsor matches donations to a project, ``match_percent`` of each (100 = 1:1), up to a cap."""

    __tablename__ = "charity_match_campaign"
    __table_args__ = (
        CheckConstraint("match_percent > 0 AND match_percent <= 1000", name="percent"),
        CheckConstraint("cap_points > 0 AND matched_points >= 0 AND matched_points <= cap_points", name="cap"),
        CheckConstraint("ends_at > starts_at", name="dates"),
        Index("ix_charity_match_campaign_project", "project_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("charity_project.id"))
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchant.id"))  # None: the programme
    sponsor_zh: Mapped[str] = mapped_column(String(120))
    sponsor_en: Mapped[str] = mapped_column(String(120))
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"))
    match_percent: Mapped[int] = mapped_column(default=100)
    cap_points: Mapped[int] = mapped_column(BigInteger)
    matched_points: Mapped[int] = mapped_column(BigInteger, default=0)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def sponsor(self, locale: str) -> str:
        return self.sponsor_en if locale.startswith("en") else self.sponsor_zh

    @property
    def last_moment(self) -> datetime:
        return self.ends_at - timedelta(microseconds=1)

    def running(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at and self.matched_points < self.cap_points


class Payout(Base):
    """Points converted and paid to the organisation (or moved to a successor project on closing)."""

    __tablename__ = "charity_payout"
    __table_args__ = (
        CheckConstraint("points > 0 AND value_fen >= 0", name="amounts"),
        UniqueConstraint("reference", name="uq_charity_payout_reference"),
        Index("ix_charity_payout_project", "project_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("charity_project.id"))
    points: Mapped[int] = mapped_column(BigInteger)
    value_fen: Mapped[int] = mapped_column(BigInteger)
    reference: Mapped[str] = mapped_column(String(64))  # the bank transfer / agreement reference
    note: Mapped[str] = mapped_column(String(200), default="")
    transfer_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transfer.id"))
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

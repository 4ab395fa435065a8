"""Households: a family, its members and their pool rights, invitations, gifts and an activity log."""
from datetime import datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mall.models import Base, UTCDateTime, utcnow


class Family(Base):
    __tablename__ = "family"
    __table_args__ = (CheckConstraint("status IN ('active', 'dissolved')", name="status"),
                      CheckConstraint("goal_points IS NULL OR goal_points > 0", name="goal_points"))

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    head_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    status: Mapped[str] = mapped_column(String(12), default="active")
    goal_name: Mapped[str] = mapped_column(String(80), default="")
    goal_points: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    dissolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    head = relationship("User", lazy="joined")
    members = relationship("FamilyMember", lazy="selectin", order_by="FamilyMember.id", back_populates="family")


class FamilyMember(Base):
    """A current member. The row is deleted when the member leaves or is removed (the log keeps the
    history), so a unique user id means one family per member at a time."""

    __tablename__ = "family_member"
    __table_args__ = (CheckConstraint("role IN ('head', 'member')", name="role"),
                      CheckConstraint("pool_percent >= 0 AND pool_percent <= 100", name="pool_percent"),
                      CheckConstraint("monthly_limit IS NULL OR monthly_limit >= 0", name="monthly_limit"))

    id: Mapped[int] = mapped_column(primary_key=True)
    family_id: Mapped[int] = mapped_column(ForeignKey("family.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), unique=True)
    role: Mapped[str] = mapped_column(String(8), default="member")
    can_redeem: Mapped[bool] = mapped_column(default=False)
    monthly_limit: Mapped[int | None] = mapped_column(BigInteger)  # None: no limit
    pool_percent: Mapped[int] = mapped_column(default=0)  # opt-in share of earnings sent to the pool
    pool_percent_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    family = relationship("Family", back_populates="members")
    user = relationship("User", lazy="joined")


class FamilyInvitation(Base):
    """A one-time invitation: a link whose token is stored hashed, optionally bound to a member code."""

    __tablename__ = "family_invitation"
    __table_args__ = (CheckConstraint("status IN ('pending', 'accepted', 'declined', 'revoked')", name="status"),
                      Index("ix_family_invitation_code", "member_code", "status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    family_id: Mapped[int] = mapped_column(ForeignKey("family.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    member_code: Mapped[str | None] = mapped_column(String(12))
    invited_by: Mapped[int] = mapped_column(ForeignKey("user.id"))
    status: Mapped[str] = mapped_column(String(12), default="pending")
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    family = relationship("Family", lazy="joined")


class FamilyGift(Base):
    __tablename__ = "family_gift"
    __table_args__ = (CheckConstraint("points > 0", name="points"),
                      CheckConstraint("sender_id <> recipient_id", name="not_to_self"),
                      Index("ix_family_gift_sender", "sender_id", "created_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    sender_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    recipient_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    family_id: Mapped[int | None] = mapped_column(ForeignKey("family.id"))
    points: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str] = mapped_column(String(140), default="")
    transfer_id: Mapped[int] = mapped_column(ForeignKey("ledger_transfer.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FamilyEvent(Base):
    """What happened in a family and who consented to it: joins, removals, contributions (with the
    wording the member agreed to), rights, opt-ins, gifts, dissolution."""

    __tablename__ = "family_event"
    __table_args__ = (Index("ix_family_event_family", "family_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    family_id: Mapped[int] = mapped_column(ForeignKey("family.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    kind: Mapped[str] = mapped_column(String(24))
    points: Mapped[int] = mapped_column(BigInteger, default=0)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    transfer_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transfer.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

"""Users, roles and the member code merchants use to award points."""
from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mall.models import Base, UTCDateTime, utcnow

ROLES = ("member", "merchant", "operator")
# what a member of a merchant's staff may do: the owner everything, staff included; a manager all but the
# staff; a cashier records purchases and accepts vouchers, coupons and till bills (mall.guards)
MERCHANT_ROLES = ("owner", "manager", "cashier")


class User(Base):
    __tablename__ = "user"
    __table_args__ = (CheckConstraint("role IN ('member', 'merchant', 'operator')", name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(60))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="member")
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchant.id"), index=True)
    merchant_role: Mapped[str | None] = mapped_column(String(12))  # owner, manager or cashier (staff only)
    member_code: Mapped[str] = mapped_column(String(12), unique=True)
    locale: Mapped[str | None] = mapped_column(String(16))
    phone: Mapped[str | None] = mapped_column(String(20), index=True)  # optional, mainland mobile
    birthday: Mapped[date | None] = mapped_column(Date)
    good_credit: Mapped[bool] = mapped_column(default=False)  # set by an operator
    session_token: Mapped[str] = mapped_column(String(64))
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # personal data erased
    terms_accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # agreed to the rules and privacy page
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    merchant = relationship("Merchant", lazy="joined")

    # Flask-Login protocol, written out so the session id carries the per-user token.
    is_active = True
    is_anonymous = False

    @property
    def is_authenticated(self) -> bool:
        return True

    def get_id(self) -> str:
        return f"{self.id}.{self.session_token}"

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"

    @property
    def is_merchant_staff(self) -> bool:
        return self.role == "merchant" and self.merchant_id is not None

    @property
    def masked_code(self) -> str:
        return self.member_code[:2] + "****" + self.member_code[-2:]


class Notification(Base):
    """A message to a member; ``dedupe_key`` makes each reminder happen once."""

    __tablename__ = "notification"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    dedupe_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StaffInvitation(Base):
    """An owner asks a member (found by member code) to join the merchant's staff in a role. When the
    member accepts, their account works in the back office; their points stay theirs, and when they
    leave the staff it is a member's account again, sign-in intact."""

    __tablename__ = "staff_invitation"
    __table_args__ = (
        CheckConstraint("role IN ('owner', 'manager', 'cashier')", name="role"),
        CheckConstraint("status IN ('pending', 'accepted', 'declined', 'withdrawn', 'ended')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(12))
    status: Mapped[str] = mapped_column(String(12), default="pending")
    invited_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    member = relationship("User", foreign_keys=[member_id], lazy="joined")

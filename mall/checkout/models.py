"""Carts, orders and their lines, vouchers, cash payments and bill payments."""
from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mall.models import Base, UTCDateTime, utcnow

ORDER_STATUSES = ("placed", "fulfilled", "cancelled")


class CartItem(Base):
    __tablename__ = "cart_item"
    __table_args__ = (CheckConstraint("quantity > 0 AND quantity <= 99", name="quantity"),
                      CheckConstraint("option IN ('points', 'mix')", name="option"))

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    listing_id: Mapped[int] = mapped_column(ForeignKey("listing.id", ondelete="CASCADE"))
    option: Mapped[str] = mapped_column(String(8), default="points")
    quantity: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    listing = relationship("Listing", lazy="joined")


class Order(Base):
    """One merchant's part of a checkout. Its points moved in one ledger posting."""

    __tablename__ = "order"
    __table_args__ = (
        CheckConstraint("status IN ('placed', 'fulfilled', 'cancelled')", name="status"),
        CheckConstraint("points >= 0 AND cash_fen >= 0", name="amounts"),
        UniqueConstraint("member_id", "checkout_token", "merchant_id", name="uq_order_checkout"),
        Index("ix_order_member", "member_id", "id"),
        Index("ix_order_merchant", "merchant_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id"))
    checkout_token: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), default="placed")
    payment_source: Mapped[str] = mapped_column(String(16), default="own")
    points: Mapped[int] = mapped_column(BigInteger, default=0)
    cash_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payment.id"))
    transfer_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transfer.id"))
    delivery: Mapped[dict] = mapped_column(JSON, default=dict)
    cancelled_by: Mapped[str | None] = mapped_column(String(12))  # member | merchant
    cancel_reason: Mapped[str] = mapped_column(String(200), default="")
    compensation: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    fulfilled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    merchant = relationship("Merchant", lazy="joined")
    lines = relationship("OrderLine", lazy="selectin", order_by="OrderLine.id", back_populates="order")


class OrderLine(Base):
    __tablename__ = "order_line"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity"),
                      CheckConstraint("refunded_quantity >= 0 AND refunded_quantity <= quantity", name="refunded"))

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("order.id"), index=True)
    listing_id: Mapped[int] = mapped_column(ForeignKey("listing.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    title_zh: Mapped[str] = mapped_column(String(160))
    title_en: Mapped[str] = mapped_column(String(160))
    option: Mapped[str] = mapped_column(String(8))
    quantity: Mapped[int] = mapped_column()
    refunded_quantity: Mapped[int] = mapped_column(default=0)
    unit_points: Mapped[int] = mapped_column(BigInteger)
    unit_cash_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    slot_id: Mapped[int | None] = mapped_column(ForeignKey("service_slot.id"))
    first_night: Mapped[date | None] = mapped_column(Date)
    nights: Mapped[int | None] = mapped_column()
    co2e_g: Mapped[int] = mapped_column(BigInteger, default=0)

    order = relationship("Order", back_populates="lines")
    vouchers = relationship("Voucher", lazy="selectin", order_by="Voucher.id")

    def title(self, locale: str) -> str:
        return self.title_en if locale.startswith("en") else self.title_zh


class Voucher(Base):
    """A code the merchant scans or types; it can be redeemed once."""

    __tablename__ = "voucher"
    __table_args__ = (CheckConstraint("status IN ('active', 'redeemed', 'cancelled')", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_line.id"), index=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id"), index=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    status: Mapped[str] = mapped_column(String(12), default="active")
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    redeemed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Payment(Base):
    """A cash payment through the gateway: authorised before the order, captured after, voided if the
    order could not be placed."""

    __tablename__ = "payment"
    __table_args__ = (
        CheckConstraint("status IN ('authorised', 'captured', 'voided', 'declined', 'timed_out', 'refunded')",
                        name="status"),
        UniqueConstraint("member_id", "checkout_token", name="uq_payment_checkout"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    checkout_token: Mapped[str] = mapped_column(String(64))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12))
    gateway_ref: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BillPayment(Base):
    """A merchant asks a member to pay part of a till bill with points; the member approves it."""

    __tablename__ = "bill_payment"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'declined', 'expired', 'voided')", name="status"),
        CheckConstraint("bill_fen > 0 AND points_requested > 0", name="amounts"),
        CheckConstraint("code_attempts >= 0", name="code_attempts"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    bill_fen: Mapped[int] = mapped_column(BigInteger)
    points_requested: Mapped[int] = mapped_column(BigInteger)
    points_used: Mapped[int] = mapped_column(BigInteger, default=0)
    cash_due_fen: Mapped[int] = mapped_column(BigInteger)
    one_time_code: Mapped[str] = mapped_column(String(8), index=True)  # unique among pending requests
    status: Mapped[str] = mapped_column(String(12), default="pending")
    # Tries of the one-time code so far (right or wrong); the request is void after the last allowed wrong one.
    code_attempts: Mapped[int] = mapped_column(default=0)
    reference: Mapped[str] = mapped_column(String(64), default="")
    transfer_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transfer.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

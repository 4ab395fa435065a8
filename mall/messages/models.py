"""The outbox, delivery attempts, members' message preferences and merchants' webhook endpoints."""
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mall.models import Base, UTCDateTime, utcnow

CHANNELS = ("email", "sms", "webhook")  # in-app messages are written straight to the notification list
STATUSES = ("pending", "sending", "sent", "dead", "discarded", "skipped")


class OutboxMessage(Base):
    """One message to one recipient over one channel, written in the transaction of the change that
    caused it. ``dedupe_key`` is unique: one message per cause, recipient and channel, whatever retries.

    pending → (claimed by a worker: sending, with a lease) → sent; a failure goes back to pending with a
    later ``next_attempt_at``, and after the last attempt to dead (the operator may retry or discard it);
    skipped when it may not be sent at all (no verified address, the SMS cap, unsubscribed meanwhile)."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        CheckConstraint("channel IN ('email', 'sms', 'webhook')", name="channel"),
        CheckConstraint("status IN ('pending', 'sending', 'sent', 'dead', 'discarded', 'skipped')", name="status"),
        Index("ix_outbox_message_due", "status", "next_attempt_at"),
        Index("ix_outbox_message_user", "user_id", "id"),
        Index("ix_outbox_message_merchant", "merchant_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(160), unique=True)
    topic: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(12))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchant.id"))
    endpoint_id: Mapped[int | None] = mapped_column(ForeignKey("webhook_endpoint.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(500), default="")  # e-mail address, phone or URL, when queued
    locale: Mapped[str] = mapped_column(String(16), default="zh_Hans_CN")
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    provider_ref: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DeliveryAttempt(Base):
    """One try at delivering an outbox message: the merchant's webhook delivery log, the console's errors."""

    __tablename__ = "delivery_attempt"
    __table_args__ = (Index("ix_delivery_attempt_message", "message_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("outbox_message.id", ondelete="CASCADE"))
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ok: Mapped[bool] = mapped_column(default=False)
    status_code: Mapped[int | None] = mapped_column()
    error: Mapped[str] = mapped_column(String(500), default="")
    duration_ms: Mapped[int] = mapped_column(default=0)


class MessagePreference(Base):
    """A member's choice for one topic on one channel (in-app, e-mail, SMS); no row means the default."""

    __tablename__ = "message_preference"
    __table_args__ = (UniqueConstraint("user_id", "topic", "channel", name="uq_message_preference_choice"),
                      CheckConstraint("channel IN ('inapp', 'email', 'sms')", name="channel"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    topic: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(12))
    enabled: Mapped[bool] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MessageProfile(Base):
    """A member's quiet hours (Asia/Shanghai) and which e-mail address they confirmed."""

    __tablename__ = "message_profile"
    __table_args__ = (CheckConstraint("quiet_start BETWEEN 0 AND 23 AND quiet_end BETWEEN 0 AND 23", name="hours"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    quiet_hours: Mapped[bool] = mapped_column(default=True)
    quiet_start: Mapped[int] = mapped_column(default=22)  # from 22:00
    quiet_end: Mapped[int] = mapped_column(default=8)  # until 08:00
    verified_email: Mapped[str | None] = mapped_column(String(254))
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookEndpoint(Base):
    """A merchant's HTTPS endpoint for event notifications, with the secret that signs them."""

    __tablename__ = "webhook_endpoint"

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(80))
    events: Mapped[list] = mapped_column(JSON, default=list)  # empty: every event
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

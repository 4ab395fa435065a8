"""Queueing messages, members' preferences, merchants' webhook endpoints, and the console's outbox.

``post`` is how a change tells a member something: in the change's own transaction it writes the
in-app notice and one outbox row per further channel the member has on (e-mail to a confirmed
address, SMS for the few topics that need a phone), so a rolled-back change sends nothing and a
committed one is never lost. ``post_webhook`` does the same for a merchant's endpoints. The worker
(``mall.messages.delivery``) sends what the outbox holds. Flush, never commit.
"""
import secrets
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from mall.account import service as accounts
from mall.account.models import User
from mall.clock import utcnow
from mall.errors import Conflict, DomainError, NotFound
from mall.messages.models import DeliveryAttempt, MessagePreference, MessageProfile, OutboxMessage, WebhookEndpoint
from mall.messages.topics import INAPP_ELSEWHERE, SMS_TOPICS, TOPICS, WEBHOOK_EVENTS, member_topics
from mall.settings import settings_of

SHANGHAI = ZoneInfo("Asia/Shanghai")
DUE_STATUSES = ("pending", "sending")


class TooSoon(DomainError):
    """Asked again for something the mall sends only a few times an hour."""

    status = 429
    code = "too-soon"


# ---------------------------------------------------------------- preferences

def profile_for(session: Session, user_id: int) -> MessageProfile:
    """The member's message profile (quiet hours, confirmed address); a default one if they have none yet."""
    row = session.get(MessageProfile, user_id)
    return row if row is not None else MessageProfile(user_id=user_id, quiet_hours=True, quiet_start=22, quiet_end=8)


def choices_for(session: Session, user_id: int) -> dict[tuple[str, str], bool]:
    """Every (topic, channel) the member may choose, with what is in force (their choice or the default)."""
    chosen = {(p.topic, p.channel): p.enabled for p in session.scalars(
        select(MessagePreference).where(MessagePreference.user_id == user_id))}
    return {(t.key, c): chosen.get((t.key, c), c in t.defaults) for t in member_topics() for c in t.channels}


def set_choices(session: Session, user: User, enabled: set[tuple[str, str]], quiet_hours: bool,
                quiet_start: int, quiet_end: int, now: datetime | None = None, language: str | None = None) -> None:
    """Store the member's choices: ``enabled`` holds the (topic, channel) pairs they want, every other
    pair they may choose is off; ``language`` is the one their messages (and pages) are written in."""
    now = now or utcnow()
    if language is not None:
        accounts.set_locale(user, language)
    if not (0 <= quiet_start <= 23 and 0 <= quiet_end <= 23):
        raise DomainError(_l("Quiet hours run from one whole hour to another, 0 to 23."), code="quiet-hours")
    current = {(p.topic, p.channel): p for p in session.scalars(
        select(MessagePreference).where(MessagePreference.user_id == user.id))}
    for key in choices_for(session, user.id):
        on = key in enabled
        row = current.get(key)
        if row is None:
            session.add(MessagePreference(user_id=user.id, topic=key[0], channel=key[1], enabled=on, updated_at=now))
        elif row.enabled != on:
            row.enabled, row.updated_at = on, now
    profile = _profile_row(session, user.id, now)
    profile.quiet_hours, profile.quiet_start, profile.quiet_end = quiet_hours, quiet_start, quiet_end
    profile.updated_at = now
    session.flush()


def unsubscribe(session: Session, user_id: int, topic: str, now: datetime | None = None) -> None:
    """Turn e-mail off for one topic (the link in every e-mail; ``topic`` "all" turns every one off)."""
    now = now or utcnow()
    user = session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        raise NotFound(_l("No such member."))
    topics = [t.key for t in member_topics() if "email" in t.channels] if topic == "all" else [topic]
    if topic != "all" and (topic not in TOPICS or "email" not in TOPICS[topic].channels):
        raise NotFound(_l("No such topic."))
    rows = {p.topic: p for p in session.scalars(select(MessagePreference).where(
        MessagePreference.user_id == user_id, MessagePreference.channel == "email",
        MessagePreference.topic.in_(topics)))}
    for key in topics:
        if key in rows:
            rows[key].enabled, rows[key].updated_at = False, now
        else:
            session.add(MessagePreference(user_id=user_id, topic=key, channel="email", enabled=False, updated_at=now))
    # what is queued and not yet sent for those topics is not sent either
    session.execute(update(OutboxMessage).where(
        OutboxMessage.user_id == user_id, OutboxMessage.channel == "email", OutboxMessage.topic.in_(topics),
        OutboxMessage.status == "pending").values(status="skipped", last_error="unsubscribed"))
    session.flush()


def _profile_row(session, user_id, now) -> MessageProfile:
    row = session.get(MessageProfile, user_id)
    if row is None:
        row = MessageProfile(user_id=user_id, quiet_hours=True, quiet_start=22, quiet_end=8, updated_at=now)
        session.add(row)
    return row


def email_confirmed(session: Session, user: User) -> bool:
    profile = session.get(MessageProfile, user.id)
    return bool(profile and profile.verified_email and profile.verified_email == user.email)


def request_confirmation(session: Session, user: User, url: str, now: datetime | None = None) -> OutboxMessage:
    """Queue the confirmation link (``url``, signed by the door) to the member's address."""
    now = now or utcnow()
    if email_confirmed(session, user):
        raise DomainError(_l("Your e-mail address is already confirmed."), code="already-confirmed")
    recent = session.scalar(select(func.count(OutboxMessage.id)).where(
        OutboxMessage.user_id == user.id, OutboxMessage.topic == "email_confirm",
        OutboxMessage.created_at > now - timedelta(hours=1)))
    if recent >= 3:
        raise TooSoon(_l("We sent several confirmation links in the last hour. Please wait before asking again."))
    row = _queue(session, user, "email_confirm", "email", user.email, {"email": user.email, "url": url},
                 f"email_confirm:{user.id}:{secrets.token_hex(8)}", now, quiet=False)
    session.flush()
    _remember(session, [row])
    return row


def confirm_email(session: Session, user_id: int, email: str, now: datetime | None = None) -> User:
    """The member opened their confirmation link: the address it was sent to is confirmed, if still theirs."""
    now = now or utcnow()
    user = session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        raise NotFound(_l("No such member."))
    if user.email != email:
        raise DomainError(_l("This link was for an address that is no longer on your account."), code="stale-link")
    profile = _profile_row(session, user_id, now)
    profile.verified_email, profile.verified_at, profile.updated_at = email, now, now
    session.flush()
    return user


# ---------------------------------------------------------------- queueing

def quiet_until(profile: MessageProfile, now: datetime) -> datetime | None:
    """When the member's quiet hours end, if ``now`` falls inside them (Asia/Shanghai), else None."""
    if not profile.quiet_hours or profile.quiet_start == profile.quiet_end:
        return None
    local = now.astimezone(SHANGHAI)
    start, end, hour = profile.quiet_start, profile.quiet_end, local.hour
    inside = (start <= hour or hour < end) if start > end else (start <= hour < end)
    if not inside:
        return None
    morning = local.replace(hour=end, minute=0, second=0, microsecond=0)
    if morning <= local:
        morning += timedelta(days=1)
    return morning.astimezone(timezone.utc)


def post(session: Session, topic: str, user_id: int, data: dict, cause: str,
         now: datetime | None = None) -> list[OutboxMessage]:
    """Tell member ``user_id`` about ``topic``: the in-app notice and the outbox rows of every other
    channel they have on. ``cause`` names the change (e.g. "order:17"): one message per cause, topic,
    recipient and channel, however often this runs. Returns the outbox rows written."""
    now = now or utcnow()
    spec = TOPICS[topic]
    user = session.get(User, user_id)
    if user is None or user.deleted_at is not None or (user.role != "member" and not spec.transactional):
        return []
    # a transactional message (an answer the user asked for) goes on its channels whatever the choices
    choices = {(topic, c): True for c in spec.channels} if spec.transactional else choices_for(session, user_id)
    if "inapp" in spec.channels and topic not in INAPP_ELSEWHERE and choices.get((topic, "inapp")):
        accounts.notify(session, user_id, f"msg:{topic}", data, dedupe_key=f"{topic}:{cause}:inapp:u{user_id}")
    rows = []
    if choices.get((topic, "email")) and (spec.transactional or email_confirmed(session, user)):
        rows.append(_queue(session, user, topic, "email", user.email, data, f"{topic}:{cause}:email:u{user_id}", now))
    if (choices.get((topic, "sms")) and topic in SMS_TOPICS and user.phone
            and (topic != "points_expiring" or data.get("days", 30) <= 7)):
        rows.append(_queue(session, user, topic, "sms", user.phone, data, f"{topic}:{cause}:sms:u{user_id}", now,
                           quiet=not spec.urgent))
    rows = [r for r in rows if r is not None]
    session.flush()
    _remember(session, rows)
    return rows


def _queue(session, user, topic, channel, address, data, key, now, quiet=True) -> OutboxMessage | None:
    if session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key)) is not None:
        return None
    due = quiet_until(profile_for(session, user.id), now) if quiet else None
    row = OutboxMessage(dedupe_key=key, topic=topic, channel=channel, user_id=user.id, address=address,
                        locale=user.locale or "zh_Hans_CN", data=data, status="pending",
                        next_attempt_at=due or now, created_at=now)
    session.add(row)
    return row


def post_webhook(session: Session, merchant_id: int, event: str, data: dict, cause: str,
                 now: datetime | None = None) -> list[OutboxMessage]:
    """Queue ``event`` to each of the merchant's active endpoints that takes it."""
    now = now or utcnow()
    rows = []
    for endpoint in session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.merchant_id == merchant_id,
                                                                   WebhookEndpoint.active.is_(True))):
        if endpoint.events and event not in endpoint.events:
            continue
        key = f"webhook:{event}:{cause}:e{endpoint.id}"
        if session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key)) is not None:
            continue
        row = OutboxMessage(dedupe_key=key, topic=event, channel="webhook", merchant_id=merchant_id,
                            endpoint_id=endpoint.id, address=endpoint.url, locale="en", status="pending",
                            data={"type": event, "created": now.isoformat(), "data": data},
                            next_attempt_at=now, created_at=now)
        session.add(row)
        rows.append(row)
    session.flush()
    _remember(session, rows)
    return rows


def _remember(session: Session, rows) -> None:
    """The worker hears of new rows when the transaction commits (``mall.messages.delivery.install``)."""
    if rows:
        session.info.setdefault("outbox_new", []).extend(r.id for r in rows)


# ---------------------------------------------------------------- webhook endpoints

def endpoints_for(session: Session, merchant_id: int) -> list[WebhookEndpoint]:
    return session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.merchant_id == merchant_id)
                           .order_by(WebhookEndpoint.id)).all()


def get_endpoint_for(session: Session, merchant_id: int, endpoint_id: int) -> WebhookEndpoint:
    """One of the merchant's endpoints; another merchant's is not found."""
    row = session.get(WebhookEndpoint, endpoint_id)
    if row is None or row.merchant_id != merchant_id:
        raise NotFound(_l("No such endpoint."))
    return row


def add_endpoint(session: Session, merchant_id: int, user_id: int, url: str, events: list[str],
                 allow_http: bool = False, now: datetime | None = None) -> WebhookEndpoint:
    url = (url or "").strip()
    parts = urlsplit(url)
    local = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if not parts.hostname or parts.scheme not in ("https", "http") or (parts.scheme == "http" and not (allow_http and local)):
        raise DomainError(_l("The endpoint must be an https:// address."), code="webhook-url")
    if len(url) > 500:
        raise DomainError(_l("This address is too long."), code="webhook-url")
    unknown = [e for e in events if e not in WEBHOOK_EVENTS]
    if unknown:
        raise DomainError(_l("Unknown event: %(name)s.", name=unknown[0]), code="webhook-event")
    if len(endpoints_for(session, merchant_id)) >= 5:
        raise DomainError(_l("A merchant can register at most 5 endpoints."), code="webhook-limit")
    row = WebhookEndpoint(merchant_id=merchant_id, url=url, secret="whsec_" + secrets.token_urlsafe(32),
                          events=sorted(set(events)), active=True, created_at=now or utcnow(), created_by=user_id)
    session.add(row)
    session.flush()
    return row


def set_endpoint_active(session: Session, merchant_id: int, endpoint_id: int, active: bool) -> WebhookEndpoint:
    row = get_endpoint_for(session, merchant_id, endpoint_id)
    row.active = active
    if not active:  # nothing more goes to an endpoint switched off
        session.execute(update(OutboxMessage).where(OutboxMessage.endpoint_id == row.id,
                                                    OutboxMessage.status == "pending")
                        .values(status="discarded", last_error="endpoint disabled"))
    session.flush()
    return row


def rotate_secret(session: Session, merchant_id: int, endpoint_id: int) -> WebhookEndpoint:
    row = get_endpoint_for(session, merchant_id, endpoint_id)
    row.secret = "whsec_" + secrets.token_urlsafe(32)
    session.flush()
    return row


def delete_endpoint(session: Session, merchant_id: int, endpoint_id: int) -> None:
    row = get_endpoint_for(session, merchant_id, endpoint_id)
    session.execute(delete(OutboxMessage).where(OutboxMessage.endpoint_id == row.id))
    session.delete(row)
    session.flush()


def send_test_event(session: Session, merchant_id: int, endpoint_id: int, now: datetime | None = None) -> OutboxMessage:
    """Queue a ``ping`` event to one endpoint, now, whatever events it takes."""
    now = now or utcnow()
    endpoint = get_endpoint_for(session, merchant_id, endpoint_id)
    if not endpoint.active:
        raise DomainError(_l("This endpoint is switched off."), code="webhook-inactive")
    row = OutboxMessage(dedupe_key=f"webhook:ping:{secrets.token_hex(8)}:e{endpoint.id}", topic="ping",
                        channel="webhook", merchant_id=merchant_id, endpoint_id=endpoint.id, address=endpoint.url,
                        locale="en", status="pending", next_attempt_at=now, created_at=now,
                        data={"type": "ping", "created": now.isoformat(), "data": {"merchant_id": merchant_id}})
    session.add(row)
    session.flush()
    _remember(session, [row])
    return row


def deliveries_for(session: Session, merchant_id: int, endpoint_id: int, limit: int = 50) -> list[OutboxMessage]:
    """The endpoint's newest deliveries (the merchant's delivery log)."""
    get_endpoint_for(session, merchant_id, endpoint_id)
    return session.scalars(select(OutboxMessage).where(OutboxMessage.endpoint_id == endpoint_id)
                           .order_by(OutboxMessage.id.desc()).limit(limit)).all()


def attempts_of(session: Session, message_ids) -> dict[int, list[DeliveryAttempt]]:
    found: dict[int, list[DeliveryAttempt]] = {}
    if message_ids:
        for row in session.scalars(select(DeliveryAttempt).where(DeliveryAttempt.message_id.in_(list(message_ids)))
                                   .order_by(DeliveryAttempt.id)):
            found.setdefault(row.message_id, []).append(row)
    return found


# ---------------------------------------------------------------- the console

def dead_letters(session: Session, limit: int = 100, before_id: int | None = None) -> list[OutboxMessage]:
    stmt = select(OutboxMessage).where(OutboxMessage.status == "dead").order_by(OutboxMessage.id.desc()).limit(limit)
    if before_id:
        stmt = stmt.where(OutboxMessage.id < before_id)
    return session.scalars(stmt).all()


def _dead(session, message_id) -> OutboxMessage:
    row = session.get(OutboxMessage, message_id)
    if row is None:
        raise NotFound(_l("No such message."))
    if row.status != "dead":
        raise Conflict(_l("This message is no longer in the dead-letter list."), code="not-dead")
    return row


def retry_dead(session: Session, message_id: int, now: datetime | None = None) -> OutboxMessage:
    """Put a dead message back in the queue, with its attempts counted afresh."""
    row = _dead(session, message_id)
    row.status, row.attempts, row.next_attempt_at, row.lease_until = "pending", 0, now or utcnow(), None
    session.flush()
    _remember(session, [row])
    return row


def discard_dead(session: Session, message_id: int) -> OutboxMessage:
    row = _dead(session, message_id)
    row.status = "discarded"
    session.flush()
    return row


def metrics(session: Session, now: datetime | None = None) -> dict:
    """Sent and failed in the last 24 hours, what waits, what is dead, and the lag: how long the oldest
    due message has waited, and the median time from queued to sent over the last hour."""
    now = now or utcnow()
    day = now - timedelta(days=1)
    by_status = dict(session.execute(select(OutboxMessage.status, func.count(OutboxMessage.id))
                                     .group_by(OutboxMessage.status)).all())
    sent = session.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.status == "sent",
                                                                       OutboxMessage.sent_at >= day))
    failed = session.scalar(select(func.count(DeliveryAttempt.id)).where(DeliveryAttempt.ok.is_(False),
                                                                          DeliveryAttempt.attempted_at >= day))
    oldest = session.scalar(select(func.min(OutboxMessage.next_attempt_at)).where(
        OutboxMessage.status.in_(DUE_STATUSES), OutboxMessage.next_attempt_at <= now))
    recent = session.execute(select(OutboxMessage.created_at, OutboxMessage.sent_at).where(
        OutboxMessage.status == "sent", OutboxMessage.sent_at >= now - timedelta(hours=1),
        OutboxMessage.attempts == 1).order_by(OutboxMessage.sent_at.desc()).limit(1000)).all()
    lags = sorted((s - c).total_seconds() for c, s in recent if s and c and s >= c)
    by_channel = dict(session.execute(select(OutboxMessage.channel, func.count(OutboxMessage.id))
                                      .where(OutboxMessage.status == "sent", OutboxMessage.sent_at >= day)
                                      .group_by(OutboxMessage.channel)).all())
    return {"sent_24h": sent or 0, "failed_24h": failed or 0, "pending": by_status.get("pending", 0),
            "sending": by_status.get("sending", 0), "dead": by_status.get("dead", 0),
            "oldest_due_seconds": (now - oldest).total_seconds() if oldest else 0.0,
            "median_lag_seconds": lags[len(lags) // 2] if lags else None, "sent_by_channel": by_channel}


# ---------------------------------------------------------------- a member's data

def export_for(session: Session, user_id: int) -> dict:
    """The member's message preferences, profile and message log, for their personal-data export."""
    profile = session.get(MessageProfile, user_id)
    return {
        "preferences": [{"topic": t, "channel": c, "enabled": on} for (t, c), on in choices_for(session, user_id).items()],
        "quiet_hours": ({"on": profile.quiet_hours, "from": profile.quiet_start, "until": profile.quiet_end}
                        if profile else {"on": True, "from": 22, "until": 8}),
        "confirmed_email": profile.verified_email if profile else None,
        "messages": [{"id": m.id, "topic": m.topic, "channel": m.channel, "address": m.address, "status": m.status,
                      "created_at": m.created_at.isoformat(), "sent_at": m.sent_at.isoformat() if m.sent_at else None,
                      "data": m.data}
                     for m in session.scalars(select(OutboxMessage).where(OutboxMessage.user_id == user_id)
                                              .order_by(OutboxMessage.id))],
    }


def erase_for(session: Session, user_id: int) -> None:
    """A deleted member's preferences, profile and messages are erased; nothing more is sent to them."""
    ids = select(OutboxMessage.id).where(OutboxMessage.user_id == user_id).scalar_subquery()
    session.execute(delete(DeliveryAttempt).where(DeliveryAttempt.message_id.in_(ids)))
    session.execute(delete(OutboxMessage).where(OutboxMessage.user_id == user_id))
    session.execute(delete(MessagePreference).where(MessagePreference.user_id == user_id))
    session.execute(delete(MessageProfile).where(MessageProfile.user_id == user_id))
    session.flush()


def sms_cap(session: Session) -> int:
    return int(settings_of(session).get("SMS_DAILY_CAP") or 5)

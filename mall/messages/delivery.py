"""The worker's side of the outbox: claim a due message, send it, record the outcome.

At most once per message and channel: a worker first *claims* a message — one conditional UPDATE that
moves it from pending (and due) to sending with a lease, committed before anything is sent — so two
workers, or a job queued twice, cannot both send it. The outcome is committed right after the send:
sent; or back to pending with a later attempt (exponential backoff: ``MESSAGES_RETRY_BASE_SECONDS`` ×
2^(attempts − 1), at most an hour), dead after ``MESSAGES_MAX_ATTEMPTS`` attempts. A worker killed
between its claim and the outcome leaves the message sending; once its lease (``MESSAGES_LEASE_SECONDS``)
runs out another worker claims it again, and the message carries the same id to the other side (the
Message-ID, the SMS reference, the webhook event id) so that side can recognise a repeat.

With Redis configured (``REDIS_URL``), a message committed by the app is handed at once to RQ's queue
(``install``: after the commit), and ``flask --app app worker`` runs RQ's worker on it; the worker also
sweeps the outbox every few seconds for what is due (retries, quiet hours ended, a hand-off lost).
Without Redis the same command polls the outbox alone.
"""
import logging
import time
from contextlib import contextmanager
from datetime import datetime, timedelta

from flask import current_app, render_template, url_for
from flask_babel import force_locale
from redis import Redis
from rq import Queue
from sqlalchemy import and_, event, func, or_, select, update

from mall.clock import utcnow
from mall.db import write
from mall.extensions import MallSession, db
from mall.messages import channels, service, tokens
from mall.messages.models import DeliveryAttempt, OutboxMessage, WebhookEndpoint
from mall.messages.compose import compose
from mall.messages.topics import TOPICS

log = logging.getLogger("mall.messages")
QUEUE = "mall-messages"
BATCH = 20  # messages per RQ job


def _due(now: datetime):
    return or_(and_(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now),
               and_(OutboxMessage.status == "sending", OutboxMessage.lease_until < now))


@contextmanager
def _read():
    """A short read of its own, ended at once (no write lock on SQLite, no snapshot kept)."""
    session = db.session()
    try:
        yield session
    finally:
        session.rollback()


def due_ids(limit: int = 500, now: datetime | None = None) -> list[tuple[int, int]]:
    """(id, attempts so far) of messages due now, soonest first."""
    now = now or utcnow()
    with _read() as session:
        return [tuple(r) for r in session.execute(
            select(OutboxMessage.id, OutboxMessage.attempts).where(_due(now))
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit))]


def claim(message_id: int, now: datetime | None = None) -> OutboxMessage | None:
    """Claim one due message for this worker (committed), or None if it is not due or another has it."""
    now = now or utcnow()
    lease = timedelta(seconds=current_app.config.get("MESSAGES_LEASE_SECONDS", 60))
    with write(db.session) as session:
        claimed = session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id, _due(now))
                                  .values(status="sending", lease_until=now + lease,
                                          attempts=OutboxMessage.attempts + 1)
                                  .execution_options(synchronize_session=False)).rowcount
        if not claimed:
            return None
        row = session.get(OutboxMessage, message_id, populate_existing=True)
        session.expunge(row)
    return row


def deliver(message_id: int) -> str:
    """Claim and send one message; returns what became of it (sent, retry, dead, skipped, deferred,
    or not-due when there was nothing to do)."""
    row = claim(message_id)
    if row is None:
        return "not-due"
    started = time.monotonic()
    try:
        outcome, ref = _send(row)
    except channels.SendFailed as err:
        return _failed(row, str(err), err.status, started)
    except Exception as err:  # a bug in composing must not leave the message claimed until its lease ends
        log.exception("message %s failed to compose", row.id)
        return _failed(row, f"{type(err).__name__}: {err}", None, started)
    with write(db.session) as session:
        values = {"lease_until": None}
        if outcome == "sent":
            values.update(status="sent", sent_at=utcnow(), provider_ref=ref[:120], last_error="")
            session.add(DeliveryAttempt(message_id=row.id, ok=True, status_code=_status_of(ref),
                                        duration_ms=int((time.monotonic() - started) * 1000)))
        elif outcome == "deferred":  # quiet hours: not an attempt
            values.update(status="pending", attempts=row.attempts - 1, next_attempt_at=ref)
        else:
            values.update(status="skipped", last_error=ref)
        spec = TOPICS.get(row.topic)  # None for a webhook's event
        if outcome != "deferred" and spec is not None and spec.urgent and "code" in row.data:
            values["data"] = {**row.data, "code": "******"}  # a one-time code is not kept once it has gone
        session.execute(update(OutboxMessage).where(OutboxMessage.id == row.id, OutboxMessage.status == "sending")
                        .values(**values).execution_options(synchronize_session=False))
    return outcome


def _status_of(ref) -> int | None:
    return int(ref.rpartition(":")[2]) if isinstance(ref, str) and ref.startswith("evt_") else None


def _failed(row: OutboxMessage, error: str, status: int | None, started: float) -> str:
    cfg = current_app.config
    dead = row.attempts >= cfg.get("MESSAGES_MAX_ATTEMPTS", 5)
    wait = min(3600.0, cfg.get("MESSAGES_RETRY_BASE_SECONDS", 30) * 2 ** (row.attempts - 1))
    with write(db.session) as session:
        session.add(DeliveryAttempt(message_id=row.id, ok=False, status_code=status, error=error[:500],
                                    duration_ms=int((time.monotonic() - started) * 1000)))
        session.execute(update(OutboxMessage).where(OutboxMessage.id == row.id, OutboxMessage.status == "sending")
                        .values(status="dead" if dead else "pending", lease_until=None, last_error=error[:500],
                                next_attempt_at=utcnow() + timedelta(seconds=wait))
                        .execution_options(synchronize_session=False))
    log.warning("message %s (%s) failed (attempt %s): %s", row.id, row.channel, row.attempts, error)
    return "dead" if dead else "retry"


def _send(row: OutboxMessage):
    """Send a claimed message: ("sent", reference), ("deferred", until) or ("skipped", why)."""
    now = utcnow()
    if row.channel == "webhook":
        with _read() as session:
            endpoint = session.get(WebhookEndpoint, row.endpoint_id)
            secret, active = (endpoint.secret, endpoint.active) if endpoint else ("", False)
        if not active:
            return "skipped", "endpoint disabled"
        event_id, status = channels.post_webhook(row.id, row.address, secret, row.data,
                                                 current_app.config.get("WEBHOOK_TIMEOUT_SECONDS", 10))
        return "sent", f"{event_id}:{status}"
    with _read() as session:
        user = session.get(service.User, row.user_id)
        if user is None or user.deleted_at is not None:
            return "skipped", "no such member"
        spec = TOPICS[row.topic]
        if not spec.transactional and not service.choices_for(session, user.id).get((row.topic, row.channel)):
            return "skipped", "turned off"
        if row.channel == "email" and not spec.transactional and not service.email_confirmed(session, user):
            return "skipped", "address not confirmed"
        if spec.urgent and "expires_at" in row.data and datetime.fromisoformat(row.data["expires_at"]) <= now:
            return "skipped", "expired before it could be sent"
        if not spec.transactional and not spec.urgent:
            later = service.quiet_until(service.profile_for(session, user.id), now)
            if later is not None:
                return "deferred", later
        if row.channel == "sms":
            start = now.astimezone(service.SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0)
            today = session.scalar(select(func.count(OutboxMessage.id)).where(
                OutboxMessage.user_id == user.id, OutboxMessage.channel == "sms", OutboxMessage.status == "sent",
                OutboxMessage.sent_at >= start))
            if today >= service.sms_cap(session):
                return "skipped", "daily SMS cap"
    text, html, subject, unsubscribe = render(row)
    if row.channel == "email":
        return "sent", channels.send_email(row.id, row.address, subject, text, html, unsubscribe)
    return "sent", channels.sms_provider().send(row.address, f"【绿色积分商城】{subject}" if row.locale.startswith("zh")
                                                else f"[Green Points Mall] {subject}", f"outbox-{row.id}")


def render(row: OutboxMessage) -> tuple[str, str, str, str | None]:
    """(plain text, HTML, subject, unsubscribe URL) of a member's message, in their language."""
    base = current_app.config.get("MALL_BASE_URL") or "http://127.0.0.1:5000"
    spec = TOPICS[row.topic]
    with current_app.test_request_context("/", base_url=base), force_locale(row.locale):
        composed = compose(row.topic, row.data)
        unsubscribe = None if spec.transactional else tokens.unsubscribe_url(row.user_id, row.topic)
        context = {"message": composed, "unsubscribe_url": unsubscribe, "topic_label": str(spec.label),
                   "settings_url": None if spec.transactional else _settings_url(),
                   "lang": "en" if row.locale.startswith("en") else "zh-CN"}
        return (render_template("mail/message.txt", **context), render_template("mail/message.html", **context),
                composed.subject, unsubscribe)


def _settings_url() -> str:
    return url_for("messages.preferences", _external=True)


def drain(limit: int = 500) -> dict[str, int]:
    """Deliver everything due now, in this process (the polling worker, and ``--burst``)."""
    return deliver_many([message_id for message_id, _attempts in due_ids(limit)])


def deliver_many(ids) -> dict[str, int]:
    """Deliver these messages one by one, e-mails over one SMTP connection; {outcome: how many}."""
    done: dict[str, int] = {}
    with channels.smtp_session():
        for message_id in ids:
            outcome = deliver(message_id)
            done[outcome] = done.get(outcome, 0) + 1
    return done


# ---------------------------------------------------------------- the queue on Redis (RQ)

def redis_connection(app=None):
    app = app or current_app
    url = app.config.get("REDIS_URL") or ""
    if not url:
        return None
    conn = app.extensions.get("mall.messages.redis")
    if conn is None:
        conn = app.extensions["mall.messages.redis"] = Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
    return conn


def enqueue(app, due) -> int:
    """Hand (message id, attempts) pairs to RQ's queue, each once per attempt: a marker in Redis
    (``SET NX`` for two minutes) keeps the sweep from queueing again what waits in the queue already; a job
    lost with a worker that died is queued again by the sweep once its marker lapses.
    Returns how many messages were handed over."""
    conn = redis_connection(app)
    if conn is None or not due:
        return 0
    pipe = conn.pipeline(transaction=False)
    for message_id, attempts in due:
        pipe.set(f"mall:outbox:queued:{message_id}:{attempts}", 1, nx=True, ex=120)
    fresh = [int(message_id) for (message_id, _), new in zip(due, pipe.execute()) if new]
    if fresh:  # a job per BATCH messages: a thousand committed at once are a few jobs, not a thousand
        queue = Queue(QUEUE, connection=conn)
        batches = [fresh[i:i + BATCH] for i in range(0, len(fresh), BATCH)]
        queue.enqueue_many([Queue.prepare_data(deliver_job, args=(batch,), result_ttl=0, failure_ttl=86400,
                                               description=f"outbox messages {batch[0]}…{batch[-1]}")
                            for batch in batches])
    return len(fresh)


def deliver_job(ids) -> dict[str, int]:
    """The RQ job: runs in ``flask --app app worker``, inside its app context."""
    return deliver_many([ids] if isinstance(ids, int) else ids)


def install(app) -> None:
    """After every commit that queued messages, hand them to RQ (when Redis is configured). A hand-off
    that fails loses nothing: the worker's sweep finds the messages in the outbox."""
    if getattr(MallSession, "_mall_outbox_hook", False):
        return

    @event.listens_for(MallSession, "after_commit")
    def _handed(session):
        ids = session.info.pop("outbox_new", None)
        if not ids:
            return
        try:
            target = current_app._get_current_object()
            if target.config.get("REDIS_URL"):
                enqueue(target, [(i, 0) for i in ids])
        except Exception:  # Redis down or no app: the sweep delivers them
            log.warning("could not hand %s message(s) to the queue; the worker's sweep will", len(ids), exc_info=True)

    @event.listens_for(MallSession, "after_rollback")
    def _dropped(session):
        session.info.pop("outbox_new", None)

    MallSession._mall_outbox_hook = True

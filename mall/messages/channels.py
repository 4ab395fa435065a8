"""How a message leaves the mall: e-mail over SMTP, SMS through a provider, webhooks over HTTPS.

Each sender raises ``SendFailed`` when the message did not go (the worker retries later) and returns
the other side's reference when it did. Every send carries the outbox message's id, so the other side
can recognise a repeat: the e-mail's Message-ID, the SMS provider's request reference (the sandbox,
like real providers' out-ids, accepts a reference once), the webhook's ``Mall-Event-Id``.

SMS goes through a small provider interface (``SmsProvider``): a real provider's SDK plugs in by
naming its class in ``SMS_PROVIDER``. ``SandboxSms`` behaves like one: it keeps what it accepted in a
store of its own (``SMS_SANDBOX_URL``, a SQLite file in the instance folder by default), never in the
mall's transaction; a number ending in 0500 is refused (the provider's error), one ending in 0504
times out *after* the provider accepted it (the caller cannot know: a retry with the same reference is
accepted once, not twice).
"""
import hashlib
import os
import hmac
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager, suppress
from importlib import import_module
from typing import Protocol

from flask import current_app
from flask_mailman import EmailMultiAlternatives, Mail
from sqlalchemy import Column, MetaData, String, Table, Text, create_engine, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.schema import CreateTable

from mall.db import WRITE, configure_engine
from mall.models import UTCDateTime, utcnow


class SendFailed(Exception):
    """The message did not go (or may not have): try again later. ``status`` is the HTTP status, if any."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


# ---------------------------------------------------------------- e-mail

def send_email(message_id: int, to: str, subject: str, text: str, html: str, unsubscribe_url: str | None) -> str:
    """Send one e-mail through Flask-Mailman's SMTP connection (the MAIL_* settings)."""
    cfg = current_app.config
    backend = cfg.get("MAIL_BACKEND") or "smtp"
    options = ({"host": cfg["MAIL_SERVER"], "port": cfg["MAIL_PORT"], "username": cfg.get("MAIL_USERNAME"),
                "password": cfg.get("MAIL_PASSWORD"), "use_tls": cfg.get("MAIL_USE_TLS", False),
                "use_ssl": cfg.get("MAIL_USE_SSL", False), "timeout": cfg.get("MAIL_TIMEOUT")}
               if backend == "smtp" else {})
    domain = (current_app.config.get("MAIL_DEFAULT_SENDER") or "mall@localhost").rpartition("@")[2].strip("> ")
    ref = f"<outbox-{message_id}@{domain or 'localhost'}>"
    headers = {"Message-ID": ref, "Auto-Submitted": "auto-generated"}
    if unsubscribe_url:
        headers["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    connection = getattr(_smtp, "connection", None) if getattr(_smtp, "depth", 0) else None
    if connection is None:
        connection = Mail().get_connection(backend=backend, **options)  # the settings in force now
        if getattr(_smtp, "depth", 0):
            connection.open()  # kept open for the rest of the batch (send() then leaves it open)
            _smtp.connection = connection
    mail = EmailMultiAlternatives(subject, text, cfg.get("MAIL_DEFAULT_SENDER"), [to], headers=headers,
                                  connection=connection)
    mail.attach_alternative(html, "text/html")
    try:
        mail.send()
    except (OSError, ValueError) as err:  # smtplib's errors are OSErrors; refused recipients included
        _drop_smtp()  # whatever state the conversation is in, the next message starts a fresh one
        raise SendFailed(f"SMTP: {err}"[:400]) from err
    return ref


_smtp = threading.local()


@contextmanager
def smtp_session():
    """Send the e-mails of a worker's batch over one SMTP connection (opened at the first, closed at the end)."""
    _smtp.depth = getattr(_smtp, "depth", 0) + 1
    try:
        yield
    finally:
        _smtp.depth -= 1
        if not _smtp.depth:
            _drop_smtp()


def _drop_smtp() -> None:
    connection, _smtp.connection = getattr(_smtp, "connection", None), None
    if connection is not None:
        with suppress(Exception):
            connection.close()


# ---------------------------------------------------------------- SMS

class SmsProvider(Protocol):
    def send(self, phone: str, text: str, reference: str) -> str:
        """Send ``text`` to ``phone``; ``reference`` is unique per message (a repeat is accepted once).
        Returns the provider's id; raises SendFailed."""


metadata = MetaData()
sandbox_sms = Table(
    "sandbox_sms", metadata,
    Column("reference", String(64), primary_key=True),
    Column("provider_id", String(40), nullable=False),
    Column("phone", String(20), nullable=False),
    Column("text", Text, nullable=False),
    Column("accepted_at", UTCDateTime, nullable=False),
)


class SandboxSms:
    """An SMS provider's sandbox with a store of its own (see the module's docstring)."""

    def __init__(self, url: str, timeout_seconds: float = 0.2):
        self.engine = create_engine(url)
        configure_engine(self.engine)
        self.timeout_seconds = timeout_seconds
        self._ready = False
        self._lock = threading.Lock()

    def _begin(self):
        if not self._ready:
            with self._lock:
                if not self._ready:
                    try:
                        with self.engine.execution_options(**{WRITE: True}).begin() as conn:
                            conn.execute(CreateTable(sandbox_sms, if_not_exists=True))
                    except (IntegrityError, OperationalError, ProgrammingError):  # created by another process
                        pass
                    self._ready = True
        return self.engine.execution_options(**{WRITE: True}).begin()

    def send(self, phone: str, text: str, reference: str) -> str:
        if phone.endswith("0500"):
            raise SendFailed("sandbox: the provider refused the request (isv.BUSINESS_LIMIT_CONTROL)")
        with self._begin() as conn:
            known = conn.scalar(select(sandbox_sms.c.provider_id).where(sandbox_sms.c.reference == reference))
            if known is None:
                known = "sms_" + secrets.token_hex(8)
                conn.execute(insert(sandbox_sms).values(reference=reference, provider_id=known, phone=phone,
                                                        text=text, accepted_at=utcnow()))
        if phone.endswith("0504"):
            time.sleep(self.timeout_seconds)
            raise SendFailed("sandbox: the provider did not answer in time")
        return known

    def messages(self, phone: str | None = None) -> list[dict]:
        """What the sandbox accepted, oldest first (for tests and the demo)."""
        stmt = select(sandbox_sms).order_by(sandbox_sms.c.accepted_at, sandbox_sms.c.reference)
        if phone:
            stmt = stmt.where(sandbox_sms.c.phone == phone)
        with self._begin() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings()]


def sms_provider() -> SmsProvider:
    """The app's SMS provider: ``SMS_PROVIDER`` ("module:Class", built with the app's config) or the sandbox."""
    app = current_app._get_current_object()
    provider = app.extensions.get("sms_provider")
    if provider is None:
        name = app.config.get("SMS_PROVIDER") or ""
        if name:
            module, _, cls = name.partition(":")
            provider = getattr(import_module(module), cls)(app.config)
        else:
            provider = SandboxSms(app.config.get("SMS_SANDBOX_URL")
                                  or "sqlite:///" + os.path.join(app.instance_path, "sms-sandbox.sqlite3"))
        app.extensions["sms_provider"] = provider
    return provider


# ---------------------------------------------------------------- webhooks

def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body, keyed with the endpoint's secret>``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(secret: str, header: str, body: bytes, now: float | None = None, tolerance: int = 300) -> bool:
    """What a receiver checks: the signature matches and its timestamp is within ``tolerance`` seconds."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now or time.time()) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), f"t={timestamp},v1={parts.get('v1', '')}")


def post_webhook(message_id: int, url: str, secret: str, payload: dict, timeout: float) -> tuple[str, int]:
    """POST the event; a 2xx answer is delivered. Returns (event id, status)."""
    event_id = f"evt_{message_id}"
    body = json.dumps({"id": event_id, **payload}, ensure_ascii=False, separators=(",", ":")).encode()
    timestamp = int(time.time())
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json; charset=utf-8", "User-Agent": "GreenPointsMall-Webhooks/1",
        "Mall-Event-Id": event_id, "Mall-Event-Type": payload.get("type", ""),
        "Mall-Timestamp": str(timestamp), "Mall-Signature": signature(secret, timestamp, body)})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 (https, or local http in tests)
            status = answer.status
    except urllib.error.HTTPError as err:
        raise SendFailed(f"HTTP {err.code}", status=err.code) from err
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise SendFailed(f"{type(err).__name__}: {err}"[:400]) from err
    if not 200 <= status < 300:
        raise SendFailed(f"HTTP {status}", status=status)
    return event_id, status

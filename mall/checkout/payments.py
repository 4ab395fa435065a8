"""The payment gateway interface, and a sandbox that behaves like a real gateway.

A real gateway authorises an amount, then captures it, or voids the authorisation. It can decline,
and it can time out (the caller then does not know whether money was taken: it voids).
The sandbox decides by the payment token the member chose, as test cards do:
``tok_approve`` approves, ``tok_decline`` declines, ``tok_timeout`` times out.

Like the outside party it stands for, the sandbox keeps its payments in its own store
(``PAYMENT_SANDBOX_URL``: a SQLite file in the instance folder by default, or any database URL),
never in the app process and never in the mall's database transaction: every call commits on its
own connection, so a capture or refund stands whatever the mall's transaction does next, survives a
restart and is seen by every worker. Its table is the sandbox's own (not the mall's schema): it
creates it on first use. Each change is one conditional UPDATE, so concurrent workers cannot both
move the same payment, and an authorisation is unique by its idempotency key.
"""
import secrets
import threading
import time
from datetime import datetime

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import (BigInteger, Column, Index, MetaData, String, Table, case, create_engine, insert, select,
                        update)
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.schema import CreateIndex, CreateTable

from mall.db import WRITE, configure_engine
from mall.errors import DomainError
from mall.models import UTCDateTime, utcnow


class PaymentDeclined(DomainError):
    status = 402
    code = "payment-declined"


class PaymentTimeout(DomainError):
    status = 504
    code = "payment-timeout"


metadata = MetaData()
sandbox_payment = Table(
    "sandbox_payment", metadata,
    Column("ref", String(32), primary_key=True),
    Column("idempotency_key", String(255), nullable=False, unique=True),
    Column("amount_fen", BigInteger, nullable=False),
    Column("refunded_fen", BigInteger, nullable=False, default=0),
    Column("status", String(16), nullable=False),  # authorised, captured, voided, partly_refunded, refunded
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
Index("ix_sandbox_payment_status", sandbox_payment.c.status, sandbox_payment.c.created_at)


class SandboxGateway:
    TOKENS = ("tok_approve", "tok_decline", "tok_timeout")

    def __init__(self, url: str, timeout_seconds: float = 0.2):
        self.url = url
        self.timeout_seconds = timeout_seconds
        self.engine = create_engine(url)
        configure_engine(self.engine)
        self._ready = False
        self._lock = threading.Lock()

    def _begin(self):
        """A transaction of the sandbox's own (BEGIN IMMEDIATE on SQLite: one writer at a time)."""
        if not self._ready:
            with self._lock:
                if not self._ready:
                    self._create_table()
                    self._ready = True
        return self.engine.execution_options(**{WRITE: True}).begin()

    def _create_table(self) -> None:
        try:
            with self.engine.execution_options(**{WRITE: True}).begin() as conn:
                conn.execute(CreateTable(sandbox_payment, if_not_exists=True))
                for index in sandbox_payment.indexes:
                    conn.execute(CreateIndex(index, if_not_exists=True))
        except (IntegrityError, OperationalError, ProgrammingError):  # another process created it meanwhile
            with self.engine.connect() as conn:
                conn.execute(select(sandbox_payment.c.ref).limit(1))

    def _ref_for_key(self, conn, idempotency_key: str) -> str | None:
        return conn.scalar(select(sandbox_payment.c.ref).where(sandbox_payment.c.idempotency_key == idempotency_key))

    def authorise(self, amount_fen: int, token: str, idempotency_key: str) -> str:
        with self._begin() as conn:
            ref = self._ref_for_key(conn, idempotency_key)
        if ref:
            return ref
        if token == "tok_decline":
            raise PaymentDeclined(_l("The card was declined."))
        if token == "tok_timeout":
            time.sleep(self.timeout_seconds)
            raise PaymentTimeout(_l("The payment service did not answer in time."))
        if token != "tok_approve":
            raise PaymentDeclined(_l("Unknown payment method."))
        ref, now = "sbx_" + secrets.token_hex(8), utcnow()
        try:
            with self._begin() as conn:
                conn.execute(insert(sandbox_payment).values(
                    ref=ref, idempotency_key=idempotency_key, amount_fen=amount_fen, refunded_fen=0,
                    status="authorised", created_at=now, updated_at=now))
        except IntegrityError:  # the same key authorised by another worker at the same moment
            with self._begin() as conn:
                ref = self._ref_for_key(conn, idempotency_key)
        return ref

    def payment(self, ref: str) -> dict | None:
        """One payment as the gateway holds it (status, amount_fen, refunded_fen, …), or None."""
        with self._begin() as conn:
            row = conn.execute(select(sandbox_payment).where(sandbox_payment.c.ref == ref)).mappings().first()
        return dict(row) if row else None

    def authorisations(self, status: str = "authorised", before: datetime | None = None,
                       limit: int = 500) -> list[dict]:
        """The listing call real gateways have: payments in ``status`` created before ``before``, oldest first."""
        stmt = select(sandbox_payment).where(sandbox_payment.c.status == status)
        if before is not None:
            stmt = stmt.where(sandbox_payment.c.created_at < before)
        with self._begin() as conn:
            rows = conn.execute(stmt.order_by(sandbox_payment.c.created_at, sandbox_payment.c.ref)
                                .limit(limit)).mappings().all()
        return [dict(row) for row in rows]

    def _move(self, ref: str, source: set, target: str) -> None:
        table = sandbox_payment
        with self._begin() as conn:
            moved = conn.execute(update(table).where(table.c.ref == ref, table.c.status.in_(source))
                                 .values(status=target, updated_at=utcnow())).rowcount
            if moved:
                return
            status = conn.scalar(select(table.c.status).where(table.c.ref == ref))
        if status is None:
            raise PaymentDeclined(_l("Unknown payment reference."))
        if status != target:
            raise PaymentDeclined(_l("This payment can no longer be captured or voided."))

    def capture(self, ref: str) -> None:
        self._move(ref, {"authorised"}, "captured")

    def void(self, ref: str) -> None:
        self._move(ref, {"authorised"}, "voided")

    def refund(self, ref: str, amount_fen: int | None = None) -> None:
        """Refund all of a captured payment, or ``amount_fen`` of it (several partial refunds add up)."""
        table = sandbox_payment
        amount = table.c.amount_fen - table.c.refunded_fen if amount_fen is None else amount_fen
        refunded = table.c.refunded_fen + amount
        with self._begin() as conn:
            done = conn.execute(update(table).where(
                table.c.ref == ref, table.c.status.in_(("captured", "partly_refunded")),
                refunded <= table.c.amount_fen).values(
                refunded_fen=refunded, updated_at=utcnow(),
                status=case((refunded == table.c.amount_fen, "refunded"), else_="partly_refunded"))).rowcount
            if done:
                return
            status = conn.scalar(select(table.c.status).where(table.c.ref == ref))
        if status not in ("captured", "partly_refunded"):
            raise PaymentDeclined(_l("Only a captured payment can be refunded."))
        raise PaymentDeclined(_l("The refund is larger than the payment."))

    def dispose(self) -> None:
        self.engine.dispose()


def init_app(app) -> None:
    """The app's gateway: the sandbox on ``PAYMENT_SANDBOX_URL``."""
    app.extensions["payment_gateway"] = SandboxGateway(app.config["PAYMENT_SANDBOX_URL"])


def gateway() -> SandboxGateway:
    return current_app.extensions["payment_gateway"]

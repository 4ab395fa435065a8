"""Idempotent requests: a use case done at most once per (merchant, operation, key), its answer
stored and replayed byte for byte to every retry (the API's ``Idempotency-Key``, the back office's
purchase form token).

A NAMED ORCHESTRATOR (see ``mall.edge``): ``run_once`` commits in steps. The claim commits on its own
first, so a concurrent duplicate sees it (409) instead of doing the work too; the work then runs in a
second transaction together with its stored answer; a failure releases the claim in a third. Each
step is one write transaction run by ``mall.db.retried`` (re-run on a PostgreSQL deadlock or
serialization failure; ``Busy`` at last, which releases the claim like any server error). No Flask
imports, no area: the record keeps its merchant by id.
"""
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from mall.clock import utcnow
from mall.db import is_postgres, retried
from mall.errors import Conflict, DomainError
from mall.models import Base, UTCDateTime

IN_FLIGHT_TIMEOUT = timedelta(seconds=60)


class IdempotencyRecord(Base):
    """The first answer to (merchant, operation, key): replayed byte for byte to retries."""

    __tablename__ = "idempotency_record"
    __table_args__ = (
        UniqueConstraint("merchant_id", "operation", "key", name="scope"),
        Index("ix_idempotency_record_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id"))
    operation: Mapped[str] = mapped_column(String(80))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(12), default="in_flight")  # in_flight | done
    status_code: Mapped[int | None] = mapped_column()
    body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IdempotencyMismatch(DomainError):
    status = 422
    code = "idempotency-key-reused"


class RequestInFlight(Conflict):
    code = "request-in-flight"


@dataclass
class Claim:
    record: IdempotencyRecord
    replay: bool


def claim(session: Session, merchant_id: int, operation: str, key: str, body: bytes,
          now: datetime | None = None) -> Claim:
    """Reserve (merchant, operation, key) for this request, or return the stored answer to replay.

    Runs in its own short transaction, committed by the caller before the work starts, so a
    concurrent duplicate sees the reservation and gets 409 instead of doing the work twice.
    """
    now = now or utcnow()
    request_hash = hashlib.sha256(body).hexdigest()
    # One statement for the usual case, a new key: INSERT … ON CONFLICT DO NOTHING RETURNING id. A key
    # already held (a retry, or a concurrent duplicate that claimed it first) returns no row, and the
    # request is judged against the record that holds it.
    dialect = postgresql if is_postgres(session) else sqlite
    values = dict(merchant_id=merchant_id, operation=operation, key=key, request_hash=request_hash,
                  state="in_flight", created_at=now)
    new_id = session.execute(dialect.insert(IdempotencyRecord).values(**values).on_conflict_do_nothing(
        index_elements=["merchant_id", "operation", "key"]).returning(IdempotencyRecord.id)).scalar()
    if new_id is not None:
        return Claim(IdempotencyRecord(id=new_id, **values), replay=False)
    record = session.scalar(select(IdempotencyRecord).where(
        IdempotencyRecord.merchant_id == merchant_id, IdempotencyRecord.operation == operation,
        IdempotencyRecord.key == key))
    if record.request_hash != request_hash:
        raise IdempotencyMismatch("This Idempotency-Key was already used with a different request body.")
    if record.state == "done":
        return Claim(record, replay=True)
    if record.created_at > now - IN_FLIGHT_TIMEOUT:
        raise RequestInFlight("A request with this Idempotency-Key is still being processed.")
    record.created_at = now  # the first attempt died mid-way: this one takes over
    session.flush()
    return Claim(record, replay=False)


def complete(session: Session, record_id: int, status_code: int, body: str) -> None:
    """Store the answer, in the same transaction as the work it describes."""
    record = session.get(IdempotencyRecord, record_id)
    record.state, record.status_code, record.body = "done", status_code, body
    session.flush()


def release(session: Session, record_id: int) -> None:
    """Forget a reservation after a server error, so a retry can succeed."""
    session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id,
                                                    IdempotencyRecord.state == "in_flight"))


def run_once(session: Session, merchant_id: int, operation: str, key: str, body: bytes, work,
             stored_error=None) -> tuple[bool, int, str]:
    """Do ``work`` at most once per (merchant, operation, key): returns (replayed, status, answer).

    The claim commits on its own, so a concurrent duplicate sees it (409) instead of working too.
    ``work()`` returns (status, answer) and runs in one write transaction with the stored answer.
    An exception that ``stored_error`` maps to (status, answer) is stored like a result; any other
    releases the claim, so that a retry runs again, and propagates."""
    def take():
        claimed = claim(session, merchant_id, operation, key, body)
        return claimed.record.id, claimed.replay, claimed.record.status_code, claimed.record.body

    def do():
        status, answer = work()
        complete(session, record_id, status, answer)
        return status, answer

    record_id, replay, status, answer = retried(session, take)
    if replay:
        return True, status, answer
    try:
        return False, *retried(session, do)
    except BaseException as err:  # an interrupted request releases its claim too
        result = stored_error(err) if stored_error and isinstance(err, Exception) else None
        if result is None:
            retried(session, release, session, record_id)
        else:
            retried(session, complete, session, record_id, *result)
        if result is None:
            raise
        return False, *result

"""API keys (create, list, revoke, authenticate) and idempotent request bookkeeping."""
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mall.api.models import ApiKey, IdempotencyRecord
from mall.errors import Conflict, DomainError, NotFound
from mall.merchant.models import Merchant
from mall.models import utcnow
from mall.validation import has_control_characters

KEY_PREFIX = "gpm_"
IN_FLIGHT_TIMEOUT = timedelta(seconds=60)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(session: Session, merchant: Merchant, name: str = "", created_by: int | None = None) -> tuple[ApiKey, str]:
    """A new key for the merchant; the returned plain key is never stored and shown only now."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(merchant_id=merchant.id, prefix=prefix, secret_hash=_digest(secret), name=name[:60],
                 created_by=created_by)
    session.add(key)
    session.flush()
    return key, f"{KEY_PREFIX}{prefix}_{secret}"


def keys_of(session: Session, merchant: Merchant) -> list[ApiKey]:
    return session.scalars(select(ApiKey).where(ApiKey.merchant_id == merchant.id).order_by(ApiKey.id.desc())).all()


def revoke_key(session: Session, merchant: Merchant, key_id: int) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None or key.merchant_id != merchant.id:
        raise NotFound("No such API key.")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    session.flush()
    return key


def authenticate(session: Session, presented: str | None) -> Merchant | None:
    """The merchant owning a valid, unrevoked key, else None."""
    if not presented or not presented.startswith(KEY_PREFIX) or has_control_characters(presented):
        return None
    prefix, _, secret = presented[len(KEY_PREFIX):].partition("_")
    if not prefix or not secret:
        return None
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None or key.revoked_at is not None or not secrets.compare_digest(key.secret_hash, _digest(secret)):
        return None
    return session.get(Merchant, key.merchant_id)


# ---------------------------------------------------------------- idempotency

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
    record = session.scalar(select(IdempotencyRecord).where(
        IdempotencyRecord.merchant_id == merchant_id, IdempotencyRecord.operation == operation,
        IdempotencyRecord.key == key))
    if record is None:
        fresh = IdempotencyRecord(merchant_id=merchant_id, operation=operation, key=key,
                                  request_hash=request_hash, created_at=now)
        try:
            with session.begin_nested():
                session.add(fresh)
            return Claim(fresh, replay=False)
        except IntegrityError:  # a concurrent duplicate claimed it first: judge against that one
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
    from mall.db import write

    with write(session):
        claimed = claim(session, merchant_id, operation, key, body)
        record_id = claimed.record.id
        if claimed.replay:
            return True, claimed.record.status_code, claimed.record.body
    try:
        with write(session):
            status, answer = work()
            complete(session, record_id, status, answer)
            return False, status, answer
    except BaseException as err:  # an interrupted request releases its claim too
        result = stored_error(err) if stored_error and isinstance(err, Exception) else None
        with write(session):
            if result is None:
                release(session, record_id)
            else:
                complete(session, record_id, *result)
        if result is None:
            raise
        return False, *result

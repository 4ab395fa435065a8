"""API keys: create, list, revoke, authenticate (idempotent requests: ``mall.idempotency``)."""
import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from mall.api.models import ApiKey
from mall.clock import utcnow
from mall.errors import NotFound
from mall.coalition.models import Merchant
from mall.validation import has_control_characters

KEY_PREFIX = "gpm_"


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

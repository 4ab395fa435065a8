"""Signed links in messages: one-click unsubscribe (no sign-in; it cannot be forged for another member
or topic) and e-mail confirmation (valid for three days, for the address it was sent to)."""
from flask import current_app, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

CONFIRM_MAX_AGE = 3 * 24 * 3600


def _unsubscribe_signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt="mall.messages.unsubscribe")


def unsubscribe_token(user_id: int, topic: str) -> str:
    return _unsubscribe_signer().dumps([user_id, topic])


def unsubscribe_url(user_id: int, topic: str) -> str:
    return url_for("messages.unsubscribe", token=unsubscribe_token(user_id, topic), _external=True)


def read_unsubscribe(token: str) -> tuple[int, str] | None:
    try:
        user_id, topic = _unsubscribe_signer().loads(token)
    except (BadSignature, ValueError, TypeError):
        return None
    return (user_id, topic) if isinstance(user_id, int) and isinstance(topic, str) else None


def _confirm_signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="mall.messages.confirm-email")


def confirm_url(user_id: int, email: str) -> str:
    return url_for("messages.confirm", token=_confirm_signer().dumps([user_id, email]), _external=True)


def read_confirmation(token: str) -> tuple[int, str] | None:
    try:
        user_id, email = _confirm_signer().loads(token, max_age=CONFIRM_MAX_AGE)
    except (SignatureExpired, BadSignature, ValueError, TypeError):
        return None
    return (user_id, email) if isinstance(user_id, int) and isinstance(email, str) else None

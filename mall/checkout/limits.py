"""Rate limits on confirming a till bill with the member's one-time code, for the API and the back
office: per API key or per staff user, and per member over both doors. They are counted in
RATELIMIT_STORAGE_URI (Redis in production), so every worker and node shares them."""
import hashlib

from flask import current_app, request
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_login import current_user

from mall.checkout import bills
from mall.extensions import db, limiter


def too_many_message() -> str:
    return _("Too many attempts. Please wait a minute and try again.")


def _caller_limit() -> str:
    return current_app.config["BILL_CONFIRM_RATE_LIMIT"]


def _member_limit() -> str:
    return current_app.config["BILL_MEMBER_CONFIRM_RATE_LIMIT"]


def _api_key() -> str:
    """The presented key, hashed: the store never holds a usable key."""
    token = request.headers.get("Authorization", "").partition(" ")[2].strip()
    return "api-key:" + hashlib.sha256(token.encode()).hexdigest()[:32]


def _staff_user() -> str:
    return f"staff:{current_user.id}" if current_user.is_authenticated else "address:" + get_remote_address()


def _bill_member() -> str:
    """The member the request in the URL is addressed to; an unknown request counts for itself."""
    bill_id = (request.view_args or {}).get("bill_id")
    member_id = bills.member_of(db.session, bill_id) if isinstance(bill_id, int) else None
    return f"member:{member_id}" if member_id is not None else f"bill:{bill_id}"


per_member = limiter.shared_limit(_member_limit, scope="bill-confirm-member", key_func=_bill_member,
                                  error_message=too_many_message)
per_api_key = limiter.limit(_caller_limit, key_func=_api_key, error_message=too_many_message)
per_staff_user = limiter.limit(_caller_limit, key_func=_staff_user, error_message=too_many_message)

"""Who may open a door: the access guards every area's views share."""
from functools import wraps

from flask import abort
from flask_login import current_user, login_required

from mall.errors import NotFound
from mall.extensions import db
from mall.coalition.service import staff_merchant


def operator_only(view):
    """Operators only; to anyone else, signed in or not, the console does not exist (404)."""
    @wraps(view)
    def wrapper(**kwargs):
        if not current_user.is_authenticated or not current_user.is_operator:
            abort(404)
        return view(**kwargs)
    return wrapper


def staff_roles(*roles):
    """Merchant staff in one of ``roles`` only (mall.account.models.MERCHANT_ROLES); to the others the
    page does not exist (404), as the back office does not to non-staff."""
    def decorate(view):
        @wraps(view)
        @staff_only
        def wrapper(shop, **kwargs):
            if current_user.merchant_role not in roles:
                abort(404)
            return view(shop, **kwargs)
        return wrapper
    return decorate


def staff_only(view):
    """Merchant staff only, given their merchant; everyone else is told the page does not exist."""
    @wraps(view)
    @login_required
    def wrapper(**kwargs):
        try:
            shop = staff_merchant(db.session, current_user)
        except NotFound:
            abort(404)
        return view(shop, **kwargs)
    return wrapper


managers_only = staff_roles("owner", "manager")  # listings, orders, keys, webhooks, statements, matching
owner_only = staff_roles("owner")  # the staff themselves

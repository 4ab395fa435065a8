"""Translated names of the fixed vocabularies shown in templates."""
from flask_babel import lazy_gettext as _l

LISTING_KINDS = {"goods": _l("Goods"), "service": _l("Services"), "topup": _l("Top-ups"),
                 "stay": _l("Hotel stays"), "coupon": _l("Coupons")}
ROLES = {"member": _l("Member"), "merchant": _l("Merchant staff"), "operator": _l("Operator")}


def kind_label(kind: str) -> str:
    return str(LISTING_KINDS.get(kind, kind))


def role_label(role: str) -> str:
    return str(ROLES.get(role, role))

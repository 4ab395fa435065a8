"""Merchants: creation, their ledger accounts, who works for them, and their status."""
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from mall.clock import utcnow
from mall.db import lock
from mall.errors import Conflict, DomainError, NotFound
from mall.ledger import service as ledger
from mall.coalition.models import Merchant


def create_merchant(session: Session, *, slug: str, name_zh: str, name_en: str, category: str,
                    status: str = "pending") -> Merchant:
    """A merchant with its issuance account (points it awards) and redemption account (points spent at it)."""
    merchant = Merchant(slug=slug, name_zh=name_zh, name_en=name_en, category=category, status=status)
    session.add(merchant)
    session.flush()
    ledger.open_account(session, "merchant", merchant.id, "issuance")
    ledger.open_account(session, "merchant", merchant.id, "redemption")
    return merchant


def get_by_slug(session: Session, slug: str) -> Merchant | None:
    return session.scalar(select(Merchant).where(Merchant.slug == slug))


def names_of(session: Session, merchant_ids, locale: str) -> dict[int, str]:
    """Merchants' names in ``locale`` by id, in one query (for rows that name their merchant)."""
    if not merchant_ids:
        return {}
    return {m.id: m.name(locale) for m in session.scalars(select(Merchant).where(Merchant.id.in_(merchant_ids)))}


def staff_merchant(session: Session, user) -> Merchant:
    """The merchant a staff user works for, or NotFound (to everyone else the back office is absent)."""
    if user is None or not user.is_merchant_staff:
        raise NotFound("Not found.")
    return session.get(Merchant, user.merchant_id)


def merchants(session: Session, status: str | None = None) -> list[Merchant]:
    stmt = select(Merchant).order_by(Merchant.status != "pending", Merchant.id)
    if status:
        stmt = stmt.where(Merchant.status == status)
    return list(session.scalars(stmt))


def set_status(session: Session, operator, merchant_id: int, action: str, reason: str = "") -> Merchant:
    """An operator approves, suspends (with a reason) or reinstates a merchant. A suspended merchant's
    listings leave the mall and it can neither issue points nor list; its members keep their points."""
    if operator is None or not operator.is_operator:
        raise NotFound(_l("Not found."))
    merchant = lock(session, Merchant, [merchant_id]).get(merchant_id)
    if merchant is None:
        raise NotFound(_l("No such merchant."))
    reason = (reason or "").strip()
    allowed = {"approve": ("pending",), "suspend": ("pending", "approved"), "reinstate": ("suspended",)}
    if action not in allowed:
        raise DomainError(_l("Unknown action."))
    if merchant.status not in allowed[action]:
        raise Conflict(_l("This merchant cannot be changed that way now."), code="invalid-transition")
    if action == "suspend" and len(reason) < 5:
        raise DomainError(_l("Give the reason for the suspension."), field="reason")
    merchant.status = "suspended" if action == "suspend" else "approved"
    merchant.status_reason = reason[:500] if action == "suspend" else ""
    merchant.status_changed_at = utcnow()
    session.flush()
    return merchant


def get_names_for(session: Session, merchant_id: int) -> tuple[str, str]:
    """A merchant's (Chinese, English) names, for messages written before their reader's language is known."""
    merchant = session.get(Merchant, merchant_id)
    return (merchant.name_zh, merchant.name_en) if merchant else ("", "")

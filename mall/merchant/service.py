"""Merchants: creation and their ledger accounts."""
from sqlalchemy import select
from sqlalchemy.orm import Session

from mall.ledger import service as ledger
from mall.merchant.models import Merchant


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


def issuance_account(session: Session, merchant: Merchant):
    return ledger.open_account(session, "merchant", merchant.id, "issuance")


def staff_merchant(session: Session, user) -> Merchant:
    """The merchant a staff user works for, or NotFound (to everyone else the back office is absent)."""
    from mall.errors import NotFound

    if user is None or not user.is_merchant_staff:
        raise NotFound("Not found.")
    return session.get(Merchant, user.merchant_id)

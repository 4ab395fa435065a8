"""Reading the catalog: what is on offer, in pages."""
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mall.catalog.models import Listing
from mall.errors import NotFound
from mall.merchant.models import Merchant


def _visible():
    return (select(Listing).join(Merchant, Merchant.id == Listing.merchant_id)
            .where(Listing.status == "active", Merchant.status == "approved"))


def browse(session: Session, *, page: int = 1, per_page: int = 24, kind: str | None = None,
           max_points: int | None = None, green: bool = False) -> tuple[list[Listing], int]:
    """One page of active listings of approved merchants, newest first, and the total count."""
    stmt = _visible()
    if kind:
        stmt = stmt.where(Listing.kind == kind)
    if max_points is not None:
        stmt = stmt.where(Listing.points_price <= max_points)
    if green:
        stmt = stmt.where(Listing.green.is_(True))
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    page = max(1, page)
    rows = session.scalars(stmt.order_by(Listing.id.desc()).limit(per_page).offset((page - 1) * per_page)).all()
    return rows, total


def get_listing(session: Session, listing_id: int) -> Listing:
    """A listing the public may see, or NotFound."""
    listing = session.scalar(_visible().where(Listing.id == listing_id))
    if listing is None:
        raise NotFound("No such listing.")
    return listing

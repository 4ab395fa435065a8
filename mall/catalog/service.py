"""The catalog: browsing and search for members, listing management for merchants.

Callers own the transaction (``mall.db.write``); functions take the acting user and flush.
"""
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, cast, column, func, literal_column, or_, select, table, text, union_all, update
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.orm import Session, contains_eager

from mall.account.models import User
from mall.catalog import search
from mall.catalog.models import KINDS, LIMIT_PERIODS, Listing, ListingImage, ServiceSlot, StayNight
from mall.clock import utcnow
from mall.errors import Conflict, DomainError, NotFound
from mall.coalition.models import Merchant
from mall.media import store_image
from mall.validation import is_whole, strict_int, strict_text

MAX_POINTS = 10**8
MAX_FEN = 10**9
MAX_STOCK = 10**7
MAX_IMAGES = 5
IMAGE_SIZES = {"large": 1200, "thumb": 480}
COUNT_CAP = 1000  # "more than 1,000" rather than counting a whole table for every page
MAX_PAGE = 200
SORTS = ("relevance", "popular", "newest", "points_asc", "points_desc")
CATEGORY_GROUPS = {
    "daily": ("grocery", "refills", "second_hand", "convenience"),
    "home": ("appliances", "textiles"),
    "travel": ("hotel", "public_transport", "ev_charging"),
    "digital": ("telecom",),
    "services": ("services", "dining"),
}


class InvalidListing(DomainError):
    status = 422
    code = "invalid-listing"

    def __init__(self, errors: list[dict]):
        super().__init__("The listing is not valid.")
        self.errors = errors


class ListingConflict(Conflict):
    """A change whose fields, each valid, do not fit together with the rest of the listing as it is."""
    code = "listing-conflict"

    def __init__(self, errors: list[dict]):
        super().__init__(_l("The change does not fit the rest of the listing."))
        self.errors = errors


# ---------------------------------------------------------------- browsing

@dataclass
class CatalogQuery:
    q: str = ""
    kind: str | None = None
    group: str | None = None
    category: str | None = None
    merchant: int | None = None
    min_points: int | None = None
    max_points: int | None = None
    affordable: bool = False
    with_pool: bool = False  # "I can afford it" counts the family pool the member may spend
    green: bool = False
    in_stock: bool = False
    sort: str = "popular"
    page: int = 1


@dataclass
class Page:
    listings: list[Listing]
    total: int
    capped: bool
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, min(MAX_PAGE, -(-self.total // self.per_page)))


def visible():
    """Listings the public may see: active, of an approved merchant. The join that filters on the
    merchant also fills ``Listing.merchant`` (no second, eager join)."""
    return (select(Listing).join(Merchant, Merchant.id == Listing.merchant_id)
            .where(Listing.status == "active", Merchant.status == "approved")
            .options(contains_eager(Listing.merchant)))


def _search(session: Session, q: str):
    """(the condition that a listing has every term of the query, a function giving a statement ordered
    by relevance) through the terms index (``mall.catalog.search``: FTS5 on SQLite, the terms' tsvector
    on PostgreSQL); or None when the query has no terms."""
    groups = search.query_terms(q[:100])
    if not groups:
        return None
    if session.get_bind().dialect.name == "postgresql":
        # listing.search_vector: the terms as a stored tsvector (migration 0017, PostgreSQL only). The
        # matches are found first, through its GIN index (a MATERIALIZED CTE): the planner cannot know
        # how rare a word is, and walking the popularity index to test each listing costs a scan.
        vector = literal_column("listing.search_vector")
        query = cast(search.tsquery(groups), TSQUERY)
        hits = select(Listing.id).where(vector.op("@@")(query)).cte("search_hits").prefix_with("MATERIALIZED")
        return (Listing.id.in_(select(hits.c.id)),
                lambda stmt: stmt.order_by(func.ts_rank(vector, query).desc()))
    fts = table("listing_fts", column("rowid"), column("rank"))
    match = text("listing_fts MATCH :terms").bindparams(terms=search.fts5_query(groups))
    # The condition is an IN list the full-text index fills once; joining the table instead lets the
    # planner walk the listings and ask the index about each (a count of 100,000 lookups).
    hits = select(fts.c.rowid.label("id"), fts.c.rank.label("rank")).where(match).subquery("hits")
    return Listing.id.in_(select(fts.c.rowid).where(match)), lambda stmt: (
        stmt.join(hits, hits.c.id == Listing.id).order_by(hits.c.rank))  # FTS5's bm25: lower is better


def effective_points(now: datetime):
    """``Listing.cheapest_points(now)`` in SQL: (whether the sale is in force, the fewest points any
    option needs). One notion of the price in force for filters, sorts and the home page, as the
    listing page and checkout compute it in Python."""
    on_sale = and_(Listing.sale_points_price.is_not(None), Listing.points_price.is_not(None),
                   Listing.sale_starts_at.is_not(None), Listing.sale_ends_at.is_not(None),
                   Listing.sale_starts_at <= now, Listing.sale_ends_at > now)
    sale_cheapest = case((Listing.mix_points < Listing.sale_points_price, Listing.mix_points),
                         else_=Listing.sale_points_price)
    return on_sale, case((on_sale, sale_cheapest), else_=Listing.sort_points)


def browse(session: Session, query: CatalogQuery, balance: int | None = None, per_page: int = 24,
           count: bool = True, now: datetime | None = None) -> Page:
    """One page of the catalog: search, filters and sort, using an index for every path.
    Prices are the prices in force at ``now`` (a sale inside its window): ``sort_points``, the
    indexed list price, is never below them, so a bound is that index's range widened by the
    listings on sale. ``balance`` is what the member can spend (for "I can afford it").
    ``count=False`` skips the total (for short lists such as the home page's)."""
    now = now or utcnow()
    on_sale, price = effective_points(now)
    stmt = visible()
    found = _search(session, query.q)
    if found is not None:
        stmt = stmt.where(found[0])
    if query.kind in KINDS:
        stmt = stmt.where(Listing.kind == query.kind)
    if query.category:
        stmt = stmt.where(Listing.category == query.category)
    elif query.group in CATEGORY_GROUPS:
        stmt = stmt.where(Listing.category.in_(CATEGORY_GROUPS[query.group]))
    if query.merchant:
        stmt = stmt.where(Listing.merchant_id == query.merchant)
    # Bounds on the price in force: on the indexed list price for listings not on sale, on the sale
    # price for the few that are (the page ordered by price walks the two apart, ``_by_price``).
    ceilings = [c for c in (query.max_points, balance if query.affordable else None) if c is not None]
    plain, sale = [], []
    if query.min_points is not None:
        plain.append(Listing.sort_points >= query.min_points)
        sale.append(price >= query.min_points)
    if ceilings:
        plain.append(Listing.sort_points <= min(ceilings))
        sale.append(price <= min(ceilings))
    if query.green:
        stmt = stmt.where(Listing.green.is_(True))
    if query.in_stock:
        stmt = stmt.where(or_(Listing.stock.is_(None), Listing.stock > 0))
    bounded = stmt.where(or_(and_(~on_sale, *plain), and_(on_sale, *sale))) if plain else stmt
    counted = session.scalar(select(func.count()).select_from(
        bounded.with_only_columns(Listing.id).limit(COUNT_CAP + 1).subquery())) if count else per_page
    last_page = max(1, min(MAX_PAGE, -(-min(counted, COUNT_CAP) // per_page)))
    page = max(1, min(query.page, last_page))
    offset = (page - 1) * per_page
    if query.sort in ("points_asc", "points_desc"):
        rows = _by_price(session, stmt.where(~on_sale, *plain), stmt.where(on_sale, *sale), price,
                         query.sort == "points_desc", offset, per_page)
    else:
        ordered = (found[1](bounded) if found is not None and query.sort == "relevance"
                   else bounded.order_by(Listing.id.desc()) if query.sort == "newest" else bounded)
        ordered = ordered.order_by(Listing.redemptions.desc(), Listing.id.desc())  # (then) the most popular
        rows = session.scalars(ordered.limit(per_page).offset(offset)).all()
    return Page(list(rows), min(counted, COUNT_CAP), counted > COUNT_CAP, page, per_page)


def _by_price(session: Session, plain, sale, price, descending: bool, offset: int, limit: int) -> list[Listing]:
    """A page in order of the price in force, walking the index of list prices: the listings not on
    sale (``plain``) come in ``sort_points`` order straight from it (only as many as the page needs),
    the few on sale now (``sale``, their own index) are added with their sale price, and the two are
    merged. Ordering every row by the price expression instead would sort the whole catalog."""
    def ordered(*columns):
        return [c.desc() for c in columns] if descending else list(columns)

    plain = (plain.with_only_columns(Listing.id, Listing.sort_points.label("price"))
             .order_by(*ordered(Listing.sort_points, Listing.id)).limit(offset + limit).subquery())
    sale = (sale.with_only_columns(Listing.id, price.label("price"))
            .with_hint(Listing, "INDEXED BY ix_listing_on_sale", "sqlite"))  # not the list-price range
    merged = union_all(select(plain.c.id, plain.c.price), sale).subquery()
    ids = session.scalars(select(merged.c.id).order_by(*ordered(merged.c.price, merged.c.id))
                          .limit(limit).offset(offset)).all()
    found = {row.id: row for row in session.scalars(visible().where(Listing.id.in_(ids)))} if ids else {}
    return [found[i] for i in ids if i in found]


def home_sections(session: Session, balance: int | None, now: datetime | None = None) -> dict:
    """Green picks, newest, and (for a member) the dearest picks their points reach at today's prices.
    The home page features only what can be redeemed now (in stock, open), and no item twice."""
    now = now or utcnow()

    def redeemable(items, leave_out=()):
        return [item for item in items if item.id not in leave_out
                and (item.available_from is None or item.available_from <= now)][:8]

    green = redeemable(browse(session, CatalogQuery(green=True, in_stock=True, sort="popular"), per_page=16,
                              count=False, now=now).listings)
    newest = redeemable(browse(session, CatalogQuery(in_stock=True, sort="newest"), per_page=24, count=False,
                               now=now).listings, {item.id for item in green})
    affordable = (browse(session, CatalogQuery(affordable=True, sort="points_desc"), balance, per_page=4,
                         count=False, now=now).listings if balance else [])
    return {"green": green, "newest": newest, "affordable": affordable}


def get_listing(session: Session, listing_id: int) -> Listing:
    """A listing the public may see, or NotFound."""
    listing = session.scalar(visible().where(Listing.id == listing_id))
    if listing is None:
        raise NotFound("No such listing.")
    return listing


def images_of(session: Session, listing: Listing) -> list[ListingImage]:
    return session.scalars(select(ListingImage).where(ListingImage.listing_id == listing.id)
                           .order_by(ListingImage.position)).all()


def open_slots(session: Session, listing: Listing, now: datetime, limit: int = 50) -> list[ServiceSlot]:
    return session.scalars(select(ServiceSlot).where(
        ServiceSlot.listing_id == listing.id, ServiceSlot.starts_at > now, ServiceSlot.closed.is_(False),
        ServiceSlot.booked < ServiceSlot.capacity).order_by(ServiceSlot.starts_at).limit(limit)).all()


def nights(session: Session, listing: Listing, start: date, days: int = 60) -> list[StayNight]:
    return session.scalars(select(StayNight).where(
        StayNight.listing_id == listing.id, StayNight.night >= start,
        StayNight.night < start + timedelta(days=days)).order_by(StayNight.night)).all()


def related(session: Session, listing: Listing, limit: int = 4) -> list[Listing]:
    return session.scalars(visible().where(Listing.category == listing.category, Listing.id != listing.id)
                           .order_by(Listing.redemptions.desc(), Listing.id.desc()).limit(limit)).all()


def page_lifetime(listing: Listing, now: datetime) -> int:
    """How long a visitor's copy of the listing's page holds: until its next opening or sale instant;
    never for a service's times or a stay's nights, whose places change without a change to the listing."""
    return 0 if listing.kind in ("service", "stay") else seconds_to_next_change(listing, now)


def seconds_to_next_change(listing: Listing, now: datetime, cap: int = 3600) -> int:
    """Seconds until the listing's page changes by the clock alone (it opens, its early access or
    sale starts or ends), at most ``cap``."""
    ahead = [at for at in (listing.available_from, listing.early_access_from, listing.sale_starts_at,
                           listing.sale_ends_at) if at is not None and at > now]
    return int(min([cap] + [(at - now).total_seconds() for at in ahead]))


@dataclass
class Availability:
    """Whether a member can redeem a listing now, and if not, why (one of the states shown)."""

    state: str  # available | out_of_stock | paused | not_open | early_access | early_access_only
    opens_at: datetime | None = None


def availability(listing: Listing, user: User | None, now: datetime) -> Availability:
    if listing.status != "active":
        return Availability("paused")
    if listing.stock == 0:
        return Availability("out_of_stock")
    if listing.available_from and now < listing.available_from:
        early = listing.early_access_from
        if early and now >= early:
            if user is not None and user.good_credit:
                return Availability("early_access", listing.available_from)
            return Availability("early_access_only", listing.available_from)
        return Availability("not_open", early or listing.available_from)
    return Availability("available")


# ---------------------------------------------------------------- merchant side

def get_listing_for(session: Session, merchant: Merchant, listing_id: int, lock: bool = False) -> Listing:
    """One of the merchant's own listings, or NotFound (another merchant's looks absent)."""
    stmt = select(Listing).where(Listing.id == listing_id, Listing.merchant_id == merchant.id)
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=Listing)
    listing = session.scalar(stmt)
    if listing is None:
        raise NotFound("No such listing.")
    return listing


def listings_of(session: Session, merchant: Merchant, status: str | None = None, page: int = 1,
                per_page: int = 50) -> list[Listing]:
    """The merchant's listings, newest first; archived ones only when asked for."""
    stmt = select(Listing).where(Listing.merchant_id == merchant.id)
    if status in ("draft", "active", "paused", "archived"):
        stmt = stmt.where(Listing.status == status)
    else:
        stmt = stmt.where(Listing.status != "archived")
    return session.scalars(stmt.order_by(Listing.id.desc()).limit(per_page).offset((max(1, page) - 1) * per_page)).all()


EDITABLE = ("kind", "category", "title_zh", "title_en", "description_zh", "description_en", "points_price",
            "mix_points", "cash_fen", "sale_points_price", "sale_starts_at", "sale_ends_at", "stock",
            "limit_per_member", "limit_period", "available_from", "early_access_from", "coupon_valid_days",
            "cancel_hours", "green", "co2e_g")


def _int(doc, name, errors, low, high, nullable=True):
    value = doc.get(name)
    if value is None:
        if not nullable:
            errors.append({"field": name, "message": "is required"})
        return None
    return strict_int(value, name, errors, low, high)


def _text(doc, name, errors, limit, required=False, multiline=False):
    value = doc.get(name)
    return strict_text("" if value is None else value, name, errors, limit, required, multiline)


def _instant(doc, name, errors):
    value = doc.get(name)
    if value is None:
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            errors.append({"field": name, "message": "must be an ISO 8601 date-time"})
            return None
    else:
        errors.append({"field": name, "message": "must be an ISO 8601 date-time"})
        return None
    if parsed.tzinfo is None:
        errors.append({"field": name, "message": "needs a time zone offset, e.g. +08:00"})
        return None
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:  # 0001-01-01T00:00:00+08:00 has no UTC instant
        errors.append({"field": name, "message": "is out of range"})
        return None


def parse_listing(doc: dict, current: Listing | None = None) -> dict:
    """Validate listing fields (a full document, or a partial update of ``current``) and return
    only the fields a merchant may set. Unknown fields (merchant_id, redemptions…) are ignored."""
    if not isinstance(doc, dict):
        raise InvalidListing([{"field": "", "message": "the body must be a JSON object"}])
    errors: list[dict] = []
    given = {k: doc[k] for k in EDITABLE if k in doc}
    merged = {k: getattr(current, k) for k in EDITABLE} if current is not None else {}
    merged.update(given)
    out = {}
    kind = merged.get("kind")
    if kind not in KINDS:
        errors.append({"field": "kind", "message": f"must be one of {', '.join(KINDS)}"})
    out["kind"] = kind
    out["category"] = _text(merged, "category", errors, 40, required=True)
    out["title_zh"] = _text(merged, "title_zh", errors, 160, required=True)
    out["title_en"] = _text(merged, "title_en", errors, 160, required=True)
    out["description_zh"] = _text(merged, "description_zh", errors, 4000, multiline=True)
    out["description_en"] = _text(merged, "description_en", errors, 4000, multiline=True)
    out["points_price"] = _int(merged, "points_price", errors, 1, MAX_POINTS)
    out["mix_points"] = _int(merged, "mix_points", errors, 1, MAX_POINTS)
    out["cash_fen"] = _int(merged, "cash_fen", errors, 0, MAX_FEN) or 0
    out["sale_points_price"] = _int(merged, "sale_points_price", errors, 1, MAX_POINTS)
    out["sale_starts_at"] = _instant(merged, "sale_starts_at", errors)
    out["sale_ends_at"] = _instant(merged, "sale_ends_at", errors)
    out["stock"] = _int(merged, "stock", errors, 0, MAX_STOCK)
    out["limit_per_member"] = _int(merged, "limit_per_member", errors, 1, 1000)
    period = "month" if merged.get("limit_period") is None else merged["limit_period"]
    if period not in LIMIT_PERIODS:
        errors.append({"field": "limit_period", "message": f"must be one of {', '.join(LIMIT_PERIODS)}"})
    out["limit_period"] = period
    out["available_from"] = _instant(merged, "available_from", errors)
    out["early_access_from"] = _instant(merged, "early_access_from", errors)
    out["coupon_valid_days"] = _int(merged, "coupon_valid_days", errors, 1, 3650)
    out["cancel_hours"] = _int(merged, "cancel_hours", errors, 0, 24 * 365) or 0
    green = merged.get("green", False)
    if not isinstance(green, bool):
        errors.append({"field": "green", "message": "must be true or false"})
    out["green"] = green is True
    out["co2e_g"] = _int(merged, "co2e_g", errors, 0, 10**9) or 0
    if errors:
        raise InvalidListing(errors)
    if out["points_price"] is None and out["mix_points"] is None:
        errors.append({"field": "points_price", "message": "offer a points price, a points + cash price, or both"})
    if out["mix_points"] is not None and not out["cash_fen"]:
        errors.append({"field": "cash_fen", "message": "a points + cash price needs a cash part above 0"})
    if out["mix_points"] is None and out["cash_fen"]:
        errors.append({"field": "mix_points", "message": "a cash part needs the points part of the same price"})
    sale = (out["sale_points_price"], out["sale_starts_at"], out["sale_ends_at"])
    if any(v is not None for v in sale):
        if None in sale:
            errors.append({"field": "sale_points_price", "message": "a sale needs a price, a start and an end"})
        elif out["points_price"] is None or out["sale_points_price"] >= out["points_price"]:
            errors.append({"field": "sale_points_price", "message": "must be below the points price"})
        elif out["sale_ends_at"] <= out["sale_starts_at"]:
            errors.append({"field": "sale_ends_at", "message": "must be after the sale starts"})
    if out["early_access_from"] and (not out["available_from"] or out["early_access_from"] >= out["available_from"]):
        errors.append({"field": "early_access_from", "message": "must be before available_from"})
    if out["kind"] == "coupon" and not out["coupon_valid_days"]:
        errors.append({"field": "coupon_valid_days", "message": "a coupon needs its validity in days"})
    if errors:  # each field is valid, together they are not: a change is refused as a conflict with the listing
        raise InvalidListing(errors) if current is None else ListingConflict(errors)
    out["sort_points"] = min(p for p in (out["points_price"], out["mix_points"]) if p is not None)
    return out


def create_listing(session: Session, merchant: Merchant, doc: dict) -> Listing:
    """A new listing of the merchant; it starts as a draft."""
    fields = parse_listing(doc)
    listing = Listing(merchant_id=merchant.id, status="draft", **fields)
    session.add(listing)
    session.flush()
    return listing


def update_listing(session: Session, merchant: Merchant, listing_id: int, doc: dict) -> Listing:
    """Change a listing's fields. Stock given as ``stock_delta`` is applied atomically, so it is
    safe beside checkouts that take stock at the same moment."""
    listing = get_listing_for(session, merchant, listing_id, lock=True)
    if listing.status == "archived":
        raise Conflict("An archived listing cannot be changed.", code="archived")
    delta = doc.get("stock_delta") if isinstance(doc, dict) else None
    if delta is not None:
        if "stock" in doc:
            raise InvalidListing([{"field": "stock_delta", "message": "give stock or stock_delta, not both"}])
        if not is_whole(delta, -MAX_STOCK, MAX_STOCK):
            raise InvalidListing([{"field": "stock_delta", "message": "must be an integer"}])
    fields = parse_listing({k: v for k, v in doc.items() if k != "stock_delta"}, current=listing)
    for name, value in fields.items():
        if name != "stock" or "stock" in doc:
            setattr(listing, name, value)
    session.flush()
    if delta:
        done = session.execute(update(Listing).where(
            Listing.id == listing.id, Listing.stock.is_not(None), Listing.stock + delta >= 0,
        ).values(stock=Listing.stock + delta))
        if done.rowcount != 1:
            raise Conflict("Stock cannot go below zero (or the listing has unlimited stock).", code="stock")
        session.refresh(listing)
    return listing


TRANSITIONS = {
    "publish": ({"draft", "paused"}, "active"),
    "pause": ({"active"}, "paused"),
    "archive": ({"draft", "active", "paused"}, "archived"),
}


def set_status(session: Session, merchant: Merchant, listing_id: int, action: str) -> Listing:
    """Publish, pause or archive a listing. A merchant that is not approved cannot publish."""
    listing = get_listing_for(session, merchant, listing_id, lock=True)
    if action not in TRANSITIONS:
        raise DomainError("Unknown action.", code="invalid-action")
    sources, target = TRANSITIONS[action]
    if listing.status not in sources:
        raise Conflict(f"A {listing.status} listing cannot be changed that way.", code="invalid-transition")
    if target == "active" and merchant.status != "approved":
        raise DomainError("Your merchant account must be approved before listings can be published.",
                          code="merchant-not-approved")
    listing.status = target
    session.flush()
    return listing


# ---------------------------------------------------------------- images



def add_image(session: Session, merchant: Merchant, listing_id: int, data: bytes, media_root: str) -> ListingImage:
    """Validate an uploaded image by its content (not its name), resize it and store it."""

    listing = get_listing_for(session, merchant, listing_id, lock=True)
    count = session.scalar(select(func.count(ListingImage.id)).where(ListingImage.listing_id == listing.id))
    if count >= MAX_IMAGES:
        raise DomainError(_l("A listing has at most 5 images."), code="too-many-images")
    path, sizes = store_image(data, media_root, f"listings/{listing.id}", IMAGE_SIZES)
    width, height = sizes["large"]
    row = ListingImage(listing_id=listing.id, position=count, path=path,
                       width=width, height=height)
    session.add(row)
    if count == 0:
        listing.cover_image = row.path
    session.flush()
    return row


# ---------------------------------------------------------------- slots and nights

def add_slots(session: Session, merchant: Merchant, listing_id: int, starts: list[datetime], capacity: int) -> int:
    """Open bookable slots of a service listing; existing slots at the same time are kept."""
    listing = get_listing_for(session, merchant, listing_id, lock=True)
    if listing.kind != "service":
        raise DomainError("Only services have time slots.", code="not-a-service")
    if not is_whole(capacity, 1, 10000):
        raise InvalidListing([{"field": "capacity", "message": "must be between 1 and 10000"}])
    existing = set(session.scalars(select(ServiceSlot.starts_at).where(ServiceSlot.listing_id == listing.id)))
    added = 0
    for start in starts:
        if start.tzinfo is None:
            raise InvalidListing([{"field": "starts_at", "message": "needs a time zone"}])
        if start not in existing:
            session.add(ServiceSlot(listing_id=listing.id, starts_at=start, capacity=capacity, booked=0))
            existing.add(start)
            added += 1
    session.flush()
    return added


def set_nights(session: Session, merchant: Merchant, listing_id: int, first: date, last: date, points_price: int,
               rooms: int) -> int:
    """Offer nights from ``first`` to ``last`` (inclusive) at a price, e.g. a lower off-season price."""
    listing = get_listing_for(session, merchant, listing_id, lock=True)
    if listing.kind != "stay":
        raise DomainError("Only hotel stays have nights.", code="not-a-stay")
    errors = []
    _int({"points_price": points_price}, "points_price", errors, 1, MAX_POINTS, nullable=False)
    _int({"rooms": rooms}, "rooms", errors, 0, 10000, nullable=False)
    if last < first or (last - first).days > 366:
        errors.append({"field": "last", "message": "must be on or after the first night, within a year"})
    if errors:
        raise InvalidListing(errors)
    current = {n.night: n for n in session.scalars(select(StayNight).where(
        StayNight.listing_id == listing.id, StayNight.night >= first, StayNight.night <= last))}
    day, changed = first, 0
    while day <= last:
        night = current.get(day)
        if night is None:
            session.add(StayNight(listing_id=listing.id, night=day, points_price=points_price, rooms=rooms))
        else:
            night.points_price, night.rooms = points_price, rooms
        day += timedelta(days=1)
        changed += 1
    session.flush()
    return changed


def categories_of(session: Session, listing_ids: list[int]) -> dict[int, str]:
    """The category of each of these listings, by id."""
    return dict(session.execute(select(Listing.id, Listing.category).where(Listing.id.in_(listing_ids))).all())

"""Listings members can redeem: goods, services, top-ups, hotel stays and coupons."""
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text, UniqueConstraint, event, inspect, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mall.catalog import search
from mall.models import Base, UTCDateTime, utcnow

KINDS = ("goods", "service", "topup", "stay", "coupon")
STATUSES = ("draft", "active", "paused", "archived")
LIMIT_PERIODS = ("day", "week", "month", "year", "ever")


class Listing(Base):
    __tablename__ = "listing"
    __table_args__ = (
        CheckConstraint("kind IN ('goods', 'service', 'topup', 'stay', 'coupon')", name="kind"),
        CheckConstraint("status IN ('draft', 'active', 'paused', 'archived')", name="status"),
        CheckConstraint("points_price IS NULL OR points_price > 0", name="points_price"),
        CheckConstraint("cash_fen >= 0", name="cash_fen"),
        CheckConstraint("mix_points IS NULL OR (mix_points > 0 AND cash_fen > 0)", name="mix_option"),
        CheckConstraint("points_price IS NOT NULL OR mix_points IS NOT NULL", name="has_a_price"),
        CheckConstraint("sale_points_price IS NULL OR sale_points_price > 0", name="sale_price"),
        CheckConstraint("stock IS NULL OR stock >= 0", name="stock"),
        CheckConstraint("limit_per_member IS NULL OR limit_per_member > 0", name="limit"),
        Index("ix_listing_browse_new", "status", "id"),
        Index("ix_listing_browse_points", "status", "sort_points", "id"),
        Index("ix_listing_browse_popular", "status", "redemptions", "id"),
        Index("ix_listing_browse_kind", "status", "kind", "id"),
        Index("ix_listing_browse_category", "status", "category", "id"),
        Index("ix_listing_browse_green", "status", "green", "id"),
        # the few listings with a sale: a page ordered by the price in force adds them to the list-price order
        Index("ix_listing_updated_at", "updated_at"),  # the newest change: the storefront cache's version
        Index("ix_listing_on_sale", "status", "sale_ends_at", sqlite_where=text("sale_points_price IS NOT NULL"),
              postgresql_where=text("sale_points_price IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(40))
    title_zh: Mapped[str] = mapped_column(String(160))
    title_en: Mapped[str] = mapped_column(String(160))
    description_zh: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    points_price: Mapped[int | None] = mapped_column()  # the points-only option; None if not offered
    mix_points: Mapped[int | None] = mapped_column()  # the points + cash option: points part
    cash_fen: Mapped[int] = mapped_column(default=0)  # ... and its cash part
    sort_points: Mapped[int] = mapped_column(default=0)  # the fewest list points of any option, for sorting
    sale_points_price: Mapped[int | None] = mapped_column()
    sale_starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sale_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stock: Mapped[int | None] = mapped_column()  # None: unlimited
    limit_per_member: Mapped[int | None] = mapped_column()
    limit_period: Mapped[str] = mapped_column(String(8), default="month")
    available_from: Mapped[datetime | None] = mapped_column(UTCDateTime)  # opens to everyone
    early_access_from: Mapped[datetime | None] = mapped_column(UTCDateTime)  # good-credit members first
    coupon_valid_days: Mapped[int | None] = mapped_column()
    cancel_hours: Mapped[int] = mapped_column(default=0)  # member may cancel within this window
    green: Mapped[bool] = mapped_column(default=False)
    co2e_g: Mapped[int] = mapped_column(default=0)  # grams CO2e saved per unit
    cover_image: Mapped[str | None] = mapped_column(String(200))
    redemptions: Mapped[int] = mapped_column(default=0)
    # what the listing is found by (mall.catalog.search): kept in step with the titles and descriptions
    search_terms: Mapped[str] = mapped_column(Text, default="", server_default="")
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    merchant = relationship("Merchant", lazy="joined")

    def title(self, locale: str) -> str:
        return self.title_en if locale.startswith("en") else self.title_zh

    def description(self, locale: str) -> str:
        return self.description_en if locale.startswith("en") else self.description_zh

    def on_sale(self, at: datetime) -> bool:
        return (self.sale_points_price is not None and self.points_price is not None
                and self.sale_starts_at is not None and self.sale_ends_at is not None
                and self.sale_starts_at <= at < self.sale_ends_at)

    def points_now(self, at: datetime) -> int | None:
        """The points-only price in force at ``at`` (the sale price inside its window)."""
        return self.sale_points_price if self.on_sale(at) else self.points_price

    def cheapest_points(self, at: datetime) -> int:
        """The fewest points any option needs (what "can I afford it" compares against)."""
        options = [p for p in (self.points_now(at), self.mix_points) if p is not None]
        return min(options)


class ListingImage(Base):
    __tablename__ = "listing_image"
    __table_args__ = (UniqueConstraint("listing_id", "position", name="position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    listing_id: Mapped[int] = mapped_column(ForeignKey("listing.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column()
    path: Mapped[str] = mapped_column(String(200))  # relative to the media root
    width: Mapped[int] = mapped_column()
    height: Mapped[int] = mapped_column()


class ServiceSlot(Base):
    """A bookable time of a service. Cash and points customers share its capacity."""

    __tablename__ = "service_slot"
    __table_args__ = (
        UniqueConstraint("listing_id", "starts_at", name="listing_start"),
        CheckConstraint("capacity >= 0 AND booked >= 0 AND booked <= capacity", name="capacity"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    listing_id: Mapped[int] = mapped_column(ForeignKey("listing.id", ondelete="CASCADE"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    capacity: Mapped[int] = mapped_column()
    booked: Mapped[int] = mapped_column(default=0)
    closed: Mapped[bool] = mapped_column(default=False)


class StayNight(Base):
    """One night of a hotel stay listing: its points price (off-season nights cost less) and rooms left."""

    __tablename__ = "stay_night"
    __table_args__ = (
        UniqueConstraint("listing_id", "night", name="listing_night"),
        CheckConstraint("points_price > 0 AND rooms >= 0", name="price_rooms"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    listing_id: Mapped[int] = mapped_column(ForeignKey("listing.id", ondelete="CASCADE"), index=True)
    night: Mapped[date] = mapped_column(Date)
    points_price: Mapped[int] = mapped_column()
    rooms: Mapped[int] = mapped_column()


@event.listens_for(Listing, "before_insert")
@event.listens_for(Listing, "before_update")
def _index_words(_mapper, _connection, listing: Listing) -> None:
    """Every write of a listing's words, by any path of the ORM, writes its search terms with them
    (a bulk insert passes ``search_terms`` itself)."""
    state = inspect(listing)
    words = ("title_zh", "title_en", "description_zh", "description_en")
    if state.persistent and not any(state.attrs[name].history.has_changes() for name in words):
        return
    listing.search_terms = search.index_terms(listing.title_zh, listing.title_en, listing.description_zh or "",
                                              listing.description_en or "")


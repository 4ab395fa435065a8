"""The storefront: home page, catalog with search and filters, listing pages, listing images."""

from flask import Blueprint, current_app, redirect, render_template, request, send_from_directory, url_for
from flask_login import current_user

from mall.account.forms import EmptyForm
from mall.catalog import service
from mall.catalog.forms import CatalogFilterForm
from mall.catalog.pages import cache_at_most, cached_for_visitors
from mall.coalition import service as merchants
from mall.clock import SHANGHAI, utcnow
from mall.edge import page_or_fragment
from mall.extensions import db
from mall.header import family_pool, header_balance, spending_power
from mall.labels import CATEGORIES
from mall.rules import merchant_campaigns, present
from mall.rules import service as rules

catalog = Blueprint("catalog", __name__)


def _home_audience() -> str:
    """A member's home page shows the picks their balance reaches."""
    return f"balance={header_balance()}"


def _catalog_audience() -> str:
    """A member's catalog offers the family pool they may spend from, with its points; "I can afford
    it" chooses by their balance (or that pool)."""
    audience = f"pool={family_pool()}"
    return audience + f"|balance={header_balance()}" if request.args.get("affordable") else audience


@catalog.route("/")
@cached_for_visitors(members=_home_audience)
def home():
    """Campaigns, categories, green picks, newest listings and picks within the member's points."""
    config = rules.config_of(rules.rule_set_at(db.session, utcnow()))
    running, upcoming, _ = present.campaigns_by_state(config, utcnow())
    return page_or_fragment("catalog/home.html", "catalog/home.html",
                            campaigns=(running + upcoming)[:3], **service.home_sections(db.session, header_balance()))


@catalog.route("/favicon.ico")
def favicon():
    """Browsers ask for /favicon.ico whatever the page says: point them at the SVG."""
    return redirect(url_for("static", filename="favicon.svg"), code=301)


@catalog.route("/catalog")
@cached_for_visitors(members=_catalog_audience)
def index():
    """Search and filter the catalog; HTMX swaps only the results, the URL stays shareable."""
    form = CatalogFilterForm(request.args)
    query = form.to_query()
    page = service.browse(db.session, query, spending_power(query.with_pool))
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return page_or_fragment("catalog/index.html", "catalog/_results.html", form=form, result=page,
                            args=args, query=query)


@catalog.route("/catalog/<int:listing_id>")
@cached_for_visitors
def listing(listing_id):
    """One listing: images, price options, stock, limits, slots or nights, and related items."""
    item = service.get_listing(db.session, listing_id)
    now = utcnow()
    user = current_user if current_user.is_authenticated else None
    cache_at_most(service.page_lifetime(item, now))
    return page_or_fragment(
        "catalog/listing.html", "catalog/listing.html", item=item, now=now,
        images=service.images_of(db.session, item), availability=service.availability(item, user, now),
        slots=service.open_slots(db.session, item, now) if item.kind == "service" else [],
        nights=service.nights(db.session, item, now.astimezone(SHANGHAI).date()) if item.kind == "stay" else [],
        related=service.related(db.session, item), balance=header_balance(),
        cart_form=EmptyForm() if user else None)  # a visitor is asked to sign in: no form, no token


@catalog.route("/media/<path:path>")
def media(path):
    """Uploaded listing images (served by the reverse proxy in production)."""
    return send_from_directory(current_app.config["MEDIA_ROOT"], path, max_age=30 * 24 * 3600)


# ---------------------------------------------------------------- the coalition's merchants

@catalog.route("/merchants")
def merchants_directory():
    """Every merchant of the coalition, by category."""
    category = request.args.get("category")
    category = category if category in CATEGORIES else None
    return render_template("catalog/merchants.html", merchants=merchants.directory(db.session, category),
                           category=category, categories=CATEGORIES)


@catalog.route("/merchants/<slug>")
def merchant(slug):
    """A merchant's public page: who they are, where, when, why green, and what they list."""
    shop = merchants.get_public_for(db.session, slug)
    page = service.browse(db.session, service.CatalogQuery(merchant=shop.id), per_page=12)
    now = utcnow()
    return render_template("catalog/merchant.html", shop=shop, result=page, now=now,
                           campaigns=merchant_campaigns.public(db.session, now, shop.id))

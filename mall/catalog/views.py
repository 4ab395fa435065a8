"""The storefront: home page, catalog and listing pages."""
from flask import Blueprint, abort, request
from flask_login import current_user

from mall.catalog import service
from mall.catalog.models import KINDS
from mall.errors import NotFound
from mall.extensions import db
from mall.web import render_page_or_fragment

catalog = Blueprint("catalog", __name__)

PER_PAGE = 24


@catalog.route("/")
def home():
    """Green picks, newest listings, and picks within the member's points."""
    from mall import header_balance

    green, _ = service.browse(db.session, per_page=8, green=True)
    newest, _ = service.browse(db.session, per_page=8)
    balance = header_balance() if current_user.is_authenticated else None
    affordable = service.browse(db.session, per_page=4, max_points=balance)[0] if balance else []
    return render_page_or_fragment("catalog/home.html", "catalog/home.html",
                                   green=green, newest=newest, affordable=affordable)


@catalog.route("/catalog")
def index():
    """All listings, filtered by kind, a page at a time."""
    kind = request.args.get("kind") if request.args.get("kind") in KINDS else None
    page = request.args.get("page", 1, type=int)
    listings, total = service.browse(db.session, page=page, per_page=PER_PAGE, kind=kind)
    pages = max(1, -(-total // PER_PAGE))
    return render_page_or_fragment("catalog/index.html", "catalog/_results.html", listings=listings,
                                   total=total, page=page, pages=pages, kind=kind, kinds=KINDS)


@catalog.route("/catalog/<int:listing_id>")
def listing(listing_id):
    """One listing with its price, stock and merchant."""
    try:
        item = service.get_listing(db.session, listing_id)
    except NotFound:
        abort(404)
    return render_page_or_fragment("catalog/listing.html", "catalog/listing.html", item=item)

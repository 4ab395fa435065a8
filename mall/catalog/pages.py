"""Signed-out storefront pages from a cache (Flask-Caching: in-process by default, Redis in production).

Only a request that carries no cookie at all is served from or stored in the cache: nothing on its
page is anyone's own, so one visitor's page is never another member's. The key is the URL, the
language, whether HTMX asked for the fragment, and the catalog's version: one read of the newest
change to a listing (its ``updated_at``, which every write of a listing sets, a stock change included),
to a merchant's standing and to the published rules. A change therefore shows on the next request,
in every worker, with no message between them; an entry also lives at most ``PAGE_CACHE_SECONDS``
(60 s by default), which bounds what a clock alone changes (a sale window opening, a campaign
starting) and what a node whose clock lags behind the others writes.
"""
from functools import wraps

from flask import current_app, request, session
from flask_babel import get_locale
from flask_caching import Cache
from sqlalchemy import func, select

from mall.catalog.models import Listing
from mall.coalition.models import Merchant
from mall.extensions import db
from mall.rules.models import RuleSet
from mall.web import is_htmx

cache = Cache()


def init_app(app) -> None:
    app.config.setdefault("CACHE_TYPE", "SimpleCache")
    app.config.setdefault("CACHE_DEFAULT_TIMEOUT", 60)
    app.config.setdefault("CACHE_THRESHOLD", 2000)  # entries an in-process cache keeps
    app.config.setdefault("PAGE_CACHE_SECONDS", 60)
    cache.init_app(app)


_VERSION = select(select(func.max(Listing.updated_at)).scalar_subquery(),
                  select(func.max(Merchant.status_changed_at)).scalar_subquery(),
                  select(func.max(RuleSet.version)).scalar_subquery())


def catalog_version() -> str:
    """What any storefront page depends on, as one string (one statement of three index lookups)."""
    listing, merchant, rules = db.session.execute(_VERSION).one()
    return f"{listing and listing.timestamp()}|{merchant and merchant.timestamp()}|{rules}"


def cached_for_visitors(view):
    """Serve the view's page from the cache to a visitor without cookies (see the module's note)."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        seconds = current_app.config["PAGE_CACHE_SECONDS"]
        if request.method != "GET" or request.cookies or not seconds:
            return view(*args, **kwargs)
        key = f"page|{catalog_version()}|{get_locale()}|{int(is_htmx())}|{request.full_path}"
        hit = cache.get(key)
        if hit is not None:
            body, mimetype, vary = hit
            response = current_app.response_class(body, mimetype=mimetype)
            response.headers["Vary"] = vary
            return response
        response = current_app.make_response(view(*args, **kwargs))
        if response.status_code == 200 and not response.is_streamed and not session.modified:
            response.vary.add("Accept-Language")  # a visitor's language comes from the browser
            cache.set(key, (response.get_data(), response.mimetype, response.headers.get("Vary", "")),
                      timeout=seconds)
        return response
    return wrapper

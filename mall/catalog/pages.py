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
import gzip
import hashlib
from functools import wraps

import brotli

from flask import current_app, g, request, session
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
    """What any storefront page depends on, as one string (one statement of three index lookups). On
    PostgreSQL it is read outside any transaction (autocommit): a page served from the cache then costs
    one round trip, no BEGIN and no ROLLBACK. (SQLite has no round trips; its connections keep the
    transaction handling ``mall.db`` gives them.)"""
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            listing, merchant, rules = connection.execute(_VERSION).one()
    else:
        listing, merchant, rules = db.session.connection().execute(_VERSION).one()
    return f"{listing and listing.timestamp()}|{merchant and merchant.timestamp()}|{rules}"


def cached_for_visitors(view):
    """Serve the view's page from the cache to a visitor without cookies (see the module's note). An
    entry holds the page as sent, its brotli and gzip encodings and its ETag, so a hit neither renders
    nor compresses (``mall.transport`` answers ``If-None-Match`` from the tag)."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        seconds = current_app.config["PAGE_CACHE_SECONDS"]
        if request.method != "GET" or request.cookies or not seconds:
            return view(*args, **kwargs)
        key = f"page|{catalog_version()}|{get_locale()}|{int(is_htmx())}|{request.full_path}"
        entry = cache.get(key)
        if entry is None:
            response = current_app.make_response(view(*args, **kwargs))
            seconds = min(seconds, g.get("page_cache_seconds", seconds))  # the view may know better
            if response.status_code != 200 or response.is_streamed or session.modified or seconds <= 0:
                return response
            response.vary.add("Accept-Language")  # a visitor's language comes from the browser
            entry = _entry(response)
            cache.set(key, entry, timeout=seconds)
        return _answer(entry)
    return wrapper


def cache_at_most(seconds: float) -> None:
    """Tell ``cached_for_visitors`` that this page may be kept at most ``seconds`` (0: not at all):
    e.g. until the instant a sale or a listing opens, or not when it shows what changes elsewhere."""
    g.page_cache_seconds = min(int(seconds), g.get("page_cache_seconds", int(seconds)))


def _entry(response) -> dict:
    body = response.get_data()
    return {"identity": body, "br": brotli.compress(body, quality=current_app.config["COMPRESS_BR_LEVEL"]),
            "gzip": gzip.compress(body, compresslevel=current_app.config["COMPRESS_LEVEL"], mtime=0),
            "etag": hashlib.sha1(body).hexdigest(), "mimetype": response.mimetype,
            "vary": response.headers.get("Vary", "")}


def _answer(entry: dict):
    """The entry in the encoding the client takes best (brotli, then gzip), with the ETag the
    compression would have given it."""
    encoding = request.accept_encodings.best_match(["br", "gzip"]) or "identity"
    response = current_app.response_class(entry[encoding], mimetype=entry["mimetype"])
    response.headers["Vary"] = entry["vary"]
    if encoding != "identity":
        response.headers["Content-Encoding"] = encoding
        response.set_etag(f"{entry['etag']}:{encoding}")
    else:
        response.set_etag(entry["etag"])
    return response

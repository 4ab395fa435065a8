"""Storefront pages from a cache (Flask-Caching: in-process by default, Redis in production).

A request that carries no cookie at all is served the whole page from the cache: nothing on its page
is anyone's own, so one visitor's page is never another member's. A signed-in member's page is kept
as a skeleton: rendered with a marker instead of each part of base.html that is the member's own (the
CSRF token, the balance, the unread count, banners, flashed messages: ``header.member_part``),
which are rendered afresh for each request and put in place. What else a member's page shows of them
(the family pool they may spend, the balance an "I can afford it" page or the home page's picks are
chosen by) is part of the key, as the view's ``members`` function gives it; members for whom it is the
same share the skeleton. The key is the URL, the
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
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import func, select

from mall import header
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
    header.read_with_user("catalog_version", *_VERSION_COLUMNS)  # a member's page reads it with the member


_VERSION_COLUMNS = (select(func.max(Listing.updated_at)).scalar_subquery(),
                    select(func.max(Merchant.status_changed_at)).scalar_subquery(),
                    select(func.max(RuleSet.version)).scalar_subquery())
_VERSION = select(*_VERSION_COLUMNS)


def catalog_version(in_session: bool = False) -> str:
    """What any storefront page depends on, as one string (one statement of three index lookups). On
    PostgreSQL a visitor's is read outside any transaction (autocommit): a page served from the cache then
    costs one round trip, no BEGIN and no ROLLBACK. A member's was read with the member, in the statement
    that loaded them (``header.read_with_user``), unless the request has written since; ``in_session``
    reads it otherwise on the session's connection rather than a second one. (SQLite has no round trips;
    its connections keep the transaction handling ``mall.db`` gives them.)"""
    read = header.with_user("catalog_version") if in_session else None
    if read is not None:
        listing, merchant, rules = read
    elif db.engine.dialect.name == "postgresql" and not in_session:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            listing, merchant, rules = connection.execute(_VERSION).one()
    else:
        listing, merchant, rules = db.session.connection().execute(_VERSION).one()
    return f"{listing and listing.timestamp()}|{merchant and merchant.timestamp()}|{rules}"


def cached_for_visitors(view=None, *, members=None):
    """Serve the view's page from the cache to a visitor without cookies (see the module's note). An
    entry holds the page as sent, its brotli and gzip encodings and its ETag, so a hit neither renders
    nor compresses (``mall.transport`` answers ``If-None-Match`` from the tag). With ``members`` (a
    function giving what of the signed-in member the page shows besides base.html's own parts, as a
    string), a member's page is served from a skeleton too."""
    if view is None:
        return lambda inner: cached_for_visitors(inner, members=members)

    @wraps(view)
    def wrapper(*args, **kwargs):
        seconds = current_app.config["PAGE_CACHE_SECONDS"]
        if request.method != "GET" or not seconds:
            return view(*args, **kwargs)
        if request.cookies:
            if members is not None and current_user.is_authenticated and current_user.role == "member":
                return _member_page(view, args, kwargs, members(), seconds)
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


class Skeleton:
    """While a member's page renders as a skeleton (``g.page_skeleton``), base.html asks it for a
    marker in place of each of the member's own parts. Page text is escaped, so nothing else on the
    page can look like a marker."""

    def __init__(self):
        self.names: list[str] = []

    def mark(self, name: str) -> Markup:
        self.names.append(name)
        return Markup(f"<!--hole:{name}-->")


def _member_page(view, args, kwargs, audience: str, seconds: int):
    key = f"mpage|{catalog_version(in_session=True)}|{get_locale()}|{int(is_htmx())}|{audience}|{request.full_path}"
    entry = cache.get(key)
    if entry is not None:
        response = current_app.response_class(_fill(entry["body"], entry["holes"]), mimetype=entry["mimetype"])
        if entry["vary"]:
            response.headers["Vary"] = entry["vary"]
        return response
    g.page_skeleton = Skeleton()
    try:
        response = current_app.make_response(view(*args, **kwargs))
    finally:
        skeleton, g.page_skeleton = g.page_skeleton, None
    if response.is_streamed:
        return response
    body = response.get_data(as_text=True)
    seconds = min(seconds, g.get("page_cache_seconds", seconds))
    if response.status_code == 200 and not session.modified and seconds > 0:
        cache.set(key, {"body": body, "holes": skeleton.names, "mimetype": response.mimetype,
                        "vary": response.headers.get("Vary", "")}, timeout=seconds)
    response.set_data(_fill(body, skeleton.names))  # this answer as the view made it (a redirect stays one)
    return response


def _fill(body: str, holes: list[str]) -> str:
    """The skeleton with the signed-in member's own parts rendered in place of its markers."""
    for name in holes:
        body = body.replace(f"<!--hole:{name}-->", header.member_part(name), 1)
    return body


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

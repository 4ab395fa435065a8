"""How responses travel: compressed (brotli or gzip, Flask-Compress), static files fingerprinted and
cached for a year, pages answered with an ETag so a browser that has the page gets a 304.

- Static URLs carry the file's content hash (``/static/css/mall.css?v=3f2a…``, added to every
  ``url_for('static', …)``). A URL whose hash is the file's own is cached for a year, ``immutable``;
  a change of the file changes every URL that names it, so nobody keeps a stale copy.
- Every HTML page a GET answers with 200 gets a strong ETag of its body. Signed-out visitors without a
  session see nothing personal, so their pages are ``public, no-cache`` (any cache may keep them but
  must ask again: a price change shows at once); a page for someone with a session is ``private``.
  Compression then suffixes the tag per encoding (``"…:br"``) and answers ``If-None-Match`` itself.
"""
import hashlib
import os

from flask import Flask, request, session
from flask_compress import Compress
from werkzeug.security import safe_join

YEAR = 365 * 24 * 3600
compress = Compress()


def init_app(app: Flask) -> None:
    app.config.setdefault("COMPRESS_ALGORITHM", ["br", "gzip"])  # what browsers accept; zstd is still rare
    app.config.setdefault("COMPRESS_ALGORITHM_STREAMING", ["br", "deflate"])
    app.config.setdefault("COMPRESS_BR_LEVEL", 4)
    app.config.setdefault("COMPRESS_MIN_SIZE", 500)
    compress.init_app(app)  # its after_request runs after ours (Flask runs them in reverse order)
    versions: dict[str, tuple[float, str]] = {}

    def version(filename: str) -> str | None:
        """The first 12 hex digits of the file's SHA-256 (recomputed when the file changes)."""
        path = safe_join(app.static_folder, filename)
        try:
            mtime = os.stat(path).st_mtime if path else None
        except OSError:
            return None
        if mtime is None:
            return None
        known = versions.get(filename)
        if known is None or known[0] != mtime:
            with open(path, "rb") as f:
                known = versions[filename] = (mtime, hashlib.sha256(f.read()).hexdigest()[:12])
        return known[1]

    @app.url_defaults
    def fingerprint(endpoint, values):
        if endpoint == "static" and "filename" in values and "v" not in values:
            digest = version(values["filename"])
            if digest:
                values["v"] = digest

    default_max_age = app.get_send_file_max_age

    def max_age(filename):
        if filename and request.args.get("v") and request.args.get("v") == version(filename):
            return YEAR
        return default_max_age(filename)

    app.get_send_file_max_age = max_age

    @app.after_request
    def validators(response):
        if request.endpoint == "static":
            if response.cache_control.max_age == YEAR:
                response.cache_control.public = True
                response.cache_control.immutable = True
            return response
        if (request.method in ("GET", "HEAD") and response.status_code == 200 and response.mimetype == "text/html"
                and not response.is_streamed and not response.direct_passthrough):
            if request.cookies or session.modified:  # the session cookie is written after this hook
                response.cache_control.private = True
            else:
                response.cache_control.public = True
            response.cache_control.no_cache = True
            if "ETag" not in response.headers:  # a cached page carries its own (mall.catalog.pages)
                response.add_etag()
            response.make_conditional(request)
        return response

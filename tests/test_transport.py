"""How responses travel (mall/transport.py): compressed, static files fingerprinted and cached for a
year, public pages without a cookie and with an ETag, answered 304 until something on them changes."""
import gzip
import hashlib
import re
from pathlib import Path

import brotli

from mall.catalog import service as catalog
from mall.coalition.models import Merchant
from mall.db import write
from mall.extensions import db
from tests.builders import Auth, create_listing, make_merchant, make_user

STATIC = Path(__file__).resolve().parents[1] / "static"


def test_pages_are_compressed_with_brotli_or_gzip_and_say_so(app):
    browser = app.test_client()
    plain = browser.get("/catalog", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    br = browser.get("/catalog", headers={"Accept-Encoding": "gzip, deflate, br"})
    assert br.headers["Content-Encoding"] == "br" and "Accept-Encoding" in br.headers["Vary"]
    assert brotli.decompress(br.data) == plain.data
    assert len(br.data) < len(plain.data) / 2
    gz = browser.get("/catalog", headers={"Accept-Encoding": "gzip"})
    assert gz.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(gz.data) == plain.data


def test_a_public_page_sets_no_cookie_and_revalidates_with_its_etag(app):
    browser = app.test_client()
    first = browser.get("/catalog", headers={"Accept-Encoding": "br"})
    assert "Set-Cookie" not in first.headers
    assert first.headers["Cache-Control"] in ("public, no-cache", "no-cache, public")
    etag = first.headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{40}:br"', etag)
    again = browser.get("/catalog", headers={"Accept-Encoding": "br", "If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    # a client that takes no encoding has the plain page's tag, and gets its 304 too
    plain = browser.get("/catalog")
    assert plain.headers["ETag"] == etag.replace(":br", "")
    assert browser.get("/catalog", headers={"If-None-Match": plain.headers["ETag"]}).status_code == 304
    assert browser.get("/catalog", headers={"If-None-Match": '"other"'}).status_code == 200


def test_a_price_change_shows_at_once_to_a_browser_holding_the_page(app):
    shop = make_merchant(app, "cache-shop")
    listing = create_listing(app, shop, title_zh="竹纤维毛巾", title_en="Bamboo towel", points_price=4321)
    browser = app.test_client()
    page = browser.get(f"/catalog/{listing}")
    assert "4,321" in page.get_data(as_text=True)
    etag = page.headers["ETag"]
    assert browser.get(f"/catalog/{listing}", headers={"If-None-Match": etag}).status_code == 304
    with app.app_context(), write(db.session):
        catalog.update_listing(db.session, db.session.get(Merchant, shop), listing, {"points_price": 3999})
    fresh = browser.get(f"/catalog/{listing}", headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.headers["ETag"] != etag
    assert "3,999" in fresh.get_data(as_text=True) and "4,321" not in fresh.get_data(as_text=True)


def test_a_signed_in_members_pages_are_private(app, client):
    make_user(app, "ada@example.com")
    Auth(client).login()
    page = client.get("/catalog")
    assert page.status_code == 200
    assert "private" in page.headers["Cache-Control"] and "public" not in page.headers["Cache-Control"]
    assert client.get("/catalog", headers={"If-None-Match": page.headers["ETag"]}).status_code in (200, 304)


def test_static_files_are_fingerprinted_and_cached_for_a_year(app):
    browser = app.test_client()
    html = browser.get("/").get_data(as_text=True)
    url = re.search(r'href="(/static/css/mall\.css\?v=([0-9a-f]{12}))"', html)
    assert url, "the stylesheet's URL carries its content hash"
    assert url.group(2) == hashlib.sha256((STATIC / "css" / "mall.css").read_bytes()).hexdigest()[:12]
    response = browser.get(url.group(1))
    cache = response.headers["Cache-Control"]
    assert response.status_code == 200
    assert "max-age=31536000" in cache and "immutable" in cache and "public" in cache
    stale = browser.get("/static/css/mall.css?v=000000000000")  # an old page's URL: no year-long promise
    assert stale.status_code == 200 and "max-age=31536000" not in stale.headers.get("Cache-Control", "")
    bare = browser.get("/static/css/mall.css")
    assert "immutable" not in bare.headers.get("Cache-Control", "")

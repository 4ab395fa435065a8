"""Merchants manage their own listings: validation, status, stock, images, slots and nights."""
import io
import json
from datetime import date, datetime, timedelta, timezone

import pytest
from PIL import Image
from sqlalchemy import func, select

from mall.catalog import service as catalog
from mall.catalog.models import Listing, ListingImage, ServiceSlot, StayNight
from mall.db import write
from mall.errors import DomainError
from mall.extensions import db
from mall.coalition.models import Merchant
from tests.builders import create_listing, csrf_token, listing_doc, make_merchant, make_user, race


def shop(merchant_id):
    return db.session.get(Merchant, merchant_id)


@pytest.mark.parametrize("changes, field", [
    ({"points_price": -1}, "points_price"), ({"points_price": 0}, "points_price"),
    ({"points_price": 10**30}, "points_price"), ({"points_price": True}, "points_price"),
    ({"points_price": 1.5}, "points_price"), ({"points_price": "100"}, "points_price"),
    ({"stock": -3}, "stock"), ({"stock": 10**12}, "stock"), ({"cash_fen": -1}, "cash_fen"),
    ({"points_price": None}, "points_price"),  # no price at all
    ({"mix_points": 100, "cash_fen": 0}, "cash_fen"), ({"cash_fen": 500}, "mix_points"),
    ({"kind": "spaceship"}, "kind"), ({"title_zh": ""}, "title_zh"), ({"green": "yes"}, "green"),
    ({"sale_points_price": 3000, "sale_starts_at": "2026-03-01T00:00:00+08:00",
      "sale_ends_at": "2026-04-01T00:00:00+08:00"}, "sale_points_price"),  # not below the price
    ({"sale_points_price": 2000, "sale_starts_at": "2026-03-01T00:00:00"}, "sale_starts_at"),
    ({"kind": "coupon"}, "coupon_valid_days"),
    ({"available_from": "2026-12-01T00:00:00+08:00", "early_access_from": "2026-12-02T00:00:00+08:00"},
     "early_access_from"),
])
def test_invalid_listings_are_refused_with_the_field(ctx, shop_id, changes, field):
    with pytest.raises(catalog.InvalidListing) as refused, write(db.session):
        catalog.create_listing(db.session, shop(shop_id), listing_doc(**changes))
    assert field in {e["field"] for e in refused.value.errors}
    assert db.session.scalar(select(func.count(Listing.id))) == 0


def test_unknown_fields_are_ignored(ctx, shop_id):
    other = make_merchant(ctx, "other")
    with write(db.session):
        item = catalog.create_listing(db.session, shop(shop_id), listing_doc(
            merchant_id=other, redemptions=999, status="active", id=424242))
        assert (item.merchant_id, item.redemptions, item.status) == (shop_id, 0, "draft")
        assert item.id != 424242


def test_pending_merchant_cannot_publish(ctx):
    pending = make_merchant(ctx, "pending", status="pending")
    with write(db.session):
        item_id = catalog.create_listing(db.session, shop(pending), listing_doc()).id
    with pytest.raises(DomainError, match="approved"), write(db.session):
        catalog.set_status(db.session, shop(pending), item_id, "publish")


def test_status_lifecycle_and_visibility(app, client, shop_id):
    item_id = create_listing(app, shop_id, publish=False)
    assert client.get(f"/catalog/{item_id}").status_code == 404  # a draft is not public
    with app.app_context(), write(db.session):
        catalog.set_status(db.session, shop(shop_id), item_id, "publish")
    assert client.get(f"/catalog/{item_id}").status_code == 200
    with app.app_context(), write(db.session):
        catalog.set_status(db.session, shop(shop_id), item_id, "pause")
    assert client.get(f"/catalog/{item_id}").status_code == 404
    with app.app_context(), write(db.session):
        catalog.set_status(db.session, shop(shop_id), item_id, "archive")
    with pytest.raises(DomainError), app.app_context(), write(db.session):
        catalog.set_status(db.session, shop(shop_id), item_id, "publish")


def test_suspended_merchant_listings_disappear(app, client, shop_id):
    item_id = create_listing(app, shop_id)
    with app.app_context(), write(db.session):
        shop(shop_id).status = "suspended"
    assert client.get(f"/catalog/{item_id}").status_code == 404
    assert "Bamboo towel" not in client.get("/catalog").get_data(as_text=True)


def test_stock_delta_is_atomic_under_concurrency(app, shop_id):
    item_id = create_listing(app, shop_id, stock=100)

    def take():
        with app.app_context(), write(db.session):
            catalog.update_listing(db.session, db.session.get(Merchant, shop_id), item_id, {"stock_delta": -1})

    race(lambda _: take(), range(20))
    with app.app_context():
        assert db.session.get(Listing, item_id).stock == 80


def test_stock_cannot_go_below_zero(ctx, shop_id):
    item_id = create_listing(ctx, shop_id, stock=2)
    with pytest.raises(DomainError, match="below zero"), write(db.session):
        catalog.update_listing(db.session, shop(shop_id), item_id, {"stock_delta": -3})
    assert db.session.get(Listing, item_id).stock == 2


def test_sale_window_boundaries(ctx, shop_id):
    start = datetime(2026, 3, 1, tzinfo=timezone.utc)
    item_id = create_listing(ctx, shop_id, points_price=3000, sale_points_price=2500,
                     sale_starts_at=start.isoformat(), sale_ends_at=(start + timedelta(days=30)).isoformat())
    item = db.session.get(Listing, item_id)
    assert item.points_now(start - timedelta(microseconds=1)) == 3000
    assert item.points_now(start) == 2500
    assert item.points_now(start + timedelta(days=30) - timedelta(microseconds=1)) == 2500
    assert item.points_now(start + timedelta(days=30)) == 3000


def test_early_access_gating(ctx, shop_id):
    from mall.account.models import User

    now = datetime(2026, 11, 26, tzinfo=timezone.utc)
    item_id = create_listing(ctx, shop_id, early_access_from=(now - timedelta(hours=1)).isoformat(),
                     available_from=(now + timedelta(days=1)).isoformat())
    good_id, normal_id = make_user(ctx, "good@example.com"), make_user(ctx, "normal@example.com")
    with write(db.session):
        db.session.get(User, good_id).good_credit = True
    item, good, normal = db.session.get(Listing, item_id), db.session.get(User, good_id), db.session.get(User, normal_id)
    assert catalog.availability(item, good, now).state == "early_access"
    assert catalog.availability(item, normal, now).state == "early_access_only"
    assert catalog.availability(item, None, now).state == "early_access_only"
    assert catalog.availability(item, normal, now - timedelta(hours=2)).state == "not_open"
    assert catalog.availability(item, normal, now + timedelta(days=1)).state == "available"


def _png(size=(800, 600)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (22, 121, 74)).save(buffer, "PNG")
    return buffer.getvalue()


def test_image_upload_resizes_and_sets_the_cover(app, client, staff):
    item_id = create_listing(app, staff, publish=False)
    page = f"/merchant/listings/{item_id}"
    response = client.post(f"{page}/images", data={"csrf_token": csrf_token(client, page),
                                                   "image": (io.BytesIO(_png((3000, 2000))), "big.png")})
    assert response.status_code == 303
    with app.app_context():
        image = db.session.scalar(select(ListingImage))
        assert (image.width, image.height) == (1200, 800)
        assert db.session.get(Listing, item_id).cover_image == image.path
    media = client.get(f"/media/{image.path}-thumb.webp")
    assert media.status_code == 200 and media.data[:4] == b"RIFF"


@pytest.mark.parametrize("payload, name", [
    (b"#!/bin/sh\necho not an image", "evil.png"),
    (b"GIF89a" + b"\x00" * 100, "fake.gif"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "broken.png"),
])
def test_non_images_are_refused(app, client, staff, payload, name):
    item_id = create_listing(app, staff, publish=False)
    page = f"/merchant/listings/{item_id}"
    client.post(f"{page}/images", data={"csrf_token": csrf_token(client, page), "image": (io.BytesIO(payload), name)})
    assert "Upload a JPEG, PNG or WebP image." in client.get(page).get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(ListingImage.id))) == 0


def test_oversized_and_sixth_images_are_refused(ctx, shop_id):
    item_id = create_listing(ctx, shop_id, publish=False)
    with pytest.raises(DomainError, match="5 MB"), write(db.session):
        catalog.add_image(db.session, shop(shop_id), item_id, b"\x00" * (5 * 1024 * 1024 + 1),
                          ctx.config["MEDIA_ROOT"])
    for _ in range(5):
        with write(db.session):
            catalog.add_image(db.session, shop(shop_id), item_id, _png(), ctx.config["MEDIA_ROOT"])
    with pytest.raises(DomainError, match="at most 5"), write(db.session):
        catalog.add_image(db.session, shop(shop_id), item_id, _png(), ctx.config["MEDIA_ROOT"])


def test_slots_and_nights(ctx, shop_id):
    service_id = create_listing(ctx, shop_id, kind="service", category="services", stock=None)
    stay_id = create_listing(ctx, shop_id, kind="stay", category="hotel", stock=None)
    start = datetime(2026, 12, 1, 2, tzinfo=timezone.utc)
    with write(db.session):
        assert catalog.add_slots(db.session, shop(shop_id), service_id, [start, start + timedelta(hours=2)], 4) == 2
        assert catalog.add_slots(db.session, shop(shop_id), service_id, [start], 4) == 0  # no duplicate
        assert catalog.set_nights(db.session, shop(shop_id), stay_id, date(2026, 12, 1), date(2026, 12, 3), 18000, 2) == 3
        catalog.set_nights(db.session, shop(shop_id), stay_id, date(2026, 12, 2), date(2026, 12, 2), 15000, 1)
    prices = dict(db.session.execute(select(StayNight.night, StayNight.points_price)).all())
    assert prices == {date(2026, 12, 1): 18000, date(2026, 12, 2): 15000, date(2026, 12, 3): 18000}
    assert db.session.scalar(select(func.count(ServiceSlot.id))) == 2
    with pytest.raises(DomainError), write(db.session):
        catalog.add_slots(db.session, shop(shop_id), stay_id, [start], 1)


def test_back_office_create_edit_publish(app, client, staff):
    data = {"csrf_token": csrf_token(client, "/merchant/listings/new"), "kind": "goods", "category": "textiles",
            "title_zh": "有机棉浴巾", "title_en": "Organic cotton bath towel", "points_price": "3600",
            "stock": "50", "limit_per_member": "2", "limit_period": "month", "green": "y", "co2e_g": "1200"}
    created = client.post("/merchant/listings/new", data=data)
    assert created.status_code == 303
    edit_url = created.headers["Location"]
    item_id = int(edit_url.rsplit("/", 1)[1])
    client.post(f"{edit_url}/publish", data={"csrf_token": csrf_token(client, edit_url)})
    assert client.get(f"/catalog/{item_id}").status_code == 200
    bad = client.post(edit_url, data={**data, "points_price": "-5", "csrf_token": csrf_token(client, edit_url)})
    assert bad.status_code == 422
    with app.app_context():
        assert db.session.get(Listing, item_id).points_price == 3600


def test_staff_cannot_touch_another_merchants_listing(app, client, staff):
    other = make_merchant(app, "other")
    foreign = create_listing(app, other)
    page = f"/merchant/listings/{foreign}"
    assert client.get(page).status_code == 404
    token = csrf_token(client, "/merchant/listings")
    assert client.post(page, data={"csrf_token": token, "title_en": "hacked"}).status_code == 404
    assert client.post(f"{page}/archive", data={"csrf_token": token}).status_code == 404
    assert client.post(f"{page}/images", data={"csrf_token": token, "image": (io.BytesIO(_png()), "a.png")}).status_code == 404
    with app.app_context():
        assert db.session.get(Listing, foreign).status == "active"


class TestApi:
    @pytest.fixture
    def key(self, app, shop_id):
        from mall.api import service as api_service

        with app.app_context(), write(db.session):
            return {"Authorization": f"Bearer {api_service.create_key(db.session, shop(shop_id))[1]}"}

    def send(self, client, method, path, key, body, idem="k"):
        return client.open(path, method=method, data=json.dumps(body), content_type="application/json",
                           headers={**key, "Idempotency-Key": idem})

    def test_create_list_patch(self, client, key):
        created = self.send(client, "POST", "/api/v1/listings", key, listing_doc(status="active"))
        assert created.status_code == 201
        item = created.get_json()
        assert item["status"] == "active" and item["points_price"] == 2800
        listed = client.get("/api/v1/listings", headers=key).get_json()["data"]
        assert [i["id"] for i in listed] == [item["id"]]
        patched = self.send(client, "PATCH", f"/api/v1/listings/{item['id']}", key,
                            {"stock_delta": -4, "points_price": 2600}, idem="p1")
        assert patched.status_code == 200
        assert (patched.get_json()["stock"], patched.get_json()["points_price"]) == (6, 2600)
        again = self.send(client, "PATCH", f"/api/v1/listings/{item['id']}", key,
                          {"stock_delta": -4, "points_price": 2600}, idem="p1")
        assert again.data == patched.data  # replayed, stock taken once
        assert client.get("/api/v1/listings", headers=key).get_json()["data"][0]["stock"] == 6

    def test_cannot_patch_another_merchants_listing(self, app, client, key):
        foreign = create_listing(app, make_merchant(app, "other"))
        response = self.send(client, "PATCH", f"/api/v1/listings/{foreign}", key, {"points_price": 1})
        assert response.status_code == 404
        with app.app_context():
            assert db.session.get(Listing, foreign).points_price == 2800

    @pytest.mark.parametrize("changes", [{"points_price": True}, {"stock": -1}, {"points_price": 1.5},
                                         {"stock_delta": "3"}, {"status": "exploded"}])
    def test_bad_values_are_422(self, app, client, key, shop_id, changes):
        item_id = create_listing(app, shop_id)
        response = self.send(client, "PATCH", f"/api/v1/listings/{item_id}", key, changes)
        assert response.status_code == 422
        assert response.content_type == "application/problem+json"

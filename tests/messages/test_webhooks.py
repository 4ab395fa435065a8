"""Merchant webhooks against a real local HTTP server: registered in the back office, signed with the
endpoint's secret (HMAC-SHA256 over timestamp and body), retried with backoff, dead-lettered after the
last attempt, logged for the merchant, and private to the merchant that owns them."""
import json
import re
import time

from sqlalchemy import select

from mall.checkout import merchant_side
from mall.checkout import service as checkout
from mall.coalition.models import Merchant
from mall.db import write
from mall.extensions import db
from mall.messages import channels
from mall.messages.models import OutboxMessage, WebhookEndpoint
from tests.builders import checkout_as, csrf_token, make_merchant, make_user, signed_in_client
from tests.messages.test_email import deliver, outbox


def register(app, client, url, events=()):
    token = csrf_token(client, "/merchant/webhooks")
    answer = client.post("/merchant/webhooks", data={"csrf_token": token, "url": url, "events": list(events)})
    assert answer.status_code == 303, answer.get_data(as_text=True)
    endpoint_id = int(answer.headers["Location"].rsplit("/", 1)[1])
    with app.app_context():
        return endpoint_id, db.session.get(WebhookEndpoint, endpoint_id).secret


def staff_client(app, merchant_id, email="staff@example.com"):
    make_user(app, email, role="merchant", merchant_id=merchant_id)
    return signed_in_client(app, email)


def test_an_order_is_posted_signed_to_the_merchants_endpoint(app, people, endpoint, runner):
    staff = staff_client(app, people.merchant_id)
    page = staff.get("/merchant/webhooks")
    assert page.status_code == 200 and "order.placed" in page.get_data(as_text=True)
    endpoint_id, secret = register(app, staff, endpoint.url)
    assert secret.startswith("whsec_") and secret in staff.get(f"/merchant/webhooks/{endpoint_id}").get_data(as_text=True)
    member = people.member("m@example.com", 5000)
    towel = people.listing(points_price=1000, stock=5)
    [order_id], _ = checkout_as(app, member, [checkout.LineRequest(towel)])
    assert endpoint.requests == []
    deliver(runner)
    [hit] = endpoint.requests
    headers, body = hit["headers"], hit["body"]
    assert hit["json"]["type"] == "order.placed" and hit["json"]["data"] == {"order_id": order_id, "points": 1000,
                                                                              "cash_fen": 0}
    assert headers["Mall-Event-Id"] == hit["json"]["id"] and headers["Mall-Event-Type"] == "order.placed"
    assert channels.verify_signature(secret, headers["Mall-Signature"], body)
    assert not channels.verify_signature(secret, headers["Mall-Signature"], body + b" ")  # the body is covered
    assert not channels.verify_signature("whsec_other", headers["Mall-Signature"], body)
    stamp = int(headers["Mall-Timestamp"])
    assert abs(stamp - time.time()) < 60
    assert not channels.verify_signature(secret, headers["Mall-Signature"], body, now=stamp + 301)  # replay window
    log = staff.get(f"/merchant/webhooks/{endpoint_id}").get_data(as_text=True)
    assert "evt_" in log and "order.placed" in log and "Delivered" in log


def test_fulfil_cancel_refund_and_voucher_events_reach_the_endpoint_once_each(app, people, endpoint, runner):
    staff = staff_client(app, people.merchant_id)
    register(app, staff, endpoint.url, events=["order.cancelled", "order.refunded", "voucher.redeemed"])
    member = people.member("m@example.com", 9000)
    towel = people.listing(points_price=1000, stock=5)
    coupon = people.listing(kind="coupon", category="grocery", coupon_valid_days=30, points_price=500, stock=5)
    [first], _ = checkout_as(app, member, [checkout.LineRequest(towel, quantity=2)], token="a")
    [second], _ = checkout_as(app, member, [checkout.LineRequest(towel)], token="b")
    [third], _ = checkout_as(app, member, [checkout.LineRequest(coupon)], token="c")
    with app.app_context(), write(db.session):
        shop = db.session.get(Merchant, people.merchant_id)
        merchant_side.cancel_order(db.session, shop, second, "out of stock")
        order = merchant_side.get_merchant_order(db.session, shop, first)
        merchant_side.refund_lines(db.session, order, {order.lines[0].id: 1}, key="r1")
    with app.app_context(), write(db.session):
        shop = db.session.get(Merchant, people.merchant_id)
        voucher = merchant_side.get_merchant_order(db.session, shop, third).lines[0].vouchers[0]
        merchant_side.redeem_voucher(db.session, shop, voucher.code)
    deliver(runner)
    deliver(runner)
    got = sorted((r["json"]["type"], r["json"]["data"].get("order_id")) for r in endpoint.requests)
    assert got == [("order.cancelled", second), ("order.refunded", first), ("voucher.redeemed", third)]
    cancelled = next(r["json"]["data"] for r in endpoint.requests if r["json"]["type"] == "order.cancelled")
    assert cancelled["by"] == "merchant" and cancelled["points_returned"] == 1000 and cancelled["compensation"] > 0


def test_an_endpoint_that_fails_five_times_is_retried_then_dead_lettered(app, people, endpoint, runner,
                                                                         operator_client):
    staff = staff_client(app, people.merchant_id)
    endpoint_id, _ = register(app, staff, endpoint.url)
    endpoint.statuses = [500, 503, 502, 500, 500]
    token = csrf_token(staff, f"/merchant/webhooks/{endpoint_id}")
    assert staff.post(f"/merchant/webhooks/{endpoint_id}/test", data={"csrf_token": token}).status_code == 303
    for attempt in range(1, 6):
        deliver(runner)
        [row] = outbox(app, channel="webhook")
        assert row.attempts == attempt and len(endpoint.requests) == attempt
    assert row.status == "dead" and row.last_error == "HTTP 500"
    assert [r["json"]["type"] for r in endpoint.requests] == ["ping"] * 5
    assert len({r["headers"]["Mall-Event-Id"] for r in endpoint.requests}) == 1  # one event, tried five times
    deliver(runner)
    assert len(endpoint.requests) == 5  # dead letters wait for an operator
    log = staff.get(f"/merchant/webhooks/{endpoint_id}").get_data(as_text=True)
    assert "Failed (dead letter)" in log and "HTTP 500" in log
    console = operator_client.get("/admin/messages").get_data(as_text=True)
    assert f'id="dead-{row.id}"' in console and endpoint.url in console
    op_token = csrf_token(operator_client, "/admin/messages")
    assert operator_client.post(f"/admin/messages/{row.id}/discard", data={"csrf_token": op_token}).status_code == 303
    assert outbox(app, channel="webhook")[0].status == "discarded"
    assert f'id="dead-{row.id}"' not in operator_client.get("/admin/messages").get_data(as_text=True)


def test_backoff_spaces_the_attempts(app, people, endpoint, runner, monkeypatch):
    app.config["MESSAGES_RETRY_BASE_SECONDS"] = 30
    staff = staff_client(app, people.merchant_id)
    endpoint_id, _ = register(app, staff, endpoint.url)
    endpoint.statuses = [500, 500]
    staff.post(f"/merchant/webhooks/{endpoint_id}/test",
               data={"csrf_token": csrf_token(staff, f"/merchant/webhooks/{endpoint_id}")})
    deliver(runner)
    [first] = outbox(app, channel="webhook")
    waited = (first.next_attempt_at - first.created_at).total_seconds()
    assert 29 <= waited <= 40 and first.status == "pending"
    deliver(runner)
    assert len(endpoint.requests) == 1  # not due yet
    from datetime import timedelta

    later = first.next_attempt_at + timedelta(seconds=1)
    monkeypatch.setattr("mall.messages.delivery.utcnow", lambda: later)
    deliver(runner)
    [second] = outbox(app, channel="webhook")
    assert len(endpoint.requests) == 2 and 59 <= (second.next_attempt_at - later).total_seconds() <= 70


def test_endpoints_belong_to_their_merchant_only(app, people, endpoint):
    staff = staff_client(app, people.merchant_id)
    endpoint_id, secret = register(app, staff, endpoint.url)
    other = staff_client(app, make_merchant(app, "rival"), "rival@example.com")
    assert other.get(f"/merchant/webhooks/{endpoint_id}").status_code == 404
    token = csrf_token(other, "/merchant/webhooks")
    for action in ("test", "rotate", "disable", "delete"):
        assert other.post(f"/merchant/webhooks/{endpoint_id}/{action}", data={"csrf_token": token}).status_code == 404
    assert secret not in other.get("/merchant/webhooks").get_data(as_text=True)
    member = people.member("m@example.com", 0)
    member_client = signed_in_client(app, "m@example.com")
    assert member_client.get("/merchant/webhooks").status_code == 404
    assert member_client.get("/admin/messages").status_code == 404
    assert app.test_client().get("/admin/messages").status_code == 404
    with app.app_context():
        row = db.session.get(WebhookEndpoint, endpoint_id)
        assert row.active and row.secret == secret
    assert member


def test_a_plain_http_or_bad_endpoint_is_refused_with_a_clear_message(app, people):
    staff = staff_client(app, people.merchant_id)
    token = csrf_token(staff, "/merchant/webhooks")
    for url, message in (("http://shop.example.com/hook", "must be an https:// address"),
                         ("ftp://shop.example.com/hook", "must be an https:// address"),
                         ("not a url", "must be an https:// address")):
        answer = staff.post("/merchant/webhooks", data={"csrf_token": token, "url": url})
        assert answer.status_code == 422 and message in answer.get_data(as_text=True), url
    answer = staff.post("/merchant/webhooks", data={"csrf_token": token, "url": "https://shop.example.com/h",
                                                    "events": ["order.exploded"]})
    assert answer.status_code == 422
    with app.app_context():
        assert db.session.scalars(select(WebhookEndpoint)).all() == []


def test_rotating_the_secret_signs_with_the_new_one_and_a_switched_off_endpoint_gets_nothing(
        app, people, endpoint, runner):
    staff = staff_client(app, people.merchant_id)
    endpoint_id, old = register(app, staff, endpoint.url)
    token = csrf_token(staff, f"/merchant/webhooks/{endpoint_id}")
    staff.post(f"/merchant/webhooks/{endpoint_id}/rotate", data={"csrf_token": token})
    staff.post(f"/merchant/webhooks/{endpoint_id}/test", data={"csrf_token": token})
    deliver(runner)
    with app.app_context():
        new = db.session.get(WebhookEndpoint, endpoint_id).secret
    [hit] = endpoint.requests
    assert new != old and channels.verify_signature(new, hit["headers"]["Mall-Signature"], hit["body"])
    assert not channels.verify_signature(old, hit["headers"]["Mall-Signature"], hit["body"])
    staff.post(f"/merchant/webhooks/{endpoint_id}/disable", data={"csrf_token": token})
    member = people.member("m@example.com", 5000)
    checkout_as(app, member, [checkout.LineRequest(people.listing(points_price=100, stock=5))])
    deliver(runner)
    assert len(endpoint.requests) == 1
    assert json.loads(endpoint.requests[0]["body"])["type"] == "ping"
    assert re.search("Off", staff.get(f"/merchant/webhooks/{endpoint_id}").get_data(as_text=True))
    assert all(r.status != "pending" for r in outbox(app, channel="webhook"))
    with app.app_context():
        assert db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.topic == "order.placed")) is None

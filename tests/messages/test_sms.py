"""SMS through the provider interface and its sandbox: only for what must reach a phone, capped per
member per day, retried when the provider fails or times out, never sent twice for one message."""
from sqlalchemy import select

from mall.account.models import User
from mall.checkout import merchant_side
from mall.checkout import service as checkout
from mall.coalition.models import Merchant
from mall.db import write
from mall.extensions import db
from mall.messages.channels import sms_provider
from tests.builders import at, checkout_as
from tests.messages.conftest import no_quiet_hours
from tests.messages.test_email import deliver, outbox


def with_phone(app, user_id, phone):
    """The member's phone, with quiet hours off: what is due goes out whatever the hour the test runs at."""
    with app.app_context(), write(db.session):
        db.session.get(User, user_id).phone = phone
    no_quiet_hours(app, user_id)


def cancelled_order(app, people, member, token):
    [order_id], _ = checkout_as(app, member, [checkout.LineRequest(people.listing(points_price=100, stock=5))],
                                token=token)
    with app.app_context(), write(db.session):
        merchant_side.cancel_order(db.session, db.session.get(Merchant, people.merchant_id), order_id, "sold out")
    return order_id


def texts(app, phone=None):
    with app.app_context():
        return sms_provider().messages(phone)


def test_an_order_the_merchant_cancelled_reaches_the_phone_once(app, people, runner):
    member = people.member("m@example.com", 5000)
    with_phone(app, member, "13800138001")
    people.set_locale(member, "en")
    order_id = cancelled_order(app, people, member, "one")
    deliver(runner)
    deliver(runner)
    [text] = texts(app)
    assert text["phone"] == "13800138001" and text["text"] == f"[Green Points Mall] Order {order_id} was cancelled"
    [row] = outbox(app, channel="sms")
    assert row.status == "sent" and row.provider_ref == text["provider_id"]


def test_only_what_must_reach_a_phone_goes_by_sms(app, people, runner):
    lin, mei = people.member("lin@example.com", 5000, name="Lin"), people.member("mei@example.com", 0)
    with_phone(app, mei, "13800138002")
    people.family_of(lin, mei)
    people.gift(lin, mei, 300)  # a gift: in the mall and by e-mail, not by SMS
    deliver(runner)
    assert texts(app) == [] and outbox(app, channel="sms") == []


def test_expiry_reminders_text_only_within_seven_days(app, people, runner, monkeypatch):
    member = people.member("m@example.com", 0)
    with_phone(app, member, "13800138003")
    people.confirm(member)
    people.earn(member, 1500, at(2025, 5, 1))  # expires 2027-01-01 00:00 Shanghai
    monkeypatch.setattr("mall.messages.cli.utcnow", lambda: at(2026, 12, 10))  # 22 days before
    assert runner.invoke(args=["messages", "remind"]).exit_code == 0
    deliver(runner)
    assert texts(app) == [] and [r.channel for r in outbox(app)] == ["email"]
    monkeypatch.setattr("mall.messages.cli.utcnow", lambda: at(2026, 12, 27))  # 5 days before
    assert runner.invoke(args=["messages", "remind"]).exit_code == 0
    assert runner.invoke(args=["messages", "remind"]).exit_code == 0  # again: nothing more
    deliver(runner)
    assert len(texts(app, "13800138003")) == 1
    assert sorted((r.channel, r.data["days"]) for r in outbox(app)) == [("email", 7), ("email", 30), ("sms", 7)]


def test_the_daily_cap_holds(app, people, runner):
    app.config["SMS_DAILY_CAP"] = 2
    member = people.member("m@example.com", 5000)
    with_phone(app, member, "13800138004")
    for token in ("a", "b", "c"):
        cancelled_order(app, people, member, token)
    deliver(runner)
    assert len(texts(app)) == 2
    assert sorted(r.status for r in outbox(app, channel="sms")) == ["sent", "sent", "skipped"]
    assert [r.last_error for r in outbox(app, channel="sms") if r.status == "skipped"] == ["daily SMS cap"]


def test_a_provider_refusal_is_retried_and_a_timeout_is_not_sent_twice(app, people, runner):
    refused, slow = people.member("r@example.com", 5000), people.member("s@example.com", 5000)
    with_phone(app, refused, "13800000500")
    with_phone(app, slow, "13800000504")
    cancelled_order(app, people, refused, "r")
    cancelled_order(app, people, slow, "s")
    for _ in range(3):
        deliver(runner)
    rows = {r.address: r for r in outbox(app, channel="sms")}
    assert rows["13800000500"].attempts == 3 and "refused" in rows["13800000500"].last_error
    assert texts(app, "13800000500") == []
    # the provider accepted the slow one each time but answered too late: one text, however many tries
    assert rows["13800000504"].attempts == 3 and len(texts(app, "13800000504")) == 1


def test_quiet_hours_hold_texts_too(app, people, runner, monkeypatch):
    member = people.member("m@example.com", 5000)
    with_phone(app, member, "13800138005")
    people.confirm(member, quiet_hours=True)
    night = at(2026, 12, 10, 16, 0)  # midnight in Shanghai
    monkeypatch.setattr("mall.messages.service.utcnow", lambda: night)
    monkeypatch.setattr("mall.messages.delivery.utcnow", lambda: night)
    cancelled_order(app, people, member, "n")
    deliver(runner)
    assert texts(app) == []
    monkeypatch.setattr("mall.messages.delivery.utcnow", lambda: at(2026, 12, 11, 0, 0))
    deliver(runner)
    assert len(texts(app)) == 1
    with app.app_context():
        assert db.session.scalar(select(User.phone).where(User.id == member)) == "13800138005"


def test_a_till_request_texts_its_one_time_code_at_once_even_at_night_and_never_once_expired(
        app, people, runner, monkeypatch):
    from mall.checkout import bills

    member = people.member("m@example.com", 5000)
    with_phone(app, member, "13800138006")
    people.confirm(member, quiet_hours=True)
    people.set_locale(member, "en")
    night = at(2026, 12, 10, 16, 0)  # midnight in Shanghai: a code is still wanted now
    monkeypatch.setattr("mall.messages.service.utcnow", lambda: night)
    monkeypatch.setattr("mall.messages.delivery.utcnow", lambda: night)
    with app.app_context(), write(db.session):
        shop = db.session.get(Merchant, people.merchant_id)
        bill = bills.request_payment(db.session, shop, people.code(member), 5000, 1200, now=night)
        code = bill.one_time_code
    deliver(runner)
    [text] = texts(app)
    assert code in text["text"] and "1,200 points" in text["text"] and "shop" in text["text"].lower()
    with app.app_context(), write(db.session):
        shop = db.session.get(Merchant, people.merchant_id)
        bills.request_payment(db.session, shop, people.code(member), 3000, 500, now=night)
    late = at(2026, 12, 10, 16, 30)  # past the code's five minutes before any worker got to it
    monkeypatch.setattr("mall.messages.delivery.utcnow", lambda: late)
    deliver(runner)
    assert len(texts(app)) == 1
    assert sorted(r.last_error for r in outbox(app, channel="sms")) == ["", "expired before it could be sent"]


def test_a_sent_one_time_code_is_not_kept_in_the_outbox(app, people, runner):
    from mall.checkout import bills

    member = people.member("m@example.com", 5000)
    with_phone(app, member, "13800138007")
    with app.app_context(), write(db.session):
        bill = bills.request_payment(db.session, db.session.get(Merchant, people.merchant_id), people.code(member),
                                     5000, 1000)
        code = bill.one_time_code
    [row] = outbox(app, channel="sms")
    assert row.data["code"] == code
    deliver(runner)
    [row] = outbox(app, channel="sms")
    assert row.status == "sent" and row.data["code"] == "******" and code in texts(app)[0]["text"]

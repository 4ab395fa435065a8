"""Every event the programme tells members about becomes a message on the channels they have on, and
every topic reads well in both languages; a member's messages are in their data export and erased
with their account."""
import io
import json
import re
import zipfile
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from mall.account import service as accounts
from mall.account.models import Notification, User
from mall.charity import service as charity
from mall.checkout import merchant_side
from mall.checkout import service as checkout
from mall.clock import utcnow
from mall.coalition.models import Merchant
from mall.db import write
from mall.extensions import db
from mall.fraud import service as fraud
from mall.messages import delivery
from mall.messages.compose import COMPOSERS
from mall.messages.models import MessagePreference, MessageProfile, OutboxMessage
from mall.messages.topics import TOPICS
from mall.privacy import service as privacy
from tests.builders import PASSWORD, checkout_as, make_user
from tests.messages.test_email import deliver, outbox

SAMPLES = {
    "points_expiring": {"points": 1500, "expires_at": "2026-12-31T16:00:00+00:00", "days": 7, "days_left": 5},
    "gift_received": {"points": 300, "sender_name": "林", "note": "生日快乐"},
    "family_invitation": {"family": "林家", "inviter_name": "林", "expires_at": "2026-12-31T16:00:00+00:00"},
    "order_fulfilled": {"order_id": 7, "merchant_zh": "绿林超市", "merchant_en": "Lvlin Market"},
    "order_cancelled": {"order_id": 7, "points_returned": 1000, "compensation": 100, "merchant_zh": "绿林超市",
                        "merchant_en": "Lvlin Market", "by": "merchant"},
    "order_refunded": {"order_id": 7, "points": 500, "merchant_zh": "绿林超市", "merchant_en": "Lvlin Market"},
    "voucher_expiring": {"order_id": 7, "title_zh": "有机蔬菜券", "title_en": "Organic vegetables voucher",
                         "expires_at": "2026-12-31T16:00:00+00:00"},
    "donation_receipt": {"points": 200, "receipt": "R2026-000123", "project_zh": "种树", "project_en": "Plant trees"},
    "pledge_collected": {"points": 100, "month": "2026-12", "project_zh": "种树", "project_en": "Plant trees"},
    "pledge_skipped": {"month": "2026-12", "reason": "frozen", "project_zh": "种树", "project_en": "Plant trees"},
    "fraud_case_opened": {"case_id": 3},
    "fraud_case_resolved": {"case_id": 3, "outcome": "reversed"},
    "birthday": {"name": "林"},
    "bill_code": {"code": "123456", "points": 1200, "points_fen": 1200, "expires_at": "2026-12-31T16:05:00+00:00",
                  "merchant_zh": "绿林超市", "merchant_en": "Lvlin Market"},
    "email_confirm": {"email": "lin@example.com", "url": "http://mall.test/messages/confirm/abc"},
    "merchant_application": {"outcome": "needs_info", "reason": "请补充营业执照", "name_zh": "青禾零废弃商店",
                             "name_en": "Qinghe Zero Waste"},
    "staff_invitation": {"role": "cashier", "merchant_zh": "绿林超市", "merchant_en": "Lvlin Market"},
}
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.mark.parametrize("topic", sorted(COMPOSERS))
def test_every_topic_reads_in_both_languages_with_absolute_links(app, topic):
    assert set(COMPOSERS) == set(TOPICS) == set(SAMPLES)
    with app.app_context():
        rendered = {}
        for locale in ("zh_Hans_CN", "en"):
            row = OutboxMessage(id=1, topic=topic, channel="email", user_id=1, locale=locale, data=SAMPLES[topic])
            rendered[locale] = delivery.render(row)
    zh_text, zh_html, zh_subject, _ = rendered["zh_Hans_CN"]
    en_text, en_html, en_subject, unsubscribe = rendered["en"]
    english = en_subject + en_text
    for value in SAMPLES[topic].values():  # names the sample gives in Chinese may stand in English text
        english = english.replace(str(value), "")
    assert CJK.search(zh_subject) and zh_subject != en_subject and not CJK.search(english)
    assert "%(" not in zh_text + en_text  # every placeholder filled
    for text in (zh_text, en_text):
        for url in re.findall(r"https?://\S+", text):
            assert url.startswith("http://mall.test/"), url
    assert 'lang="zh-CN"' in zh_html and 'lang="en"' in en_html
    assert (unsubscribe is None) == TOPICS[topic].transactional


def kinds(app, user_id):
    with app.app_context():
        return sorted(db.session.scalars(select(Notification.kind).where(Notification.user_id == user_id)))


def topics_queued(app, user_id, channel="email"):
    return sorted(r.topic for r in outbox(app, user_id=user_id, channel=channel))


def test_orders_fulfilled_cancelled_and_refunded_reach_the_member(app, people, smtp, runner):
    member = people.confirm(people.member("m@example.com", 9000))
    towel = people.listing(points_price=1000, stock=9)
    orders = [checkout_as(app, member, [checkout.LineRequest(towel, quantity=2)], token=t)[0][0] for t in "abc"]
    with app.app_context(), write(db.session):
        shop = db.session.get(Merchant, people.merchant_id)
        merchant_side.fulfil(db.session, shop, orders[0])
        merchant_side.cancel_order(db.session, shop, orders[1], "sold out")
        order = merchant_side.get_merchant_order(db.session, shop, orders[2])
        merchant_side.refund_lines(db.session, order, {order.lines[0].id: 1}, key="one")
        merchant_side.refund_lines(db.session, order, {order.lines[0].id: 1}, key="two")  # the rest: news again
    assert topics_queued(app, member) == ["order_cancelled", "order_fulfilled", "order_refunded", "order_refunded"]
    assert kinds(app, member) == ["msg:order_cancelled", "msg:order_fulfilled", "msg:order_refunded",
                                  "msg:order_refunded"]
    deliver(runner)
    subjects = sorted(m["Subject"] for m in smtp.to("m@example.com"))
    assert len(subjects) == 4 and all(str(orders[0]) in s or str(orders[1]) in s or str(orders[2]) in s
                                      for s in subjects)


def test_vouchers_about_to_expire_birthdays_and_invitations(app, people, smtp, runner, monkeypatch):
    member = people.confirm(people.member("m@example.com", 9000))
    coupon = people.listing(kind="coupon", category="grocery", coupon_valid_days=5, points_price=100, stock=5)
    checkout_as(app, member, [checkout.LineRequest(coupon)], token="v")
    with app.app_context(), write(db.session):
        db.session.get(User, member).birthday = date(1990, 1, 1)
        db.session.get(User, member).birthday = (utcnow() + timedelta(hours=8)).date().replace(year=1990)
    assert runner.invoke(args=["messages", "remind"]).exit_code == 0
    assert runner.invoke(args=["messages", "remind"]).exit_code == 0  # once a voucher, once a year
    assert topics_queued(app, member) == ["birthday", "voucher_expiring"]
    head = people.member("head@example.com", 0)
    people.family_of(head, member)
    assert "family_invitation" in topics_queued(app, member)
    deliver(runner)
    assert len(smtp.to("m@example.com")) == 3


def test_donations_pledges_and_fraud_cases_reach_the_member(app, people, smtp, runner):
    operator = people.operator_id = make_user(app, "op@example.com", role="operator")
    member = people.confirm(people.member("m@example.com", 0))
    earned = people.earn(member, 1000)
    project = people.project()
    people.donate(member, project, 200, token="gift-1")
    with app.app_context(), write(db.session):
        pledge = charity.pledge_monthly(db.session, db.session.get(User, member), project, 300, anonymous=False).id
    with app.app_context(), write(db.session):
        charity.collect_pledge(db.session, pledge, "2026-11")
    with app.app_context(), write(db.session):
        case = fraud.open_case(db.session, db.session.get(User, operator), member, "Receipts reused.",
                               transfer_ids=[earned], private_root=app.config["PRIVATE_ROOT"]).id
    with app.app_context(), write(db.session):
        fraud.resolve(db.session, db.session.get(User, operator), case, "upheld", "Fine after all.")
    # a collected pledge is in the mall only by default; a receipt, reviews by e-mail too
    assert topics_queued(app, member) == ["donation_receipt", "fraud_case_opened", "fraud_case_resolved"]
    assert "msg:donation_receipt" in kinds(app, member) and "msg:pledge_collected" in kinds(app, member)
    deliver(runner)
    subjects = sorted(m["Subject"] for m in smtp.to("m@example.com"))
    assert len(subjects) == 3 and any("200" in s for s in subjects) and any(str(case) in s for s in subjects)


def test_the_header_counts_unread_notices(app, people, client):
    from tests.builders import Auth

    lin, mei = people.member("lin@example.com", 5000, name="Lin"), people.member("mei@example.com", 0)
    people.family_of(lin, mei)
    Auth(client).login("mei@example.com")
    people.gift(lin, mei, 100, token="x")
    people.gift(lin, mei, 200, token="y")
    page = client.get("/catalog").get_data(as_text=True)
    count = re.search(r'id="unread-count">(\d+)<', page)
    assert count and int(count.group(1)) == len(kinds(app, mei))
    listing = client.get("/account/notifications").get_data(as_text=True)
    assert "Lin gave you 200 points." in listing and "Lin gave you 100 points." in listing
    with app.app_context(), write(db.session):
        accounts.mark_read(db.session, db.session.get(User, mei))
    assert 'id="unread-count"' not in client.get("/catalog").get_data(as_text=True)


def test_export_holds_preferences_and_messages_and_deletion_erases_them(app, people, smtp, runner):
    lin, mei = people.member("lin@example.com", 5000, name="Lin"), people.member("mei@example.com", 0)
    people.family_of(lin, mei)
    people.confirm(mei)
    with app.app_context(), write(db.session):
        from mall.messages import service as messages

        messages.unsubscribe(db.session, mei, "birthday")
    people.gift(lin, mei, 300, note="茶")
    deliver(runner)
    with app.app_context():
        data = json.loads(zipfile.ZipFile(io.BytesIO(privacy.export_zip(db.session, db.session.get(User, mei))))
                          .read("data.json"))
    assert [(p["topic"], p["channel"], p["enabled"]) for p in data["message_preference"]] == [
        ("birthday", "email", False)]
    assert data["message_profile"][0]["verified_email"] == "mei@example.com"
    assert [(m["topic"], m["status"], m["data"]["note"]) for m in data["outbox_message"]] == [
        ("gift_received", "sent", "茶")]
    with app.app_context(), write(db.session):
        privacy.delete_account(db.session, db.session.get(User, mei), PASSWORD)
    with app.app_context():
        for model in (OutboxMessage, MessagePreference, MessageProfile):
            assert db.session.scalar(select(func.count()).select_from(model).where(model.user_id == mei)) == 0

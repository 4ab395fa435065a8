"""E-mail, end to end: a change commits its message with it, the worker sends it over real SMTP in the
member's language, with a one-click unsubscribe that works without signing in and cannot be forged."""
import re
from datetime import datetime, timezone

from sqlalchemy import func, select

from mall.account.models import Notification
from mall.db import write
from mall.extensions import db
from mall.messages import tokens
from mall.messages.models import MessagePreference, OutboxMessage
from tests.builders import Auth, at, csrf_token
from tests.messages.conftest import no_quiet_hours


def deliver(runner):
    result = runner.invoke(args=["worker", "--burst"])
    assert result.exit_code == 0, result.output
    return result.output


def outbox(app, **where):
    with app.app_context():
        stmt = select(OutboxMessage).order_by(OutboxMessage.id)
        for key, value in where.items():
            stmt = stmt.where(getattr(OutboxMessage, key) == value)
        rows = db.session.scalars(stmt).all()
        db.session.expunge_all()
        return rows


def test_a_gift_reaches_the_recipient_by_email_in_their_language_with_sender_amount_and_note(
        app, people, smtp, runner):
    lin, mei = people.member("lin@example.com", 5000, name="林"), people.member("mei@example.com", 0, name="Mei")
    people.family_of(lin, mei)
    people.confirm(mei)
    people.set_locale(mei, "en")
    people.gift(lin, mei, 1200, note="For the tea set")
    assert smtp.messages == []  # queued, not sent, until the worker runs
    deliver(runner)
    [mail] = smtp.to("mei@example.com")
    assert mail["Subject"] == "A gift of 1,200 points from 林"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "林 gave you 1,200 points." in text and "For the tea set" in text
    assert "林 gave you 1,200 points." in html and 'lang="en"' in html
    assert mail["Message-ID"].startswith("<outbox-") and mail["Auto-Submitted"] == "auto-generated"
    unsubscribe = "".join(str(mail["List-Unsubscribe"]).split()).strip("<>")
    assert unsubscribe.startswith("http://mall.test/messages/unsubscribe/") and unsubscribe in html
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    [row] = outbox(app, channel="email")
    assert row.status == "sent" and row.attempts == 1 and row.provider_ref == mail["Message-ID"]
    deliver(runner)  # nothing due any more: nothing sent twice
    assert len(smtp.messages) == 1
    with app.app_context():  # the in-app notice too, in the recipient's list
        kinds = db.session.scalars(select(Notification.kind).where(Notification.user_id == mei)).all()
        assert sorted(kinds) == ["msg:family_invitation", "msg:gift_received"]


def test_a_chinese_reader_gets_chinese(app, people, smtp, runner):
    lin, mei = people.member("lin@example.com", 5000, name="Lin"), people.member("mei@example.com", 0)
    people.family_of(lin, mei)
    people.confirm(mei)
    people.gift(lin, mei, 300)
    deliver(runner)
    [mail] = smtp.to("mei@example.com")
    text = mail.get_body(("plain",)).get_content()
    assert "Lin" in mail["Subject"] and "300" in mail["Subject"] and "gift" not in mail["Subject"].lower()
    assert re.search(r"[\u4e00-\u9fff]", text) and "gave you" not in text


def test_no_email_to_an_address_not_confirmed_and_the_confirmation_link_confirms_it(app, people, smtp, runner, client):
    lin, mei = people.member("lin@example.com", 5000, name="Lin"), people.member("mei@example.com", 0)
    people.family_of(lin, mei)
    people.gift(lin, mei, 300, token="before")
    assert outbox(app, channel="email") == []  # not even queued
    Auth(client).login("mei@example.com")
    page = client.get("/account/messages").get_data(as_text=True)
    assert "Confirm mei@example.com to receive e-mails" in page
    answer = client.post("/account/messages/confirm-email", data={"csrf_token": csrf_token(client, "/account/messages")})
    assert answer.status_code == 303
    deliver(runner)
    [mail] = smtp.to("mei@example.com")
    assert mail["List-Unsubscribe"] is None  # a confirmation is not a subscription
    link = re.search(r"https?://[^/\s]+(/messages/confirm/\S+)", mail.get_body(("plain",)).get_content()).group(1)
    assert client.get(link[:-3] + "xyz").status_code == 400  # a damaged link confirms nothing
    assert "Confirm mei@example.com" in client.get("/account/messages").get_data(as_text=True)
    assert client.get(link).status_code == 200
    assert "mei@example.com is confirmed" in client.get("/account/messages").get_data(as_text=True)
    no_quiet_hours(app, mei)  # the gift goes out now, whatever the hour the test runs at
    people.gift(lin, mei, 400, token="after")
    deliver(runner)
    assert len(smtp.to("mei@example.com")) == 2


def test_a_change_that_rolls_back_queues_and_sends_nothing(app, people, smtp, runner):
    lin, mei = people.member("lin@example.com", 5000, name="Lin"), people.member("mei@example.com", 0)
    people.family_of(lin, mei)
    people.confirm(mei)
    from mall.account.models import User
    from mall.family import service as family

    class Boom(Exception):
        pass

    try:
        with app.app_context(), write(db.session):
            family.gift_points(db.session, db.session.get(User, lin), people.code(mei), 500, "rolled")
            raise Boom()  # whatever fails after the gift in the same transaction
    except Boom:
        pass
    assert outbox(app) == []
    with app.app_context():
        assert db.session.scalar(select(func.count(Notification.id)).where(
            Notification.user_id == mei, Notification.kind == "msg:gift_received")) == 0
    deliver(runner)
    assert smtp.messages == [] and people.balance(mei) == 0


def test_quiet_hours_hold_email_until_morning_in_shanghai(app, people, smtp, runner, monkeypatch):
    lin, mei = people.member("lin@example.com", 5000, name="Lin"), people.member("mei@example.com", 0)
    people.family_of(lin, mei)
    people.confirm(mei, quiet_hours=True)  # 22:00–08:00 Beijing time
    night = at(2026, 12, 10, 15, 30)  # 23:30 in Shanghai
    monkeypatch.setattr("mall.messages.service.utcnow", lambda: night)
    monkeypatch.setattr("mall.messages.delivery.utcnow", lambda: night)
    people.gift(lin, mei, 300, now=night)
    [row] = outbox(app, channel="email")
    assert row.next_attempt_at == datetime(2026, 12, 11, 0, 0, tzinfo=timezone.utc)  # 08:00 in Shanghai
    deliver(runner)
    assert smtp.messages == []
    early = at(2026, 12, 10, 23, 59)  # 07:59
    monkeypatch.setattr("mall.messages.delivery.utcnow", lambda: early)
    deliver(runner)
    assert smtp.messages == []
    morning = at(2026, 12, 11, 0, 1)
    monkeypatch.setattr("mall.messages.delivery.utcnow", lambda: morning)
    deliver(runner)
    assert len(smtp.to("mei@example.com")) == 1


def test_quiet_hours_seen_again_at_delivery_defer_without_counting_an_attempt(app, people, smtp, runner, monkeypatch):
    lin, mei = people.member("lin@example.com", 5000, name="Lin"), people.member("mei@example.com", 0)
    people.family_of(lin, mei)
    people.confirm(mei, quiet_hours=True)
    evening = at(2026, 12, 10, 13, 0)  # 21:00: not yet quiet when queued
    monkeypatch.setattr("mall.messages.service.utcnow", lambda: evening)
    people.gift(lin, mei, 300, now=evening)
    late = at(2026, 12, 10, 14, 30)  # 22:30: quiet by the time a worker gets to it
    monkeypatch.setattr("mall.messages.delivery.utcnow", lambda: late)
    deliver(runner)
    [row] = outbox(app, channel="email")
    assert smtp.messages == [] and row.status == "pending" and row.attempts == 0
    assert row.next_attempt_at == datetime(2026, 12, 11, 0, 0, tzinfo=timezone.utc)


def test_unsubscribe_works_without_signing_in_in_one_click_and_cannot_be_forged(app, people, smtp, runner):
    lin, mei = people.member("lin@example.com", 5000, name="Lin"), people.member("mei@example.com", 0)
    people.family_of(lin, mei)
    people.confirm(mei)
    people.confirm(lin)
    people.gift(lin, mei, 300, token="one")
    deliver(runner)
    [mail] = smtp.to("mei@example.com")
    link = "".join(str(mail["List-Unsubscribe"]).split()).strip("<>").replace("http://mall.test", "")
    visitor = app.test_client()
    visitor.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    with app.test_request_context():
        forged = [tokens.unsubscribe_token(mei, "gift_received")[:-2] + "xx",  # tampered
                  link.rsplit("/", 1)[1].replace(".", "", 1)]
    for token in forged:
        assert visitor.post(f"/messages/unsubscribe/{token}", data="List-Unsubscribe=One-Click").status_code == 400
    # another member's link is not this one's: Lin's choices stay as they are
    page = visitor.get(link)
    assert page.status_code == 200 and "Gifts of points" in page.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(MessagePreference.id))) == 0  # GET changes nothing
    done = visitor.post(link, data="List-Unsubscribe=One-Click",
                        content_type="application/x-www-form-urlencoded")
    assert done.status_code == 200 and "no more e-mails" in done.get_data(as_text=True)
    with app.app_context():
        rows = db.session.scalars(select(MessagePreference)).all()
        assert [(r.user_id, r.topic, r.channel, r.enabled) for r in rows] == [(mei, "gift_received", "email", False)]
    people.gift(lin, mei, 400, token="two")
    people.gift(mei, lin, 100, token="back")  # Lin still gets theirs
    deliver(runner)
    assert len(smtp.to("mei@example.com")) == 1 and len(smtp.to("lin@example.com")) == 1
    with app.app_context():  # the in-app notice still comes
        assert db.session.scalar(select(func.count(Notification.id)).where(Notification.user_id == mei)) >= 2


def test_preferences_page_turns_a_channel_off_and_sets_quiet_hours(app, people, smtp, runner, client):
    lin, mei = people.member("lin@example.com", 5000, name="Lin"), people.member("mei@example.com", 0)
    people.family_of(lin, mei)
    people.confirm(mei)
    Auth(client).login("mei@example.com")
    page = client.get("/account/messages").get_data(as_text=True)
    assert 'name="gift_received:email"' in page and 'id="gift_received-email" aria-label="Gifts of points · E-mail" checked' in page
    token = csrf_token(client, "/account/messages")
    form = {"csrf_token": token, "gift_received:inapp": "on", "points_expiring:email": "on", "quiet_start": "23",
            "quiet_end": "7", "quiet_hours": "y", "language": "en"}
    assert client.post("/account/messages", data=form).status_code == 303
    with app.app_context():
        from mall.account.models import User

        assert db.session.get(User, mei).locale == "en"  # the language messages are written in
    page = client.get("/account/messages").get_data(as_text=True)
    assert 'id="gift_received-email" aria-label="Gifts of points · E-mail">' in page
    assert 'value="23"' in page and 'value="7"' in page
    people.gift(lin, mei, 300)
    assert outbox(app, channel="email") == []
    bad = client.post("/account/messages", data={**form, "quiet_start": "25"})
    assert bad.status_code == 422 and "Number must be between 0 and 23" in bad.get_data(as_text=True)


def test_a_refused_smtp_delivery_is_retried_then_dead_lettered_and_the_console_retries_it(
        app, people, smtp, runner, operator_client):
    lin, mei = people.member("lin@example.com", 5000, name="Lin"), people.member("mei@example.com", 0)
    people.family_of(lin, mei)
    people.confirm(mei)
    app.config["MESSAGES_MAX_ATTEMPTS"] = 3
    smtp.refuse = True
    people.gift(lin, mei, 300)
    for _ in range(3):
        deliver(runner)
    [row] = outbox(app, channel="email")
    assert row.status == "dead" and row.attempts == 3 and "451" in row.last_error
    deliver(runner)
    assert outbox(app, channel="email")[0].attempts == 3  # dead is dead
    page = operator_client.get("/admin/messages").get_data(as_text=True)
    assert f'id="dead-{row.id}"' in page and "mei@example.com" in page
    assert re.search(r'id="metric-dead">1<', page) and re.search(r'id="metric-failed">3<', page)
    smtp.refuse = False
    token = csrf_token(operator_client, "/admin/messages")
    assert operator_client.post(f"/admin/messages/{row.id}/retry", data={"csrf_token": token}).status_code == 303
    deliver(runner)
    assert len(smtp.to("mei@example.com")) == 1 and outbox(app, channel="email")[0].status == "sent"
    again = operator_client.post(f"/admin/messages/{row.id}/retry", data={"csrf_token": token}, follow_redirects=True)
    assert "no longer in the dead-letter list" in again.get_data(as_text=True)
    assert re.search(r'id="metric-sent">1<', operator_client.get("/admin/messages").get_data(as_text=True))

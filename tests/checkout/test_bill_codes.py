"""A till bill's one-time code cannot be guessed: tries are counted and void the request, the code
expires quickly, a merchant keeps few requests waiting per member, malformed codes are refused
cleanly, and confirmations are rate-limited per caller and per member (issue 14)."""
import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from mall import create_app
from mall.account.models import Notification, User
from mall.api import service as api_service
from mall.checkout import bills as bill_service
from mall.checkout.models import BillPayment
from mall.db import write
from mall.extensions import db
from mall.coalition.models import Merchant
from mall.models import utcnow
from tests.builders import Auth, csrf_token, make_merchant, make_user

FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def api_key(app, merchant_id):
    with app.app_context(), write(db.session):
        secret = api_service.create_key(db.session, db.session.get(Merchant, merchant_id))[1]
    return {"Authorization": f"Bearer {secret}"}


class Till:
    """A merchant's API door to the bill payments, with fresh idempotency keys."""

    def __init__(self, app, client, merchant_id):
        self.app, self.client, self.merchant_id = app, client, merchant_id
        self.headers = api_key(app, merchant_id)
        self.sent = 0

    def post(self, path, body):
        self.sent += 1
        return self.client.post(path, data=json.dumps(body), content_type="application/json",
                                headers={**self.headers, "Idempotency-Key": f"k{self.sent}"})

    def request(self, member_id, bill_fen=10000):
        with self.app.app_context():
            code = db.session.get(User, member_id).member_code
        return self.post("/api/v1/bill-payments", {"member_code": code, "bill_fen": bill_fen})

    def confirm(self, bill_id, code):
        return self.post(f"/api/v1/bill-payments/{bill_id}/confirm", {"code": code})

    def guess(self, bill_id):
        """A wrong code (a right one would pay)."""
        return self.confirm(bill_id, wrong_for(self.app, bill_id))


@pytest.fixture
def till(app, client, world):
    return Till(app, client, world.merchant_id)


def bill_row(app, bill_id) -> BillPayment:
    with app.app_context():
        bill = db.session.get(BillPayment, bill_id)
        db.session.expunge(bill)
        return bill


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def wrong_for(app, bill_id) -> str:
    with app.app_context():
        return wrong(db.session.get(BillPayment, bill_id).one_time_code)


def notifications_of(app, member_id):
    with app.app_context():
        return db.session.scalars(select(Notification).where(Notification.user_id == member_id)).all()


def test_the_last_allowed_wrong_try_voids_the_request_and_tells_the_member(app, client, world, till):
    member = world.member("guessed@example.com", points=15400)
    bill = till.request(member).get_json()
    code = bill_row(app, bill["id"]).one_time_code

    answers = [till.confirm(bill["id"], wrong(code)) for _ in range(5)]
    assert [a.status_code for a in answers] == [422, 422, 422, 422, 409]
    assert [a.get_json().get("attempts_left") for a in answers[:4]] == [4, 3, 2, 1]
    assert {a.get_json()["type"] for a in answers[:4]} == {"/api/v1/problems/wrong-code"}
    assert answers[4].get_json()["type"] == "/api/v1/problems/voided"

    right = till.confirm(bill["id"], code)  # the right code no longer works
    assert right.status_code == 409 and right.get_json()["type"] == "/api/v1/problems/voided"
    assert "void" in right.get_json()["detail"]
    row = bill_row(app, bill["id"])
    assert (row.status, row.code_attempts, row.transfer_id) == ("voided", 5, None)
    assert till.client.get(f"/api/v1/bill-payments/{bill['id']}", headers=till.headers).get_json()["status"] == "voided"
    assert world.balance(member) == 15400

    assert [(n.kind, n.data["bill_id"]) for n in notifications_of(app, member)] == [("bill_voided", bill["id"])]
    Auth(client).login("guessed@example.com")
    page = client.get("/account/notifications").get_data(as_text=True)
    assert "typed wrong too many times" in page and "No points were taken" in page and "shop shop" in page
    world.verify()


def test_wrong_tries_are_counted_even_though_refused_and_the_right_code_still_pays_within_the_limit(
        app, world, till):
    member = world.member(points=20000)
    bill = till.request(member).get_json()
    code = bill_row(app, bill["id"]).one_time_code
    for _ in range(4):
        assert till.confirm(bill["id"], wrong(code)).status_code == 422
    assert bill_row(app, bill["id"]).code_attempts == 4  # committed, not rolled back with the refusal
    done = till.confirm(bill["id"], code)
    assert done.status_code == 200 and done.get_json()["status"] == "approved"
    assert world.balance(member) == 20000 - 5000
    assert notifications_of(app, member) == []
    world.verify()


def test_the_right_code_for_a_member_without_points_is_a_conflict_and_the_request_stays_open(app, world, till):
    member = world.member("spent@example.com", points=0)
    bill = till.request(member).get_json()
    answer = till.confirm(bill["id"], bill_row(app, bill["id"]).one_time_code)
    assert answer.status_code == 409 and answer.get_json()["type"] == "/api/v1/problems/insufficient-points"
    assert bill_row(app, bill["id"]).status == "pending"
    world.verify()


def test_a_replayed_wrong_try_is_not_counted_twice(app, world, till):
    member = world.member(points=5000)
    bill = till.request(member).get_json()
    code = bill_row(app, bill["id"]).one_time_code
    body = json.dumps({"code": wrong(code)})
    headers = {**till.headers, "Idempotency-Key": "same"}
    path = f"/api/v1/bill-payments/{bill['id']}/confirm"
    first = till.client.post(path, data=body, content_type="application/json", headers=headers)
    again = till.client.post(path, data=body, content_type="application/json", headers=headers)
    assert first.status_code == again.status_code == 422
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert bill_row(app, bill["id"]).code_attempts == 1


def test_a_code_is_valid_for_five_minutes_and_refused_once_expired_even_if_right(app, world, till):
    member = world.member(points=8000)
    before = utcnow()
    bill = till.request(member).get_json()
    row = bill_row(app, bill["id"])
    assert timedelta(minutes=5) <= row.expires_at - before <= timedelta(minutes=5, seconds=30)

    with app.app_context(), write(db.session):
        db.session.execute(update(BillPayment).where(BillPayment.id == bill["id"])
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
    late = till.confirm(bill["id"], row.one_time_code)
    assert late.status_code == 422 and late.get_json()["type"] == "/api/v1/problems/expired"
    assert bill_row(app, bill["id"]).status == "expired"  # recorded, although the request was refused
    assert world.balance(member) == 8000


def test_a_merchant_keeps_at_most_three_requests_waiting_for_one_member(app, client, world, till):
    member = world.member("busy@example.com", points=9000)
    ids = [till.request(member).get_json()["id"] for _ in range(3)]
    fourth = till.request(member)
    assert fourth.status_code == 409
    assert fourth.get_json()["type"] == "/api/v1/problems/too-many-pending"
    assert "3 requests from you waiting" in fourth.get_json()["detail"]

    other = Till(app, client, make_merchant(app, "other"))
    assert other.request(member).status_code == 201  # another merchant's requests are its own
    assert till.request(world.member("calm@example.com", points=0)).status_code == 201  # another member

    with app.app_context(), write(db.session):  # one of the three runs out: room for a new one
        db.session.execute(update(BillPayment).where(BillPayment.id == ids[0])
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
    assert till.request(member).status_code == 201
    assert till.request(member).status_code == 409


def test_a_new_code_may_repeat_a_decided_requests_code_but_never_a_pending_one(app, world, till, monkeypatch):
    member = world.member(points=5000)
    first = till.request(member).get_json()["id"]
    with app.app_context(), write(db.session):
        bill_service.decline(db.session, db.session.get(BillPayment, first))
    old = int(bill_row(app, first).one_time_code)
    draws = iter([old, old, (old + 1) % 10**6])  # the random source, drawn in order
    monkeypatch.setattr(bill_service.secrets, "randbelow", lambda _n: next(draws))
    again = till.request(member)
    assert again.status_code == 201, again.get_data(as_text=True)
    assert bill_row(app, again.get_json()["id"]).one_time_code == f"{old:06d}"
    third = till.request(member).get_json()["id"]
    assert bill_row(app, third).one_time_code == f"{(old + 1) % 10**6:06d}"  # not the pending one's


@pytest.mark.parametrize("typed", ["１２３４５６", "öÀ1234", "12345", "1234567", "+12345", "", 123456, None])
def test_anything_but_six_ascii_digits_is_a_clear_422_on_the_api(app, world, till, typed):
    member = world.member(points=5000)
    bill = till.request(member).get_json()
    answer = till.confirm(bill["id"], typed)
    assert answer.status_code == 422, answer.get_data(as_text=True)
    problem = answer.get_json()
    assert problem["type"] == "/api/v1/problems/invalid-code" and "6 digits" in problem["detail"]
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert bill_row(app, bill["id"]).code_attempts == 1


def test_the_right_code_in_full_width_digits_is_refused(app, world, till):
    member = world.member(points=5000)
    bill = till.request(member).get_json()
    code = bill_row(app, bill["id"]).one_time_code
    answer = till.confirm(bill["id"], code.translate(FULL_WIDTH))
    assert answer.status_code == 422 and answer.get_json()["type"] == "/api/v1/problems/invalid-code"
    assert world.balance(member) == 5000


@pytest.fixture
def staff(app, world):
    make_user(app, "cashier@example.com", role="merchant", merchant_id=world.merchant_id)
    return "cashier@example.com"


def confirm_in_back_office(client, bill_id, code):
    return client.post(f"/merchant/bills/{bill_id}/confirm",
                       data={"csrf_token": csrf_token(client, "/merchant/bills"), "code": code})


@pytest.mark.parametrize("typed", ["１２３４５６", "öÀ1234", "12 34", ""])
def test_malformed_codes_are_a_clear_422_in_the_back_office(app, client, world, till, staff, typed):
    member = world.member(points=5000)
    bill = till.request(member).get_json()
    Auth(client).login(staff)
    answer = confirm_in_back_office(client, bill["id"], typed)
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert "The one-time code is 6 digits from 0 to 9. Tries left before the request is void: 4." in page
    assert "<h1>Points at the till</h1>" in page
    assert bill_row(app, bill["id"]).status == "pending"


def test_a_code_with_control_characters_is_a_422_in_the_back_office_too(app, client, world, till, staff):
    bill = till.request(world.member(points=5000)).get_json()
    Auth(client).login(staff)
    answer = confirm_in_back_office(client, bill["id"], "12345\n6")
    assert answer.status_code == 422 and "control characters" in answer.get_data(as_text=True)


def test_tries_in_the_back_office_and_the_api_share_one_count(app, client, world, till, staff):
    member = world.member(points=5000)
    bill = till.request(member).get_json()
    code = bill_row(app, bill["id"]).one_time_code
    for _ in range(3):
        assert till.confirm(bill["id"], wrong(code)).status_code == 422
    Auth(client).login(staff)
    assert "Tries left before the request is void: 1." in confirm_in_back_office(
        client, bill["id"], wrong(code)).get_data(as_text=True)
    voided = confirm_in_back_office(client, bill["id"], wrong(code))
    assert voided.status_code == 422 and "now void" in voided.get_data(as_text=True)
    assert "Void (too many wrong codes)" in voided.get_data(as_text=True)
    assert confirm_in_back_office(client, bill["id"], code).status_code == 422
    assert bill_row(app, bill["id"]).status == "voided" and world.balance(member) == 5000


def test_the_back_office_shows_the_rules_of_the_code_in_chinese_by_default(app, world, staff):
    browser = app.test_client()
    Auth(browser).login(staff)
    page = browser.get("/merchant/bills").get_data(as_text=True)
    assert "验证码有效期为 5 分钟；输错 5 次后请求作废并通知会员。" in page


# --- rate limits ------------------------------------------------------------------------------

@pytest.fixture
def limited(app, database_url, tmp_path):
    """The same database, served with the rate limits on (in-process storage: one process here)."""
    def make(**limits):
        limited = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "RATELIMIT_ENABLED": True,
                              "RATELIMIT_STORAGE_URI": "memory://", "MEDIA_ROOT": str(tmp_path / "media"),
                              "PRIVATE_ROOT": str(tmp_path / "private"), **limits})
        made.append(limited)
        return limited
    made = []
    yield make
    for one in made:
        with one.app_context():
            db.session.remove()
            db.engine.dispose()


def test_confirmations_are_limited_per_api_key_with_a_translated_problem_and_retry_after(app, world, limited):
    served = limited(BILL_CONFIRM_RATE_LIMIT="3 per minute", BILL_MEMBER_CONFIRM_RATE_LIMIT="100 per minute")
    till = Till(app, served.test_client(), world.merchant_id)
    bills = [till.request(world.member(f"m{i}@example.com", points=1000)).get_json()["id"] for i in range(2)]
    assert [till.guess(bills[i % 2]).status_code for i in range(3)] == [422, 422, 422]
    refused = till.guess(bills[1])
    assert refused.status_code == 429
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert int(refused.headers["Retry-After"]) > 0
    problem = refused.get_json()
    assert (problem["status"], problem["type"]) == (429, "/api/v1/problems/too-many-requests")
    assert problem["title"] == "尝试次数过多，请一分钟后再试。"  # Chinese by default
    english = till.client.post(f"/api/v1/bill-payments/{bills[0]}/confirm", data='{"code": "12345"}',
                               content_type="application/json",
                               headers={**till.headers, "Idempotency-Key": "en", "Accept-Language": "en"})
    assert english.status_code == 429 and english.get_json()["title"].startswith("Too many attempts")
    assert sum(bill_row(app, b).code_attempts for b in bills) == 3  # a refused request tries nothing

    other = Till(app, till.client, make_merchant(app, "other"))  # another key has its own allowance
    assert other.guess(bills[0]).status_code == 404


def test_confirmations_are_limited_per_member_over_every_key_and_door(app, world, limited, staff):
    served = limited(BILL_CONFIRM_RATE_LIMIT="100 per minute", BILL_MEMBER_CONFIRM_RATE_LIMIT="3 per minute")
    member, bystander = world.member("target@example.com"), world.member("bystander@example.com")
    till = Till(app, served.test_client(), world.merchant_id)
    other = Till(app, served.test_client(), make_merchant(app, "other"))
    mine, theirs, elsewhere = till.request(member).get_json(), other.request(member).get_json(), till.request(bystander).get_json()

    guess = wrong_for(app, mine["id"])
    assert till.guess(mine["id"]).status_code == 422
    assert other.guess(theirs["id"]).status_code == 422
    browser = served.test_client()
    browser.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    Auth(browser).login(staff)
    assert confirm_in_back_office(browser, mine["id"], guess).status_code == 422
    assert other.guess(theirs["id"]).status_code == 429  # the member's allowance is spent, whoever asks
    page = confirm_in_back_office(browser, mine["id"], guess)
    assert page.status_code == 429 and "Too many attempts" in page.get_data(as_text=True)
    assert till.guess(elsewhere["id"]).status_code == 422  # another member is unaffected
    assert bill_row(app, mine["id"]).code_attempts + bill_row(app, theirs["id"]).code_attempts == 3


def test_confirmations_are_limited_per_staff_user_in_the_back_office(app, world, limited, staff):
    served = limited(BILL_CONFIRM_RATE_LIMIT="2 per minute", BILL_MEMBER_CONFIRM_RATE_LIMIT="100 per minute")
    till = Till(app, served.test_client(), world.merchant_id)
    bills = [till.request(world.member(f"s{i}@example.com")).get_json()["id"] for i in range(3)]
    browser = served.test_client()
    Auth(browser).login(staff)
    assert [confirm_in_back_office(browser, b, wrong_for(app, b)).status_code for b in bills] == [422, 422, 429]

"""A business joins the coalition: it applies with the account that will own it, an operator approves,
refuses or asks for more, the applicant hears the answer, and the approved merchant has its back office
and its public page."""
import re

import pytest
from sqlalchemy import select

from mall.account.models import Notification, User
from mall.coalition import service
from mall.coalition.models import Merchant, MerchantApplication
from mall.extensions import db
from tests.builders import Auth, create_listing, csrf_token, make_merchant, make_user, signed_in_client

VALID = "91350100M000100Y43"


def form(client, **changes):
    data = {"name_zh": "青禾零废弃商店", "name_en": "Qinghe Zero Waste", "category": "refills", "credit_code": VALID,
            "contact_name": "周青禾", "phone": "13800138000", "email": "hello@qinghe.example",
            "address": "杭州市西湖区文三路 90 号", "opening_hours": "每天 09:00–21:00",
            "green_statement": "散装称重，自带容器立减，所有包装可回收或可堆肥。",
            "csrf_token": csrf_token(client, "/merchant/apply")}
    data.update(changes)
    return data


@pytest.fixture
def applicant(app, client):
    make_user(app, "owner@example.com", name="周青禾")
    Auth(client).login("owner@example.com")
    return client


@pytest.fixture
def operator(app):
    make_user(app, "op@example.com", role="operator")
    return signed_in_client(app, "op@example.com")


def review(operator, application_id, action, reason=""):
    token = csrf_token(operator, "/admin/applications")
    return operator.post(f"/admin/applications/{application_id}/{action}", data={"csrf_token": token, "reason": reason})


def the_application(app):
    with app.app_context():
        row = db.session.scalar(select(MerchantApplication))
        db.session.expunge_all()
        return row


@pytest.mark.parametrize("code, ok", [(VALID, True), ("91110000600037341L", True), ("91350100M000100Y44", False),
                                      ("91350100M000100Y4", False), ("91350100I000100Y43", False), ("", False)])
def test_the_credit_code_is_checked_by_its_check_character(code, ok):
    assert service.valid_credit_code(code) is ok


def test_a_business_applies_and_an_operator_approves_it(app, applicant, operator):
    assert applicant.post("/merchant/apply", data=form(applicant)).status_code == 303
    page = applicant.get("/merchant/apply").get_data(as_text=True)
    assert "Waiting for review" in page and "青禾零废弃商店" in page and 'id="send-application"' not in page
    again = applicant.post("/merchant/apply", data=form(applicant))  # a second try while it is reviewed
    assert again.status_code == 422 and "being reviewed" in again.get_data(as_text=True)
    queue = operator.get("/admin/applications").get_data(as_text=True)
    assert "Qinghe Zero Waste" in queue and VALID in queue
    row = the_application(app)
    assert review(operator, row.id, "approve").status_code == 303
    with app.app_context():
        merchant = db.session.scalar(select(Merchant).where(Merchant.credit_code == VALID))
        owner = db.session.scalar(select(User).where(User.email == "owner@example.com"))
        assert merchant.status == "approved" and merchant.slug == "qinghe-zero-waste"
        assert owner.role == "merchant" and owner.merchant_id == merchant.id
        assert db.session.scalar(select(Notification.kind).where(Notification.user_id == owner.id)) == \
            "msg:merchant_application"
    assert applicant.get("/merchant/").status_code == 200  # the back office is theirs now
    assert "Approved" in applicant.get("/merchant/apply").get_data(as_text=True)
    assert "Your application for Qinghe Zero Waste is approved" in applicant.get("/account/notifications").get_data(
        as_text=True)
    assert review(operator, row.id, "approve").status_code == 303  # decided already: refused with a message
    with app.app_context():
        assert db.session.scalar(select(Merchant.id).where(Merchant.credit_code == VALID).limit(2)) is not None
        assert len(db.session.scalars(select(Merchant).where(Merchant.credit_code == VALID)).all()) == 1


def test_bad_input_is_refused_with_a_clear_message_and_nothing_is_saved(app, applicant):
    for changes, message in (({"credit_code": "91350100M000100Y44"}, "not valid: check its 18 characters"),
                             ({"credit_code": "1234"}, "18 characters"),
                             ({"email": "not-an-address"}, "Invalid email address"),
                             ({"phone": "call me"}, "Digits only"),
                             ({"green_statement": "green"}, "between 20 and 1000"),
                             ({"name_zh": ""}, "This field is required")):
        answer = applicant.post("/merchant/apply", data=form(applicant, **changes))
        assert answer.status_code == 422 and message in answer.get_data(as_text=True), changes
    assert the_application(app) is None


def test_asked_for_more_the_applicant_sends_it_again_and_a_refusal_says_why(app, applicant, operator, smtp):
    from tests.messages.conftest import no_quiet_hours

    with app.app_context():  # the answers go out at once, not at 08:00, whatever the hour the test runs at
        no_quiet_hours(app, db.session.scalar(select(User.id).where(User.email == "owner@example.com")))
    applicant.post("/merchant/apply", data=form(applicant))
    row = the_application(app)
    review(operator, row.id, "ask", "")
    assert the_application(app).status == "pending"  # no reason, no decision
    review(operator, row.id, "ask", "请上传营业执照照片，并写明门店面积。")
    page = applicant.get("/merchant/apply").get_data(as_text=True)
    assert "More information needed" in page and "请上传营业执照照片" in page and 'id="send-application"' in page
    assert applicant.post("/merchant/apply", data=form(applicant, address="杭州市西湖区文三路 92 号")).status_code == 303
    row = the_application(app)
    assert row.status == "pending" and row.address.endswith("92 号") and row.reason == ""
    review(operator, row.id, "refuse", "经营范围与绿色消费无关。")
    assert "经营范围与绿色消费无关" in applicant.get("/merchant/apply").get_data(as_text=True)
    from tests.messages.test_email import deliver

    deliver(app.test_cli_runner())
    subjects = [m["Subject"] for m in smtp.to("owner@example.com")]
    assert len(subjects) == 2  # the applicant is told each answer, confirmed address or not


def test_only_operators_review_and_only_members_apply(app, applicant, client):
    applicant.post("/merchant/apply", data=form(applicant))
    row = the_application(app)
    member = make_user(app, "someone@example.com")
    other = signed_in_client(app, "someone@example.com")
    assert other.get("/admin/applications").status_code == 404
    assert other.post(f"/admin/applications/{row.id}/approve",
                      data={"csrf_token": csrf_token(other, "/account")}).status_code == 404
    assert the_application(app).status == "pending"
    visitor = app.test_client()
    assert visitor.get("/merchant/apply").status_code == 302  # sign in first
    staff = make_user(app, "staff@example.com", role="merchant", merchant_id=make_merchant(app, "shop"))
    answer = signed_in_client(app, "staff@example.com")
    refused = answer.post("/merchant/apply", data=form(answer, credit_code="91110000600037341L"))
    assert refused.status_code == 422 and "member account" in refused.get_data(as_text=True)
    assert member and staff


def test_the_directory_and_a_merchants_page_show_approved_merchants_only(app, client):
    shop = make_merchant(app, "lvlin")
    make_merchant(app, "waiting", status="pending")
    with app.app_context():
        from mall.db import write

        with write(db.session):
            row = db.session.get(Merchant, shop)
            row.address, row.opening_hours, row.green_statement = "上海市徐汇区", "08:00–22:00", "全部门店使用绿电。"
    create_listing(app, shop, title_en="Bamboo toothbrush", title_zh="竹牙刷")
    page = client.get("/merchants").get_data(as_text=True)
    assert "/merchants/lvlin" in page and "/merchants/waiting" not in page
    assert client.get("/merchants?category=nonsense").status_code == 200
    mine = client.get("/merchants/lvlin").get_data(as_text=True)
    assert "全部门店使用绿电。" in mine and "08:00–22:00" in mine and "Bamboo toothbrush" in mine
    assert client.get("/merchants/waiting").status_code == 404
    assert client.get("/merchants/" + "x" * 500).status_code == 404
    listing_page = client.get(re.search(r'href="(/catalog/\d+)"', mine).group(1)).get_data(as_text=True)
    assert 'href="/merchants/lvlin"' in listing_page

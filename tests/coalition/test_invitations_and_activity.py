"""The owner invites a member by member code to the staff; the member accepts or declines in their
account; leaving the staff gives them back a member's account. The owner sees who on the staff did
what. Logos on the application and the merchant's page."""
import io

import pytest
from PIL import Image
from sqlalchemy import select

from mall.account.models import Notification, StaffInvitation, User
from mall.coalition.models import Merchant, MerchantApplication
from mall.extensions import db
from mall.ledger import service as ledger
from tests.builders import Auth, csrf_token, make_merchant, make_user, signed_in_client
from tests.coalition.test_joining import form as application_form
from tests.coalition.test_joining import review


@pytest.fixture
def shop(app):
    merchant_id = make_merchant(app, "lvlin")
    make_user(app, "owner@example.com", role="merchant", merchant_id=merchant_id, name="Owner")
    return merchant_id


@pytest.fixture
def member(app):
    user_id = make_user(app, "li@example.com", name="Li")
    with app.app_context():
        return user_id, db.session.get(User, user_id).member_code


def invite(owner, code, role="cashier"):
    token = csrf_token(owner, "/merchant/staff")
    return owner.post("/merchant/staff/invite", data={"csrf_token": token, "member_code": code, "role": role})


def answer(client, invitation_id, choice):
    token = csrf_token(client, "/account/staff-invitations")
    return client.post("/account/staff-invitations", data={"csrf_token": token, "invitation": invitation_id,
                                                           "answer": choice})


def invitation(app):
    with app.app_context():
        row = db.session.scalar(select(StaffInvitation).order_by(StaffInvitation.id.desc()))
        db.session.expunge_all()
        return row


def test_a_member_invited_by_code_accepts_works_as_cashier_and_leaves_with_their_points(app, shop, member):
    user_id, code = member
    with app.app_context():
        from mall.db import write
        with write(db.session):
            ledger.ensure_system_accounts(db.session)
            ledger.transfer(db.session, ledger.find_account(db.session, "system", 0, "promotions")
                            or ledger.open_account(db.session, "system", 0, "promotions"),
                            ledger.member_account(db.session, user_id), 700, "award", key="seed")
    owner = signed_in_client(app, "owner@example.com")
    assert invite(owner, code.lower()).status_code == 303  # codes are read aloud: any case
    row = invitation(app)
    assert (row.status, row.role, row.member_id) == ("pending", "cashier", user_id)
    again = invite(owner, code)
    assert again.status_code == 422 and "already has an invitation" in again.get_data(as_text=True)
    li = signed_in_client(app, "li@example.com")
    with app.app_context():
        assert db.session.scalar(select(Notification.kind).where(Notification.user_id == user_id)) == \
            "msg:staff_invitation"
    page = li.get("/account/staff-invitations").get_data(as_text=True)
    assert "lvlin shop" in page and "Cashier" in page
    accepted = answer(li, row.id, "accept")
    assert accepted.status_code == 303 and accepted.headers["Location"].endswith("/merchant/")
    assert li.get("/merchant/purchases/new").status_code == 200 and li.get("/merchant/listings").status_code == 404
    staff_page = owner.get("/merchant/staff").get_data(as_text=True)
    assert "Li" in staff_page and "Joined the staff" in staff_page
    with app.app_context():
        assert ledger.member_balance(db.session, user_id) == 700
    token = csrf_token(owner, "/merchant/staff")
    assert owner.post(f"/merchant/staff/{user_id}/remove", data={"csrf_token": token, "role": "cashier"}).status_code == 303
    assert li.get("/merchant/").status_code in (302, 401, 404)  # signed out everywhere
    back = signed_in_client(app, "li@example.com")  # the member's own password still works
    assert back.get("/merchant/").status_code == 404 and back.get("/account").status_code == 200
    with app.app_context():
        user = db.session.get(User, user_id)
        assert (user.role, user.merchant_id, ledger.member_balance(db.session, user_id)) == ("member", None, 700)
    assert invitation(app).status == "ended"


def test_invitations_are_answered_only_by_the_member_invited_and_sent_only_by_owners(app, shop, member):
    user_id, code = member
    owner = signed_in_client(app, "owner@example.com")
    unknown = invite(owner, "ZZZZZZZZ")
    assert unknown.status_code == 422 and "No member has this code." in unknown.get_data(as_text=True)
    bad_role = invite(owner, code, role="owner")
    assert bad_role.status_code == 422
    assert invite(owner, code).status_code == 303
    row = invitation(app)
    make_user(app, "stranger@example.com")
    stranger = signed_in_client(app, "stranger@example.com")
    assert answer(stranger, row.id, "accept").status_code == 404
    assert invitation(app).status == "pending"
    rival = make_merchant(app, "rival")
    make_user(app, "rival@example.com", role="merchant", merchant_id=rival)
    other = signed_in_client(app, "rival@example.com")
    token = csrf_token(other, "/merchant/staff")
    assert other.post(f"/merchant/staff/invitations/{row.id}/withdraw", data={"csrf_token": token}).status_code == 404
    assert invitation(app).status == "pending"
    token = csrf_token(owner, "/merchant/staff")
    assert owner.post(f"/merchant/staff/invitations/{row.id}/withdraw", data={"csrf_token": token}).status_code == 303
    li = signed_in_client(app, "li@example.com")
    assert "No invitations are waiting" in li.get("/account/staff-invitations").get_data(as_text=True)
    late = answer(li, row.id, "accept")
    assert late.status_code == 303
    assert "answered already" in li.get("/account/staff-invitations").get_data(as_text=True)
    with app.app_context():
        assert db.session.get(User, user_id).role == "member"
    assert invite(owner, code).status_code == 303
    assert answer(li, invitation(app).id, "decline").status_code == 303
    assert invitation(app).status == "declined"


def test_the_owner_sees_who_did_what_and_only_for_their_merchant(app, shop):
    owner = signed_in_client(app, "owner@example.com")
    token = csrf_token(owner, "/merchant/api-keys")
    assert owner.post("/merchant/api-keys", data={"csrf_token": token, "name": "till 1"}).status_code in (200, 303)
    rival = make_merchant(app, "rival")
    make_user(app, "rival@example.com", role="merchant", merchant_id=rival, name="Rival")
    other = signed_in_client(app, "rival@example.com")
    token = csrf_token(other, "/merchant/api-keys")
    other.post("/merchant/api-keys", data={"csrf_token": token, "name": "rival till"})
    page = owner.get("/merchant/activity").get_data(as_text=True)
    assert "Created an API key" in page and "Owner" in page and "API key #" in page  # the record, by its name
    assert "Rival" not in page
    with app.app_context():
        rival_id = db.session.scalar(select(User.id).where(User.email == "rival@example.com"))
    filtered = owner.get(f"/merchant/activity?staff={rival_id}").get_data(as_text=True)
    assert "Rival" not in filtered and "Created an API key" in filtered  # another merchant's staff: ignored
    assert other.get("/merchant/activity").get_data(as_text=True).count("Created an API key") == 1


def picture(fmt="PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), (22, 121, 74)).save(buffer, fmt)
    return buffer.getvalue()


def test_a_logo_sent_with_the_application_shows_on_the_merchants_page(app, client, tmp_path):
    app.config["MEDIA_ROOT"] = str(tmp_path)
    make_user(app, "applicant@example.com", name="周青禾")
    Auth(client).login("applicant@example.com")
    fake = application_form(client, logo=(io.BytesIO(b"<svg onload=alert(1)>"), "logo.png"))
    refused = client.post("/merchant/apply", data=fake, content_type="multipart/form-data")
    assert refused.status_code == 422 and "Upload a JPEG, PNG or WebP image." in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(MerchantApplication.id)) is None
    good = application_form(client, logo=(io.BytesIO(picture()), "logo.png"))
    assert client.post("/merchant/apply", data=good, content_type="multipart/form-data").status_code == 303
    with app.app_context():
        row = db.session.scalar(select(MerchantApplication))
        assert row.logo and (tmp_path / f"{row.logo}-small.webp").exists()
        application_id = row.id
    make_user(app, "op@example.com", role="operator")
    operator = signed_in_client(app, "op@example.com")
    assert review(operator, application_id, "approve").status_code == 303
    with app.app_context():
        merchant = db.session.scalar(select(Merchant).where(Merchant.name_en == "Qinghe Zero Waste"))
        logo, slug = merchant.logo, merchant.slug
    assert logo == row.logo
    page = client.get(f"/merchants/{slug}").get_data(as_text=True)
    assert f"/media/{logo}-small.webp" in page
    assert client.get(f"/media/{logo}-small.webp").status_code == 200


def test_the_owner_replaces_the_logo_and_a_cashier_cannot(app, shop, tmp_path):
    app.config["MEDIA_ROOT"] = str(tmp_path)
    owner = signed_in_client(app, "owner@example.com")
    token = csrf_token(owner, "/merchant/")
    empty = owner.post("/merchant/logo", data={"csrf_token": token}, follow_redirects=True)
    assert "Choose an image file." in empty.get_data(as_text=True)
    sent = owner.post("/merchant/logo", data={"csrf_token": token, "image": (io.BytesIO(picture("JPEG")), "a.jpg")},
                      content_type="multipart/form-data", follow_redirects=True)
    assert "Logo saved." in sent.get_data(as_text=True)
    with app.app_context():
        logo = db.session.get(Merchant, shop).logo
    assert logo and f"/media/{logo}-small.webp" in owner.get("/merchants/lvlin").get_data(as_text=True)
    make_user(app, "till@example.com", role="merchant", merchant_id=shop)
    with app.app_context():
        from mall.db import write
        with write(db.session):
            db.session.scalar(select(User).where(User.email == "till@example.com")).merchant_role = "cashier"
    till = signed_in_client(app, "till@example.com")
    token = csrf_token(till, "/merchant/")
    answer = till.post("/merchant/logo", data={"csrf_token": token, "image": (io.BytesIO(picture()), "b.png")},
                       content_type="multipart/form-data")
    assert answer.status_code == 404
    with app.app_context():
        assert db.session.get(Merchant, shop).logo == logo

"""Sign-up, sign-in, sign-out and password changes, through the real forms."""
import pytest
from sqlalchemy import select

from mall.account.models import User
from mall.extensions import db
from tests.builders import PASSWORD, Auth, csrf_token, make_user


def users(app):
    with app.app_context():
        return db.session.scalars(select(User)).all()


def test_register_creates_member_with_code_and_signs_in(client, auth, app):
    response = auth.register(email="Ada@Example.com")
    assert response.status_code == 302
    [user] = users(app)
    assert user.email == "ada@example.com"
    assert user.role == "member"
    assert len(user.member_code) == 8
    page = client.get("/account").get_data(as_text=True)
    assert user.member_code in page


def test_register_ignores_role_and_other_extra_fields(auth, app):
    auth.register(role="operator", is_operator="1", merchant_id="1", balance="99999", member_code="AAAAAAAA")
    [user] = users(app)
    assert user.role == "member"
    assert user.merchant_id is None
    assert user.member_code != "AAAAAAAA"
    from mall.ledger import service as ledger

    with app.app_context():
        assert ledger.member_balance(db.session, user.id) == 0


def test_duplicate_account_is_refused_on_the_form(auth, client, app):
    auth.register()
    client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/auth/logout")})
    response = auth.register(email="ADA@example.com")
    assert response.status_code == 422
    assert "already exists" in response.get_data(as_text=True)
    assert len(users(app)) == 1


@pytest.mark.parametrize("password, confirm, message", [
    ("short", "short", "Use 10 to 128 characters."),
    (PASSWORD, PASSWORD + "x", "The passwords do not match."),
])
def test_register_validation_errors_are_shown(client, password, confirm, message, app):
    response = client.post("/auth/register", data={
        "email": "b@example.com", "display_name": "B", "password": password, "confirm": confirm,
        "csrf_token": csrf_token(client, "/auth/register")})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert users(app) == []


def test_joining_asks_for_agreement_and_keeps_an_optional_phone(client, app):
    refused = Auth(client).register("c@example.com", consent="")
    assert refused.status_code == 422 and "Agree to the earning rules and the privacy page to join." in \
        refused.get_data(as_text=True) and users(app) == []
    bad_phone = Auth(client).register("c@example.com", phone="12345")
    assert bad_phone.status_code == 422 and users(app) == []
    assert "Give a valid mainland mobile number" in bad_phone.get_data(as_text=True)
    assert Auth(client).register("c@example.com", phone="139 1234 5678").status_code == 302
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "c@example.com"))
        assert user.phone == "13912345678" and user.terms_accepted_at is not None


def test_missing_csrf_token_is_a_400(client, app):
    make_user(app, "ada@example.com")
    response = client.post("/auth/login", data={"email": "ada@example.com", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/account").status_code == 302  # not signed in


def test_wrong_password_is_refused(auth, app):
    make_user(app, "ada@example.com")
    response = auth.login(password="not-the-password")
    assert response.status_code == 422
    assert "not correct" in response.get_data(as_text=True)


def test_unknown_email_gets_the_same_answer(auth):
    response = auth.login(email="nobody@example.com")
    assert response.status_code == 422
    assert "E-mail or password is not correct." in response.get_data(as_text=True)


def test_login_follows_a_local_next(auth, app):
    make_user(app, "ada@example.com")
    response = auth.login(next="/account/statement?kind=earn")
    assert response.headers["Location"] == "/account/statement?kind=earn"


@pytest.mark.parametrize("target", [
    "//evil.example", "https://evil.example", "/\\evil.example", "%2F%2Fevil.example",
    "javascript:alert(1)", "http:/evil.example", "\\\\evil.example", " //evil.example", "/\t/evil.example",
])
def test_login_never_redirects_off_site(auth, app, target):
    make_user(app, "ada@example.com")
    response = auth.login(next=target)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location == "/", location


def test_login_page_carries_next_from_query(client):
    html = client.get("/auth/login?next=/account").get_data(as_text=True)
    assert 'value="/account"' in html


def test_protected_page_redirects_to_sign_in(client):
    response = client.get("/account/statement")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login?next=")


def test_sign_out_ends_session_and_copied_cookie_is_refused(client, auth, app):
    make_user(app, "ada@example.com")
    auth.login()
    stolen = client.get_cookie("session").value
    assert client.get("/account").status_code == 200
    auth.logout()
    assert client.get("/account").status_code == 302
    client.set_cookie("session", stolen)  # replay the cookie copied before sign-out
    assert client.get("/account").status_code == 302


def test_sign_out_by_get_only_asks_to_confirm(client, auth, app):
    make_user(app, "ada@example.com")
    auth.login()
    assert client.get("/auth/logout").status_code == 200
    assert client.get("/account").status_code == 200


def test_password_change_ends_other_sessions(app, auth, client):
    make_user(app, "ada@example.com")
    other = app.test_client()

    Auth(other).login()
    auth.login()
    response = client.post("/account/password", data={
        "current": PASSWORD, "password": "a-brand-new-pass", "confirm": "a-brand-new-pass",
        "csrf_token": csrf_token(client, "/account/password")})
    assert response.status_code == 302
    assert client.get("/account").status_code == 200  # this browser stays signed in
    assert other.get("/account").status_code == 302  # the other one is signed out
    assert Auth(app.test_client()).login(password="a-brand-new-pass").status_code == 302


def test_password_change_needs_current_password(app, auth, client):
    make_user(app, "ada@example.com")
    auth.login()
    response = client.post("/account/password", data={
        "current": "wrong-password!", "password": "a-brand-new-pass", "confirm": "a-brand-new-pass",
        "csrf_token": csrf_token(client, "/account/password")})
    assert response.status_code == 422
    assert "current password is not correct" in response.get_data(as_text=True)


def test_passwords_are_hashed_with_argon2(app):
    make_user(app, "ada@example.com")
    [user] = users(app)
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


def test_member_code_fragment_for_htmx_and_page_otherwise(client, member):
    fragment = client.get("/account/member-code", headers={"HX-Request": "true"})
    page = client.get("/account/member-code")
    assert fragment.get_data(as_text=True).lstrip().startswith('<figure class="qr">')
    assert "<html" in page.get_data(as_text=True)
    assert "HX-Request" in fragment.headers["Vary"]
    assert "<svg" in fragment.get_data(as_text=True)


def test_history_restore_gets_the_full_page(client, member):
    response = client.get("/account/member-code",
                          headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in response.get_data(as_text=True)

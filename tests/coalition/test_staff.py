"""A merchant's staff and their roles: the owner adds a manager or a cashier, changes roles, removes
them; each role opens only its own doors of the back office (the others do not exist for it: 404)."""
import re

import pytest
from sqlalchemy import select

from mall.account.models import User
from mall.extensions import db
from tests.builders import Auth, csrf_token, make_merchant, make_user, signed_in_client

# GET pages of the back office and the roles that may open them
PAGES = {
    "/merchant/": {"owner", "manager", "cashier"},
    "/merchant/purchases/new": {"owner", "manager", "cashier"},
    "/merchant/vouchers": {"owner", "manager", "cashier"},
    "/merchant/bills": {"owner", "manager", "cashier"},
    "/merchant/orders": {"owner", "manager", "cashier"},
    "/merchant/game-coupons": {"owner", "manager", "cashier"},
    "/merchant/listings": {"owner", "manager"},
    "/merchant/listings/new": {"owner", "manager"},
    "/merchant/api-keys": {"owner", "manager"},
    "/merchant/webhooks": {"owner", "manager"},
    "/merchant/statements": {"owner", "manager"},
    "/merchant/statements.csv": {"owner", "manager"},
    "/merchant/charity": {"owner", "manager"},
    "/merchant/staff": {"owner"},
    "/merchant/campaigns": {"owner", "manager"},
    "/merchant/activity": {"owner"},
}


@pytest.fixture
def shop(app):
    merchant_id = make_merchant(app, "lvlin")
    make_user(app, "owner@example.com", role="merchant", merchant_id=merchant_id)
    return merchant_id


def add(app, owner, email, role):
    token = csrf_token(owner, "/merchant/staff")
    answer = owner.post("/merchant/staff", data={"csrf_token": token, "email": email, "display_name": email[:3],
                                                 "role": role})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    password = re.search(r'id="staff-password">([^<]+)<', answer.get_data(as_text=True)).group(1)
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    assert Auth(client).login(email, password).status_code == 302  # the first password works
    return client


def test_each_role_opens_only_its_own_doors(app, shop):
    owner = signed_in_client(app, "owner@example.com")
    clients = {"owner": owner, "manager": add(app, owner, "manager@example.com", "manager"),
               "cashier": add(app, owner, "cashier@example.com", "cashier")}
    for path, allowed in PAGES.items():
        for role, client in clients.items():
            status = client.get(path).status_code
            assert (status == 200) == (role in allowed), (role, path, status)
    with app.app_context():
        roles = dict(db.session.execute(select(User.email, User.merchant_role).where(User.role == "merchant")).all())
    assert roles == {"owner@example.com": "owner", "manager@example.com": "manager", "cashier@example.com": "cashier"}
    cashier_home = clients["cashier"].get("/merchant/").get_data(as_text=True)
    assert "/merchant/api-keys" not in cashier_home and "/merchant/purchases/new" in cashier_home
    token = csrf_token(clients["cashier"], "/merchant/vouchers")
    assert clients["cashier"].post("/merchant/api-keys", data={"csrf_token": token, "name": "x"}).status_code == 404


def test_the_owner_changes_roles_and_removes_staff_and_nobody_else_can(app, shop):
    owner = signed_in_client(app, "owner@example.com")
    manager = add(app, owner, "manager@example.com", "manager")
    with app.app_context():
        manager_id = db.session.scalar(select(User.id).where(User.email == "manager@example.com"))
        owner_id = db.session.scalar(select(User.id).where(User.email == "owner@example.com"))
    token = csrf_token(manager, "/merchant/")
    assert manager.post(f"/merchant/staff/{owner_id}/remove", data={"csrf_token": token, "role": "owner"}).status_code == 404
    rival = make_merchant(app, "rival")
    make_user(app, "rival@example.com", role="merchant", merchant_id=rival)
    other = signed_in_client(app, "rival@example.com")
    other_token = csrf_token(other, "/merchant/staff")
    answer = other.post(f"/merchant/staff/{manager_id}/role", data={"csrf_token": other_token, "role": "owner"})
    assert answer.status_code == 404  # another merchant's staff do not exist for this owner
    with app.app_context():
        assert db.session.get(User, manager_id).merchant_role == "manager"
    token = csrf_token(owner, "/merchant/staff")
    owner.post(f"/merchant/staff/{manager_id}/role", data={"csrf_token": token, "role": "cashier"})
    assert manager.get("/merchant/listings").status_code == 404  # a cashier now
    refused = owner.post(f"/merchant/staff/{owner_id}/remove", data={"csrf_token": token, "role": "owner"},
                         follow_redirects=True)
    assert "cannot change your own access" in refused.get_data(as_text=True)
    owner.post(f"/merchant/staff/{manager_id}/remove", data={"csrf_token": token, "role": "cashier"})
    assert manager.get("/merchant/").status_code in (302, 404)  # signed out, and the back office is gone
    assert Auth(app.test_client()).login("manager@example.com", "anything-at-all").status_code != 302
    with app.app_context():
        gone = db.session.get(User, manager_id)
        assert gone.role == "member" and gone.merchant_id is None and gone.merchant_role is None


def test_adding_staff_refuses_bad_input(app, shop):
    owner = signed_in_client(app, "owner@example.com")
    token = csrf_token(owner, "/merchant/staff")
    for data, message in (({"email": "not-an-address", "display_name": "A", "role": "cashier"}, "Invalid email"),
                          ({"email": "owner@example.com", "display_name": "A", "role": "cashier"}, "already exists"),
                          ({"email": "x@example.com", "display_name": "A", "role": "owner"}, "Not a valid choice")):
        answer = owner.post("/merchant/staff", data={"csrf_token": token, **data})
        assert answer.status_code == 422 and message in answer.get_data(as_text=True), data
    with app.app_context():
        assert db.session.scalar(select(User.id).where(User.email == "x@example.com")) is None

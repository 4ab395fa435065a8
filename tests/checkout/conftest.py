import secrets

import pytest

from mall.account.models import User
from mall.db import write
from mall.extensions import db
from mall.ledger import service as ledger
from tests.catalog.conftest import create
from tests.conftest import assert_ledger_ok, make_merchant, make_user


class World:
    """A merchant with listings, and members with points, for checkout tests."""

    def __init__(self, app):
        self.app = app
        self.merchant_id = make_merchant(app, "shop")

    def member(self, email="m@example.com", points=10000):
        user_id = make_user(self.app, email)
        if points:
            self.give(user_id, points)
        return user_id

    def give(self, user_id, points, key=None):
        with self.app.app_context(), write(db.session):
            issuance = ledger.open_account(db.session, "merchant", self.merchant_id, "issuance")
            ledger.transfer(db.session, issuance, ledger.member_account(db.session, user_id), points, "earn",
                            key=key or f"gift:{user_id}:{secrets.token_hex(4)}")

    def listing(self, **changes):
        return create(self.app, self.merchant_id, **changes)

    def balance(self, user_id):
        with self.app.app_context():
            return ledger.member_balance(db.session, user_id)

    def verify(self):
        assert_ledger_ok(self.app)


@pytest.fixture
def world(app):
    return World(app)


def checkout_as(app, user_id, requests, token=None, delivery=None, pay_token="tok_approve"):
    from mall.checkout import service

    with app.app_context():
        user = db.session.get(User, user_id)
        placed = service.checkout(db.session, user, requests, delivery or service.Delivery(
            name="林小绿", phone="13800138000", address="上海市浦东新区世纪大道 100 号", guest_name="林小绿"),
            token or secrets.token_urlsafe(12), pay_token)
        return [o.id for o in placed.orders], placed.replayed

import secrets

import pytest

from mall.account.models import User
from mall.db import write
from mall.extensions import db
from mall.fraud import service as fraud
from mall.ledger import service as ledger
from tests.conftest import Auth, assert_ledger_ok, make_merchant, make_user


class World:
    """Two operators, a merchant, and members who earned points there."""

    def __init__(self, app):
        self.app = app
        self.merchant_id = make_merchant(app, "shop")
        self.op1 = make_user(app, "op1@example.com", role="operator")
        self.op2 = make_user(app, "op2@example.com", role="operator")

    def member(self, email="m@example.com", earnings=(500, 300)):
        user_id = make_user(self.app, email)
        for points in earnings:
            self.earn(user_id, points)
        return user_id

    def earn(self, user_id, points) -> int:
        with self.app.app_context(), write(db.session):
            issuance = ledger.open_account(db.session, "merchant", self.merchant_id, "issuance")
            return ledger.transfer(db.session, issuance, ledger.member_account(db.session, user_id), points, "earn",
                                   key=f"earn:{user_id}:{secrets.token_hex(4)}").transfer.id

    def earnings(self, user_id) -> list[int]:
        with self.app.app_context():
            account = ledger.member_account(db.session, user_id)
            return [r.transfer.id for r in ledger.statement(db.session, account, kinds=["earn"], limit=100)]

    def balance(self, user_id) -> int:
        with self.app.app_context():
            return ledger.member_balance(db.session, user_id)

    def user(self, user_id) -> User:
        return db.session.get(User, user_id)

    def call(self, fn, operator_id, *args, **kwargs):
        """Run a fraud service call as ``operator_id`` in one write transaction."""
        with self.app.app_context(), write(db.session):
            result = fn(db.session, self.user(operator_id), *args, **kwargs)
            return getattr(result, "id", result)

    def open_case(self, member_id, transfer_ids=(), upload=None, operator=None):
        return self.call(fraud.open_case, operator or self.op1, member_id, "Receipts reused at two tills.",
                         transfer_ids=transfer_ids, upload=upload, private_root=self.app.config["PRIVATE_ROOT"])

    def verify(self):
        assert_ledger_ok(self.app)

    def client_for(self, email):
        client = self.app.test_client()
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
        assert Auth(client).login(email).status_code == 302
        return client


@pytest.fixture
def world(app):
    return World(app)

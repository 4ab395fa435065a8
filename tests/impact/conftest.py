import secrets
from datetime import datetime, timedelta, timezone

import pytest

from mall.account.models import User
from mall.db import write
from mall.extensions import db
from mall.impact import service as impact
from mall.ledger import service as ledger
from mall.merchant.models import Merchant
from mall.rules import service as rules
from tests.conftest import assert_ledger_ok, make_merchant, make_user


class World:
    """A merchant that reports purchases, published CO2e factors, and members."""

    def __init__(self, app):
        self.app = app
        self.merchant_id = make_merchant(app, "shop")
        with app.app_context(), write(db.session):
            impact.ensure_default_factors(db.session)

    def member(self, email="m@example.com", name=None):
        return make_user(self.app, email, name=name)

    def code(self, user_id):
        with self.app.app_context():
            return db.session.get(User, user_id).member_code

    def buy(self, user_id, items, days_ago=0):
        """Report a purchase: items are (category, green, amount_fen)."""
        now = datetime.now(timezone.utc)
        with self.app.app_context(), write(db.session):
            doc = {"member_code": self.code(user_id), "total_fen": sum(i[2] for i in items),
                   "items": [{"category": c, "green": g, "amount_fen": a, "quantity": 1} for c, g, a in items]}
            purchase = rules.parse_purchase(doc, now)
            if days_ago:
                purchase = rules.PurchaseInput(purchase.member_code, purchase.total_fen,
                                               now - timedelta(days=days_ago), purchase.items)
            return rules.award_purchase(db.session, db.session.get(Merchant, self.merchant_id), purchase).id

    def give(self, user_id, points):
        with self.app.app_context(), write(db.session):
            issuance = ledger.open_account(db.session, "merchant", self.merchant_id, "issuance")
            ledger.transfer(db.session, issuance, ledger.member_account(db.session, user_id), points, "earn",
                            key=f"gift:{user_id}:{secrets.token_hex(4)}")

    def total(self, user_id):
        with self.app.app_context():
            return impact.member_total(db.session, user_id)

    def factor(self, key):
        with self.app.app_context():
            return impact.factors(db.session)[key].grams

    def verify(self):
        assert_ledger_ok(self.app)


@pytest.fixture
def world(app):
    return World(app)

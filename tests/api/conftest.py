import pytest
from sqlalchemy import select

from mall.account.models import User
from mall.api import service as api_service
from mall.db import write
from mall.extensions import db
from mall.merchant.models import Merchant
from tests.conftest import make_merchant, make_user


class Shop:
    def __init__(self, app, slug):
        self.app = app
        self.id = make_merchant(app, slug)
        with app.app_context(), write(db.session):
            _, self.key = api_service.create_key(db.session, db.session.get(Merchant, self.id), "test")
        self.headers = {"Authorization": f"Bearer {self.key}"}


@pytest.fixture
def shop(app):
    return Shop(app, "lvlin")


@pytest.fixture
def other_shop(app):
    return Shop(app, "other")


@pytest.fixture
def member_code(app):
    user_id = make_user(app, "buyer@example.com")
    with app.app_context():
        return db.session.get(User, user_id).member_code


def purchase_body(code, total=12800, green=True, **extra):
    return {"member_code": code, "total_fen": total,
            "items": [{"sku": "AC-01", "name": "一级能效空调", "category": "appliances", "green": green,
                       "quantity": 1, "amount_fen": total}], **extra}


def balance_of(app, code):
    from mall.ledger import service as ledger

    with app.app_context():
        user = db.session.scalar(select(User).where(User.member_code == code))
        return ledger.member_balance(db.session, user.id)

import pytest

from mall.account.models import User
from mall.extensions import db
from tests.builders import Shop, make_user


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

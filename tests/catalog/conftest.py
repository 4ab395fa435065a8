import pytest

from tests.builders import Auth, make_merchant, make_user


@pytest.fixture
def shop_id(app):
    return make_merchant(app, "mianyu")


@pytest.fixture
def staff(app, client, shop_id):
    make_user(app, "staff@example.com", role="merchant", merchant_id=shop_id)
    Auth(client).login("staff@example.com")
    return shop_id

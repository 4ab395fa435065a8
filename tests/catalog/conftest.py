import pytest

from mall.db import write
from mall.extensions import db
from mall.merchant.models import Merchant
from tests.conftest import Auth, make_merchant, make_user


def listing_doc(**changes):
    doc = {"kind": "goods", "category": "textiles", "title_zh": "竹纤维毛巾", "title_en": "Bamboo towel",
           "description_zh": "柔软", "description_en": "Soft", "points_price": 2800, "stock": 10, "green": True,
           "co2e_g": 900}
    doc.update(changes)
    return doc


@pytest.fixture
def shop_id(app):
    return make_merchant(app, "mianyu")


@pytest.fixture
def staff(app, client, shop_id):
    make_user(app, "staff@example.com", role="merchant", merchant_id=shop_id)
    Auth(client).login("staff@example.com")
    return shop_id


def create(app, merchant_id, publish=True, **changes):
    from mall.catalog import service as catalog

    with app.app_context(), write(db.session):
        shop = db.session.get(Merchant, merchant_id)
        item = catalog.create_listing(db.session, shop, listing_doc(**changes))
        if publish:
            catalog.set_status(db.session, shop, item.id, "publish")
        return item.id

"""The OpenAPI document and the code agree both ways: the document's paths are exactly the API's routes,
and schemathesis with all of its checks finds nothing against real data — no server error, no request the
document allows refused, none it forbids accepted, every undeclared method a 405 with ``Allow``."""
import itertools
import re
import secrets
from datetime import datetime, timedelta, timezone

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from mall.account.models import User
from mall.catalog import service as catalog
from mall.checkout import bills
from mall.checkout import service as checkout
from mall.db import write
from mall.extensions import db
from mall.ledger import service as ledger
from mall.merchant.models import Merchant
from mall.rules import service as rules
from tests.api.conftest import Shop
from tests.conftest import make_user


def test_document_paths_are_exactly_the_api_routes(app, client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    routed = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routed.add((path, method))
    assert documented == routed


def test_every_post_that_moves_points_requires_an_idempotency_key(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    for path, ops in doc["paths"].items():
        if "post" in ops and not path.endswith("/quote"):
            names = [p["name"] for p in ops["post"].get("parameters", [])]
            assert "Idempotency-Key" in names, path


class FuzzData:
    """A shop with a key, a member with points, a published listing, orders placed on it, a purchase and
    a pending bill payment: the generated ids (1 and up) reach real resources."""

    def __init__(self, app):
        self.shop = Shop(app, "fuzz")
        member_id = make_user(app, "fuzz-member@example.com")
        with app.app_context(), write(db.session):
            shop = db.session.get(Merchant, self.shop.id)
            issuance = ledger.open_account(db.session, "merchant", shop.id, "issuance")
            ledger.transfer(db.session, issuance, ledger.member_account(db.session, member_id), 10**6, "earn",
                            key="fuzz:gift")
            listing = catalog.create_listing(db.session, shop, {"kind": "goods", "category": "textiles",
                                                                "title_zh": "毛巾", "title_en": "Towel",
                                                                "points_price": 100, "stock": 1000})
            catalog.set_status(db.session, shop, listing.id, "publish")
            listing_id, code = listing.id, db.session.get(User, member_id).member_code
        with app.app_context():
            for _ in range(3):
                checkout.checkout(db.session, db.session.get(User, member_id),
                                  [checkout.LineRequest(listing_id=listing_id, quantity=2)],
                                  checkout.Delivery(name="林小绿", phone="13800138000",
                                                    address="上海市浦东新区世纪大道 100 号", guest_name="林小绿"),
                                  secrets.token_urlsafe(12), "tok_approve")
        with app.app_context(), write(db.session):
            shop = db.session.get(Merchant, self.shop.id)
            rules.award_purchase(db.session, shop, rules.parse_purchase({"member_code": code, "total_fen": 10**6}))
            bills.request_payment(db.session, shop, code, 10000)


@pytest.fixture
def api_schema(app):
    data = FuzzData(app)
    config = SchemathesisConfig.from_dict({"auth": {"openapi": {"bearer": {"bearer": data.shop.key}}},
                                           "generation": {"max-examples": 200}})
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=config)


schema = schemathesis.pytest.from_fixture("api_schema")
KEYS = itertools.count()


def _instant(text):
    try:
        value = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return value if value.tzinfo else None


def follow_prose_rules(case) -> None:
    """What the document can only say in words, applied to schema-valid bodies (they stay schema-valid):
    a purchase happened in the last 30 days and its items add up to its total; a bill pays at most half
    with points; a sale is below the points price and ends after it starts; early access comes first."""
    body, operation = case.body, case.operation.definition.raw.get("operationId")
    if not isinstance(body, dict):
        return
    if operation in ("createPurchase", "quotePurchase"):
        if isinstance(body.get("occurred_at"), str):
            body["occurred_at"] = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
        if body.get("items"):
            total = sum(item["amount_fen"] for item in body["items"])
            if 1 <= total <= 10**10:
                body["total_fen"] = total
            else:
                body["items"] = None
    elif operation == "createBillPayment":
        body["bill_fen"] = max(int(body["bill_fen"]), 2)
        if body.get("points_fen") is not None:
            body["points_fen"] = min(int(body["points_fen"]), body["bill_fen"] // 2)
    elif operation == "createListing":
        if body.get("sale_points_price") is not None:
            starts, ends = _instant(body["sale_starts_at"]), _instant(body["sale_ends_at"])
            if body["points_price"] > 1 and starts and ends and starts != ends:
                body["sale_points_price"] = min(body["sale_points_price"], body["points_price"] - 1)
                body["sale_starts_at"], body["sale_ends_at"] = sorted((body["sale_starts_at"], body["sale_ends_at"]),
                                                                      key=_instant)
            else:
                body["sale_points_price"] = body["sale_starts_at"] = body["sale_ends_at"] = None
        if body.get("early_access_from") is not None:
            early, available = _instant(body["early_access_from"]), _instant(body["available_from"])
            if early and available and early != available:
                body["early_access_from"], body["available_from"] = sorted(
                    (body["early_access_from"], body["available_from"]), key=_instant)
            else:
                body["early_access_from"] = None


@schema.parametrize()
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
def test_document_and_code_agree(case):
    """All of schemathesis's checks (the default: every one enabled), examples, coverage and fuzzing."""
    key = (case.headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and key.strip() and len(key) <= 240:  # a real client sends a fresh key each time
        case.headers["Idempotency-Key"] = f"{key}.{next(KEYS)}"
    if case.meta is not None and case.meta.generation.mode.is_positive:
        follow_prose_rules(case)
    case.call_and_validate()

"""The OpenAPI document and the code agree both ways: the document's paths are exactly the API's routes,
and schemathesis with all of its checks finds nothing against real data, operation by operation and in the
sequences the document's links chain — no server error, no request the document allows refused, none it
forbids accepted, every undeclared method a 405 with ``Allow``, nothing just created missing."""
import itertools
import re
import secrets
from datetime import datetime, timedelta, timezone

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import Flaky
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup

from mall.account.models import User
from mall.catalog import service as catalog
from mall.checkout import bills
from mall.checkout import orchestrator
from mall.checkout import service as checkout
from mall.checkout.models import BillPayment
from mall.db import write
from mall.extensions import db
from mall.forms import MAX_ID
from mall.ledger import service as ledger
from mall.coalition.models import Merchant
from mall.rules import service as rules
from tests.builders import Shop, make_user


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
        self.app = app
        self.shop = Shop(app, "fuzz")
        self.member_id = member_id = make_user(app, "fuzz-member@example.com")
        with app.app_context(), write(db.session):
            shop = db.session.get(Merchant, self.shop.id)
            issuance = ledger.open_account(db.session, "merchant", shop.id, "issuance")
            ledger.transfer(db.session, issuance, ledger.member_account(db.session, member_id), 10**6, "earn",
                            key="fuzz:gift")
            listing = catalog.create_listing(db.session, shop, {"kind": "goods", "category": "textiles",
                                                                "title_zh": "毛巾", "title_en": "Towel",
                                                                "points_price": 100, "stock": 1000})
            catalog.set_status(db.session, shop, listing.id, "publish")
            listing_id = listing.id
            self.member_code = code = db.session.get(User, member_id).member_code
        with app.app_context():
            for _ in range(3):
                orchestrator.checkout(db.session, db.session.get(User, member_id),
                                      [checkout.LineRequest(listing_id=listing_id, quantity=2)],
                                      checkout.Delivery(name="林小绿", phone="13800138000",
                                                        address="上海市浦东新区世纪大道 100 号", guest_name="林小绿"),
                                      secrets.token_urlsafe(12), "tok_approve")
        with app.app_context(), write(db.session):
            shop = db.session.get(Merchant, self.shop.id)
            rules.award_purchase(db.session, shop, rules.parse_purchase({"member_code": code, "total_fen": 10**6}))
            bills.request_payment(db.session, shop, code, 10000)

    def one_time_code(self, bill_id) -> str | None:
        """The code the member reads in the mall for a payment request of the shop's."""
        try:  # the coverage phase may hand path parameters over as text
            bill_id = int(bill_id)
        except (TypeError, ValueError):
            return None
        if not 1 <= bill_id <= MAX_ID:
            return None
        with self.app.app_context():
            bill = db.session.get(BillPayment, bill_id)
            return bill.one_time_code if bill is not None else None

    def decline_waiting(self) -> None:
        """The member declines in the mall what the till left waiting (a till may keep only a few)."""
        with self.app.app_context(), write(db.session):
            for bill in bills.pending_for(db.session, db.session.get(User, self.member_id)):
                bills.decline(db.session, bill)


@pytest.fixture
def fuzz_data(app):
    return FuzzData(app)


@pytest.fixture
def api_schema(app, fuzz_data):
    config = SchemathesisConfig.from_dict({"auth": {"openapi": {"bearer": {"bearer": fuzz_data.shop.key}}},
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


def _in_utc_range(value) -> bool:
    try:
        value.astimezone(timezone.utc)
    except OverflowError:
        return False
    return True


TOWEL = {"kind": "goods", "category": "textiles", "title_zh": "毛巾", "title_en": "Towel", "points_price": 100}


@pytest.mark.parametrize("status", [True, "paused", [], {}])
def test_a_new_listing_takes_only_the_statuses_the_document_names(client, shop, status):
    response = client.post("/api/v1/listings", json={**TOWEL, "status": status},
                           headers={**shop.headers, "Idempotency-Key": "new-1"})
    assert response.status_code == 422 and response.get_json()["errors"][0]["field"] == "status"
    assert client.get("/api/v1/listings", headers=shop.headers).get_json()["data"] == []


@pytest.mark.parametrize("status", ["draft", [], {}])
def test_a_listing_change_takes_only_the_statuses_the_document_names(client, shop, status):
    created = client.post("/api/v1/listings", json=TOWEL, headers={**shop.headers, "Idempotency-Key": "new-1"})
    response = client.patch(f"/api/v1/listings/{created.get_json()['id']}",
                            json={"title_en": "Bath towel", "status": status},
                            headers={**shop.headers, "Idempotency-Key": "change-1"})
    assert response.status_code == 422 and response.get_json()["errors"][0]["field"] == "status"
    listed = client.get("/api/v1/listings", headers=shop.headers).get_json()["data"]
    assert [(item["status"], item["title_en"]) for item in listed] == [("draft", "Towel")]


@pytest.mark.parametrize("body", ["null", "[]", '"changed my mind"'])
def test_a_cancellation_body_that_is_not_an_object_is_refused_and_cancels_nothing(client, fuzz_data, body):
    headers = fuzz_data.shop.headers
    response = client.post("/api/v1/orders/1/cancel", data=body, content_type="application/json",
                           headers={**headers, "Idempotency-Key": "cancel-1"})
    assert response.status_code == 422 and response.get_json()["type"] == "/api/v1/problems/invalid-cancel"
    assert [o["id"] for o in client.get("/api/v1/orders", headers=headers).get_json()["data"]] == [3, 2, 1]


def follow_prose_rules(case) -> None:
    """What the document can only say in words, applied to schema-valid bodies (they stay schema-valid):
    a purchase happened in the last 30 days and its items add up to its total; a bill pays at most half
    with points; a sale is below the points price and ends after it starts; early access comes first;
    a listing's instants have a UTC equivalent."""
    body, operation = case.body, case.operation.definition.raw.get("operationId")
    if not isinstance(body, dict):
        return
    if operation in ("createListing", "updateListing"):  # instants that have a UTC equivalent
        for name in ("sale_starts_at", "sale_ends_at", "available_from", "early_access_from"):
            if _instant(body.get(name)) is not None and not _in_utc_range(_instant(body[name])):
                body[name] = None
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


def fresh_key(case) -> None:
    """A real client sends a fresh Idempotency-Key with each request. It also decodes a compressed
    answer (mall/transport.py), which the in-process client does not: it asks for none."""
    case.headers = case.headers or {}
    case.headers["Accept-Encoding"] = "identity"
    key = (case.headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and key.strip() and len(key) <= 240:
        case.headers["Idempotency-Key"] = f"{key}.{next(KEYS)}"


MEMBER_BODIES = {"createPurchase", "quotePurchase", "createBillPayment"}


def as_a_real_till(case, fuzz_data) -> None:
    """A fresh Idempotency-Key for every request; a schema-valid request is also what a real till sends:
    for the shop's member, confirming with the code that member reads, following the rules in words."""
    fresh_key(case)
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    operation = case.operation.definition.raw.get("operationId")
    if operation in MEMBER_BODIES and isinstance(case.body, dict):
        case.body["member_code"] = fuzz_data.member_code
    elif operation == "confirmBillPayment" and isinstance(case.body, dict):
        case.body["code"] = fuzz_data.one_time_code((case.path_parameters or {}).get("bill_id")) or "000000"
    follow_prose_rules(case)


@schema.parametrize()
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
def test_document_and_code_agree(case, fuzz_data):
    """All of schemathesis's checks (the default: every one enabled), examples, coverage and fuzzing."""
    as_a_real_till(case, fuzz_data)
    case.call_and_validate()


SCENARIOS = 100  # sequences of up to 10 steps: about 20–25 s per database


def test_sequences_of_operations_agree(api_schema, fuzz_data):
    """The stateful phase: the document's links chain operations on what earlier ones made (a listing
    created then changed, a purchase reported, read and refunded, a bill payment asked, polled and
    confirmed, an order listed then fulfilled, cancelled or refunded), with all of schemathesis's checks,
    among them those only sequences exercise (what was just created is there; what was removed stays gone).
    A till's valid requests are for the shop's member and confirm with the code that member reads."""
    class Sequences(api_schema.as_state_machine()):
        scenarios = 0
        found = []  # failures as they happen: the database moves on, so a replay may not meet them again

        def before_call(self, case):
            as_a_real_till(case, fuzz_data)

        def validate_response(self, response, case, **kwargs):
            try:
                super().validate_response(response, case, **kwargs)
            except FailureGroup as failure:
                Sequences.found.append(failure)
                raise

        def teardown(self):
            Sequences.scenarios += 1
            fuzz_data.decline_waiting()

    # Hypothesis stops a run as Flaky when a choice it made before leads elsewhere against the changed
    # database; the run goes on afresh, as schemathesis's own runner does, and any failure seen is raised.
    while Sequences.scenarios < SCENARIOS:
        ran = Sequences.scenarios
        try:
            Sequences.run(settings=settings(max_examples=SCENARIOS - ran, stateful_step_count=10, deadline=None,
                                            suppress_health_check=list(HealthCheck), phases=[Phase.generate]))
        except Flaky:
            if Sequences.found:
                raise Sequences.found[0] from None
            assert Sequences.scenarios > ran, "a run ended before its first scenario"
        else:
            break
    assert not Sequences.found

"""Hostile input, answered: amounts typed as text, ids beyond the database's range, text with control
characters, lone surrogates in JSON, an outsized form token, and a database that cannot be written or
reached. Each is a clear refusal (or a 503), never a server error, and nothing is half-written."""
import importlib
import json
import pkgutil
import socket

import pytest
import wtforms
from sqlalchemy import func, select

import mall
from mall import create_app
from mall.account.models import User
from mall.catalog.models import Listing
from mall.charity.models import MatchCampaign
from mall.extensions import db
from mall.forms import MallForm, MallSubForm
from mall.rules.models import Purchase
from tests.builders import Auth, Shop, assert_ledger_ok, csrf_token, listing_doc, make_user, purchase_body

AMOUNTS = ["\r\n", "1e3", "0x10", "9" * 30, "１２３", "-1", "12.345"]
IDS = ["9223372036854775808", "9" * 30, "²", "1.5", "-1", "0x10"]
CONTROL = ["a\x00b", "\x00", "\x1b[31m", "tab\there", "line\nbreak"]


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture
def shop(merchant_staff):
    return merchant_staff


def listing_form(client, **changes):
    data = {"kind": "goods", "category": "textiles", "title_zh": "竹纤维毛巾", "title_en": "Bamboo towel",
            "description_zh": "柔软", "description_en": "Soft", "points_price": "2800", "mix_points": "2000",
            "cash": "8.00", "limit_period": "month", "csrf_token": csrf_token(client, "/merchant/listings/new")}
    data.update(changes)
    return client.post("/merchant/listings/new", data=data)


# --- every form is guarded ---------------------------------------------------------------------

def test_every_form_of_the_app_is_a_mall_form():
    """A form class outside the base would miss the control-character check."""
    for module in pkgutil.walk_packages(mall.__path__, "mall."):
        if module.name.endswith(".forms"):
            importlib.import_module(module.name)

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    ours = [c for c in subclasses(wtforms.Form) if c.__module__.startswith("mall.") and c.__module__ != "mall.forms"]
    assert len(ours) > 40
    assert [c.__name__ for c in ours if not issubclass(c, (MallForm, MallSubForm))] == []


# --- 1. amounts typed as text ---------------------------------------------------------------------

@pytest.mark.parametrize("cash", AMOUNTS)
def test_listing_cash_typed_as_text_is_refused_on_the_form(app, client, shop, cash):
    response = listing_form(client, cash=cash)
    assert response.status_code == 422
    if cash.strip():  # "\r\n" is a blank cash part, which a points + cash price lacks
        assert "Enter an amount in yuan" in response.get_data(as_text=True)
    assert count(app, Listing) == 0


def test_listing_cash_is_bounded_and_a_valid_amount_is_kept_exactly(app, client, shop):
    response = listing_form(client, cash="99999999.99")
    assert response.status_code == 422 and "Enter an amount of at most" in response.get_data(as_text=True)
    assert listing_form(client, cash=" 8.5 ").status_code == 303
    with app.app_context():
        assert db.session.scalar(select(Listing.cash_fen)) == 850


def purchase_form(client, code, **items):
    data = {"member_code": code, "token": "purchase-1",
            "csrf_token": csrf_token(client, "/merchant/purchases/new"), **items}
    return client.post("/merchant/purchases/new", data=data)


@pytest.mark.parametrize("amount", ["   ", *AMOUNTS])
def test_purchase_item_amounts_typed_as_text_are_refused(app, client, shop, amount):
    code = _member_code(app)
    response = purchase_form(client, code, **{"items-0-amount": amount, "items-0-category": "grocery"})
    assert response.status_code == 422
    assert count(app, Purchase) == 0
    quote = client.post("/merchant/purchases/quote", data={
        "member_code": code, "items-0-amount": amount, "csrf_token": csrf_token(client, "/merchant/purchases/new")})
    assert quote.status_code == 200 and "Enter a member code and at least one amount" in quote.get_data(as_text=True)


def _member_code(app, email="buyer@example.com"):
    user_id = make_user(app, email)
    with app.app_context():
        return db.session.get(User, user_id).member_code


@pytest.mark.parametrize("sponsor", ["", "\r\n", *IDS])
def test_charity_matching_sponsor_out_of_range_is_refused(app, client, shop, sponsor):
    data = {"sponsor": sponsor, "match_percent": "100", "cap_points": "1000", "starts_on": "2030-01-01",
            "ends_on": "2030-01-31", "csrf_token": csrf_token(client, "/merchant/charity")}
    response = client.post("/merchant/charity", data=data)
    assert response.status_code in (200, 422)  # 200 with "Choose a project." for the blank one
    assert count(app, MatchCampaign) == 0


# --- 2. ids beyond the database's range -----------------------------------------------------------

@pytest.mark.parametrize("listing", IDS)
def test_checkout_of_a_listing_id_beyond_the_range_is_not_found(app, client, member, listing):
    assert client.get(f"/checkout?listing={listing}").status_code == 302  # an empty cart: back to the catalog
    response = client.post("/checkout/summary", data={"listing": listing,
                                                      "csrf_token": csrf_token(client, "/cart")})
    assert response.status_code < 500


@pytest.mark.parametrize("value", IDS)
def test_ids_in_query_strings_and_select_fields_beyond_the_range(app, client, member, value):
    assert client.get(f"/account/donations?before={value}").status_code == 200
    assert client.get(f"/account/statement?before={value}").status_code < 400
    assert client.get(f"/rules/diff?a={value}&b={value}").status_code < 500
    response = client.post("/account/delete", data={"password": "x" * 12, "remaining": "donate", "project": value,
                                                     "confirm": "y", "csrf_token": csrf_token(client, "/account")})
    assert response.status_code < 500
    assert count(app, User) == 1


# --- 3. a fraud case without evidence -------------------------------------------------------------

@pytest.mark.parametrize("transfer_ids", [None, "", "²", "\r\n", "9223372036854775808", ["1", "2"]])
def test_fraud_case_without_usable_evidence_is_refused_on_the_form(app, client, transfer_ids):
    from mall.fraud.models import FraudCase

    member_id = make_user(app, "suspect@example.com")
    make_user(app, "operator@example.com", role="operator")
    Auth(client).login("operator@example.com")
    data = {"reason": "Points earned from purchases that were all refunded.",
            "csrf_token": csrf_token(client, f"/admin/members/{member_id}")}
    if transfer_ids is not None:
        data["transfer_ids"] = transfer_ids
    response = client.post(f"/admin/members/{member_id}/cases", data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert any(m in html for m in ("needs evidence", "Transfer numbers are whole numbers", "control characters",
                                   "is not points this member received")), html[-2000:]
    assert count(app, FraudCase) == 0


# --- 4. control characters in text ---------------------------------------------------------------

@pytest.mark.parametrize("name", ["a\x00b", "\x00", "\x1b[31m", "two\r\nlines"])
def test_register_refuses_control_characters_in_the_name(app, client, name):
    response = Auth(client).register(name=name)
    assert response.status_code == 422
    assert "Remove the control characters from this text." in response.get_data(as_text=True)
    assert count(app, User) == 0


def test_control_characters_are_refused_in_the_chinese_default_too(app):
    client = app.test_client()
    response = Auth(client).register(name="a\x00b")
    assert response.status_code == 422 and "控制字符" in response.get_data(as_text=True)


@pytest.mark.parametrize("title", ["a\x00b", "\x1b[31mred", "tab\there"])
def test_listing_texts_refuse_control_characters_but_descriptions_keep_line_breaks(app, client, shop, title):
    response = listing_form(client, title_en=title)
    assert response.status_code == 422 and "control characters" in response.get_data(as_text=True)
    assert listing_form(client, description_en="nul\x00inside").status_code == 422
    assert count(app, Listing) == 0
    assert listing_form(client, description_en="Line one\r\nLine two\tend").status_code == 303
    with app.app_context():
        assert db.session.scalar(select(Listing.description_en)) == "Line one\r\nLine two\tend"


@pytest.fixture
def api_shop(app):
    return Shop(app, "apishop")


def api_post(client, shop, path, body, key="k-1", raw=None):
    return client.post(path, data=raw if raw is not None else json.dumps(body), content_type="application/json",
                       headers={**shop.headers, "Idempotency-Key": key})


@pytest.mark.parametrize("text", CONTROL[:3])
def test_api_strings_refuse_control_characters(app, client, api_shop, text):
    code = _member_code(app)
    answers = [
        api_post(client, api_shop, "/api/v1/purchases", purchase_body(text), "p-1"),
        api_post(client, api_shop, "/api/v1/purchases", {**purchase_body(code), "items": [
            {"name": text, "category": "grocery", "amount_fen": 12800}]}, "p-2"),
        api_post(client, api_shop, "/api/v1/listings", listing_doc(title_en=text), "l-1"),
        api_post(client, api_shop, "/api/v1/listings", listing_doc(description_zh=text), "l-2"),
        api_post(client, api_shop, "/api/v1/bill-payments", {"member_code": text, "bill_fen": 10000}, "b-1"),
        api_post(client, api_shop, "/api/v1/bill-payments", {"member_code": code, "bill_fen": 10000,
                                                             "reference": text}, "b-2"),
    ]
    assert [r.status_code for r in answers] == [422] * 6, [r.get_json() for r in answers]
    assert all(r.mimetype == "application/problem+json" for r in answers)
    assert "control characters" in json.dumps(answers[4].get_json())
    assert count(app, Listing) == 0 and count(app, Purchase) == 0
    key = api_post(client, api_shop, "/api/v1/purchases", purchase_body(code), key=f"key{text}")
    assert key.status_code == 400 and key.get_json()["type"].endswith("idempotency-key-required")


@pytest.mark.parametrize("value", [5, True, ["x"], {"a": "b"}])
def test_api_text_members_that_are_not_text_are_refused(app, client, api_shop, value):
    code = _member_code(app)
    answers = [
        api_post(client, api_shop, "/api/v1/bill-payments", {"member_code": value, "bill_fen": 10000}, "b-1"),
        api_post(client, api_shop, "/api/v1/bill-payments", {"member_code": code, "bill_fen": 10000,
                                                             "reference": value}, "b-2"),
    ]
    assert [r.status_code for r in answers] == [422, 422], [r.get_json() for r in answers]
    assert all(r.get_json()["type"] == "/api/v1/problems/invalid-text" for r in answers)


def test_api_multiline_texts_keep_line_breaks(app, client, api_shop):
    response = api_post(client, api_shop, "/api/v1/listings", listing_doc(description_en="One\nTwo\tthree"))
    assert response.status_code == 201 and response.get_json()["description_en"] == "One\nTwo\tthree"


@pytest.mark.parametrize("instant", ["0001-01-01T00:00:01+00:07", "9999-12-31T23:59:59-01:00"])
def test_an_instant_with_no_utc_equivalent_is_refused(app, client, api_shop, instant):
    """Found by the schema fuzzer: the offset pushes the instant outside the years a date can hold."""

    response = api_post(client, api_shop, "/api/v1/listings", listing_doc(available_from=instant))
    assert response.status_code == 422, response.get_json()
    assert "available_from" in json.dumps(response.get_json())
    assert count(app, Listing) == 0


# --- 5. a lone surrogate in JSON ------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/v1/purchases/quote", "/api/v1/purchases", "/api/v1/listings",
                                  "/api/v1/bill-payments", "/api/v1/orders/1/cancel"])
def test_a_lone_surrogate_in_json_is_refused_as_invalid_json(app, client, api_shop, path):
    raw = '{"member_code": "\\ud800", "title_en": "x\\udfff", "reason": "\\ud83d", "total_fen": 1}'
    response = api_post(client, api_shop, path, None, raw=raw)
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["type"] == "/api/v1/problems/malformed-json"
    assert "lone surrogate" in response.get_json()["detail"]
    assert count(app, Listing) == 0


def test_a_surrogate_pair_is_ordinary_text(app, client, api_shop):
    raw = json.dumps(listing_doc(title_en="Towel 🌿"))  # ensure_ascii: written as "\ud83c\udf3f"
    assert "\\ud83c" in raw
    response = api_post(client, api_shop, "/api/v1/listings", None, raw=raw)
    assert response.status_code == 201 and response.get_json()["title_en"] == "Towel 🌿"


# --- 6. an outsized form token ----------------------------------------------------------------------

def test_purchase_form_token_longer_than_the_column_is_refused(app, client, shop):
    code = _member_code(app)
    data = {"member_code": code, "token": "t" * 300, "items-0-amount": "128", "items-0-category": "grocery",
            "csrf_token": csrf_token(client, "/merchant/purchases/new")}
    response = client.post("/merchant/purchases/new", data=data)
    assert response.status_code == 422 and "This form has expired" in response.get_data(as_text=True)
    assert count(app, Purchase) == 0
    data["token"] = "t" * 64
    assert client.post("/merchant/purchases/new", data=data).status_code == 303
    assert count(app, Purchase) == 1
    assert_ledger_ok(app)


# --- 7. a database that cannot be written or reached ---------------------------------------------

def _unavailable(response, api=False):
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    if api:
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["type"] == "/api/v1/problems/database-unavailable"
    else:
        assert "temporarily unable to save" in response.get_data(as_text=True)


@pytest.fixture
def sqlite_file(migrated_template, tmp_path):
    """A migrated SQLite file of its own (on the PostgreSQL run too)."""
    import shutil

    from tests.conftest import PG_URL, _migrate

    target = tmp_path / "readonly.sqlite3"
    if PG_URL:
        _migrate(f"sqlite:///{target}")
    else:
        shutil.copy(migrated_template, target)
    return target


def test_a_read_only_database_file_is_a_503_and_nothing_is_written(sqlite_file, tmp_path):
    config = {"TESTING": True, "RATELIMIT_ENABLED": False, "PRIVATE_ROOT": str(tmp_path / "p"),
              "MEDIA_ROOT": str(tmp_path / "m"), "LEDGER_CHECKPOINT_FILE": str(tmp_path / "c.jsonl"),
              "PAYMENT_SANDBOX_URL": f"sqlite:///{tmp_path / 'sandbox.sqlite3'}"}
    writable = create_app({**config, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{sqlite_file}"})

    shop = Shop(writable, "readonly")
    with writable.app_context():
        db.engine.dispose()
    # The same file, opened read-only by a fresh engine: every write fails as on a full or read-only disk.
    readonly = create_app({**config, "SQLALCHEMY_DATABASE_URI": f"sqlite:///file:{sqlite_file}?mode=ro&uri=true"})
    client = readonly.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    assert client.get("/").status_code == 200  # reading still works
    _unavailable(Auth(client).register(email="new@example.com"))
    _unavailable(client.post("/api/v1/listings", json={"kind": "goods"},
                             headers={**shop.headers, "Idempotency-Key": "ro-1"}), api=True)
    chinese = readonly.test_client()
    answer = Auth(chinese).register(email="zh@example.com")
    assert answer.status_code == 503 and "暂时" in answer.get_data(as_text=True)
    for app in (readonly, writable):
        with app.app_context():
            db.engine.dispose()
        app.extensions["payment_gateway"].dispose()
    assert count(writable, User) == 0 and count(writable, Listing) == 0


def test_a_database_outage_is_a_503_page_and_a_503_problem(tmp_path):
    with socket.socket() as probe:  # a port nothing listens on: the database refuses every connection
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app({"TESTING": True, "RATELIMIT_ENABLED": False,
                      "SQLALCHEMY_DATABASE_URI": f"postgresql+psycopg://postgres@127.0.0.1:{port}/mall",
                      "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"connect_timeout": 2}},
                      "PRIVATE_ROOT": str(tmp_path / "p"), "MEDIA_ROOT": str(tmp_path / "m"),
                      "LEDGER_CHECKPOINT_FILE": str(tmp_path / "c.jsonl"),
                      "PAYMENT_SANDBOX_URL": f"sqlite:///{tmp_path / 'sandbox.sqlite3'}"})
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    token = csrf_token(client, "/auth/login")
    _unavailable(client.post("/auth/login", data={"email": "a@example.com", "password": "x" * 12,
                                                  "csrf_token": token}))
    _unavailable(client.get("/catalog"))
    _unavailable(client.get("/api/v1/orders", headers={"Authorization": "Bearer gpm_abc_def"}), api=True)
    chinese = app.test_client().get("/catalog")
    assert chinese.status_code == 503 and "暂时" in chinese.get_data(as_text=True)
    app.extensions["payment_gateway"].dispose()

"""Operators draft, preview and publish rule sets; nobody else can see the console."""
import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from mall.extensions import db
from mall.rules.models import RuleSet
from mall.web import SHANGHAI
from tests.builders import Auth, csrf_token, make_merchant, make_user


@pytest.fixture
def operator(app, client):
    make_user(app, "op@example.com", role="operator")
    Auth(client).login("op@example.com")


def test_draft_preview_publish(client, app, operator):
    page = client.get("/admin/rules/new").get_data(as_text=True)
    assert "points_per_yuan" in page
    with app.app_context():
        doc = db.session.scalar(select(RuleSet)).document
    doc = {**doc, "birthday": {"points": 888}}
    saved = client.post("/admin/rules/new", data={"document": json.dumps(doc), "note": "bigger birthday",
                                                  "csrf_token": csrf_token(client, "/admin/rules/new")})
    assert saved.status_code == 303
    draft_url = saved.headers["Location"]
    preview = client.get(draft_url, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "888" in preview
    assert "888" not in client.get("/rules").get_data(as_text=True)  # not public before it takes effect
    draft_id = int(draft_url.rsplit("/", 1)[1])
    past = (datetime.now(SHANGHAI) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    client.post(f"/admin/rules/{draft_id}/publish", data={"effective_from": past, "csrf_token": csrf_token(client, draft_url)})
    with app.app_context():
        assert db.session.get(RuleSet, draft_id).status == "draft"  # retroactive publication refused
    future = (datetime.now(SHANGHAI) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    done = client.post(f"/admin/rules/{draft_id}/publish", data={"effective_from": future, "csrf_token": csrf_token(client, draft_url)})
    assert done.status_code == 303
    with app.app_context():
        published = db.session.get(RuleSet, draft_id)
        assert (published.status, published.version) == ("published", 2)


def test_invalid_document_is_refused_with_the_reason(client, operator):
    response = client.post("/admin/rules/new", data={"document": json.dumps({"tiers": []}),
                                                     "csrf_token": csrf_token(client, "/admin/rules/new")},
                           headers={"Accept-Language": "en"})
    assert response.status_code == 422
    assert "at least one tier" in response.get_data(as_text=True)
    bad_json = client.post("/admin/rules/new", data={"document": "{", "csrf_token": csrf_token(client, "/admin/rules/new")},
                           headers={"Accept-Language": "en"})
    assert bad_json.status_code == 422
    assert "Not valid JSON" in bad_json.get_data(as_text=True)


@pytest.mark.parametrize("role", ["member", "merchant", None])
def test_console_is_404_for_non_operators(client, app, role):
    if role:

        merchant_id = make_merchant(app) if role == "merchant" else None
        make_user(app, "x@example.com", role=role, merchant_id=merchant_id)
        Auth(client).login("x@example.com")
    for url in ("/admin/", "/admin/rules", "/admin/rules/new", "/admin/rules/1"):
        response = client.get(url)
        assert response.status_code == 404, url  # signed out too: the console does not exist

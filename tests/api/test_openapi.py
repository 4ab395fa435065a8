"""The OpenAPI document matches the real routes, and a schemathesis run finds no server error."""
import re

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

from tests.api.conftest import Shop


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


@pytest.fixture
def api_schema(app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


@pytest.fixture
def api_shop(app):
    return Shop(app, "fuzz")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_never_answers_with_a_server_error(case, api_shop, app):
    case.headers = {**(case.headers or {}), **api_shop.headers}
    case.call_and_validate(checks=[not_a_server_error, status_code_conformance, content_type_conformance])

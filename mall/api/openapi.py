"""The OpenAPI 3.1 document of the merchant API, written beside the code it describes
(tests check that its paths are exactly the API's routes)."""

PROBLEM = {"$ref": "#/components/responses/Problem"}


def _problem_responses(*codes):
    return {str(code): PROBLEM for code in codes}


ITEM = {
    "type": "object",
    "required": ["category", "amount_fen"],
    "properties": {
        "sku": {"type": "string", "maxLength": 64},
        "name": {"type": "string", "maxLength": 200},
        "category": {"type": "string", "minLength": 1, "maxLength": 40, "pattern": r"\S"},
        "green": {"type": "boolean"},
        "quantity": {"type": "integer", "minimum": 1, "maximum": 100000},
        "amount_fen": {"type": "integer", "minimum": 0, "maximum": 10**10},
    },
}

PURCHASE_IN = {
    "type": "object",
    "required": ["member_code", "total_fen"],
    "properties": {
        "member_code": {"type": "string", "minLength": 1, "maxLength": 16},
        "total_fen": {"type": "integer", "minimum": 1, "maximum": 10**10},
        "occurred_at": {"type": "string", "format": "date-time",
                        "description": "With an offset; at most 30 days ago. Defaults to now."},
        "items": {"type": "array", "maxItems": 200, "items": ITEM,
                  "description": "If given, the amounts must add up to total_fen."},
    },
}

BREAKDOWN = {"type": "array", "items": {"type": "object", "required": ["rule", "points"],
                                        "properties": {"rule": {"type": "string"},
                                                       "points": {"type": "integer", "minimum": 0}}}}

PURCHASE_OUT = {
    "type": "object",
    "required": ["id", "points", "breakdown", "rule_set_version"],
    "properties": {
        "id": {"type": "integer"}, "member_code": {"type": "string"}, "total_fen": {"type": "integer"},
        "occurred_at": {"type": "string", "format": "date-time"}, "points": {"type": "integer"},
        "breakdown": BREAKDOWN, "rule_set_version": {"type": "integer"},
        "refunded_fen": {"type": "integer"}, "clawed_back": {"type": "integer"},
    },
}

IDEMPOTENCY_KEY = {"name": "Idempotency-Key", "in": "header", "required": True,
                   "description": "Unique per request; a retry with the same key and body replays the first answer.",
                   "schema": {"type": "string", "minLength": 1, "maxLength": 255}}

PURCHASE_ID = {"name": "purchase_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}


def document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Green Points Mall merchant API", "version": "1.0.0",
                 "description": "Report purchases so members earn points, and refund them. Errors are "
                                "RFC 9457 problem details with a stable `type`."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/purchases/quote": {"post": {
                "operationId": "quotePurchase", "summary": "Points a purchase would earn, without awarding them",
                "requestBody": {"required": True, "content": {"application/json": {"schema": PURCHASE_IN}}},
                "responses": {"200": {"description": "The quote", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["points", "breakdown", "rule_set_version"],
                    "properties": {"points": {"type": "integer"}, "breakdown": BREAKDOWN,
                                   "rule_set_version": {"type": "integer"}, "tier": {"type": "string"},
                                   "notes": {"type": "array", "items": {"type": "string"}}}}}}},
                              **_problem_responses(400, 401, 403, 404, 422)}}},
            "/api/v1/purchases": {"post": {
                "operationId": "createPurchase", "summary": "Report a purchase; points are awarded",
                "parameters": [IDEMPOTENCY_KEY],
                "requestBody": {"required": True, "content": {"application/json": {"schema": PURCHASE_IN}}},
                "responses": {"201": {"description": "Recorded and awarded",
                                      "content": {"application/json": {"schema": PURCHASE_OUT}}},
                              **_problem_responses(400, 401, 403, 404, 409, 422)}}},
            "/api/v1/purchases/{purchase_id}": {"get": {
                "operationId": "getPurchase", "summary": "One of your purchases",
                "parameters": [PURCHASE_ID],
                "responses": {"200": {"description": "The purchase",
                                      "content": {"application/json": {"schema": PURCHASE_OUT}}},
                              **_problem_responses(401, 403, 404)}}},
            "/api/v1/purchases/{purchase_id}/refunds": {"post": {
                "operationId": "refundPurchase", "summary": "Refund all or part of a purchase",
                "parameters": [PURCHASE_ID, IDEMPOTENCY_KEY],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["amount_fen"],
                    "properties": {"amount_fen": {"type": "integer", "minimum": 1, "maximum": 10**10}}}}}},
                "responses": {"201": {"description": "Refund recorded; points clawed back in proportion",
                                      "content": {"application/json": {"schema": {
                                          "type": "object",
                                          "required": ["id", "purchase_id", "amount_fen", "points_clawed_back", "shortfall"],
                                          "properties": {"id": {"type": "integer"}, "purchase_id": {"type": "integer"},
                                                         "amount_fen": {"type": "integer"},
                                                         "points_clawed_back": {"type": "integer"},
                                                         "shortfall": {"type": "integer"},
                                                         "purchase": PURCHASE_OUT}}}}},
                              **_problem_responses(400, 401, 403, 404, 409, 422)}}},
            "/api/v1/openapi.json": {"get": {
                "operationId": "openapi", "summary": "This document", "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1 document",
                                      "content": {"application/json": {"schema": {"type": "object"}}}}}}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "A merchant API key from the back office"}},
            "responses": {"Problem": {"description": "Problem details (RFC 9457)", "content": {
                "application/problem+json": {"schema": {
                    "type": "object", "required": ["type", "title", "status"],
                    "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                                   "status": {"type": "integer"}, "detail": {"type": "string"},
                                   "errors": {"type": "array", "items": {"type": "object"}}}}}}}},
        },
    }

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


LISTING_FIELDS = {
    "kind": {"type": "string", "enum": ["goods", "service", "topup", "stay", "coupon"]},
    "category": {"type": "string", "minLength": 1, "maxLength": 40, "pattern": r"\S"},
    "title_zh": {"type": "string", "minLength": 1, "maxLength": 160, "pattern": r"\S"},
    "title_en": {"type": "string", "minLength": 1, "maxLength": 160, "pattern": r"\S"},
    "description_zh": {"type": "string", "maxLength": 4000},
    "description_en": {"type": "string", "maxLength": 4000},
    "points_price": {"type": ["integer", "null"], "minimum": 1, "maximum": 10**8},
    "mix_points": {"type": ["integer", "null"], "minimum": 1, "maximum": 10**8},
    "cash_fen": {"type": "integer", "minimum": 0, "maximum": 10**9},
    "sale_points_price": {"type": ["integer", "null"], "minimum": 1, "maximum": 10**8},
    "sale_starts_at": {"type": ["string", "null"], "format": "date-time"},
    "sale_ends_at": {"type": ["string", "null"], "format": "date-time"},
    "stock": {"type": ["integer", "null"], "minimum": 0, "maximum": 10**7, "description": "null: unlimited"},
    "limit_per_member": {"type": ["integer", "null"], "minimum": 1, "maximum": 1000},
    "limit_period": {"type": "string", "enum": ["day", "week", "month", "year", "ever"]},
    "available_from": {"type": ["string", "null"], "format": "date-time"},
    "early_access_from": {"type": ["string", "null"], "format": "date-time"},
    "coupon_valid_days": {"type": ["integer", "null"], "minimum": 1, "maximum": 3650},
    "cancel_hours": {"type": "integer", "minimum": 0, "maximum": 8760},
    "green": {"type": "boolean"},
    "co2e_g": {"type": "integer", "minimum": 0, "maximum": 10**9},
}
LISTING_OUT = {"type": "object", "required": ["id", "status", "kind", "title_zh", "title_en"],
               "properties": {"id": {"type": "integer"}, "status": {"type": "string"},
                              "redemptions": {"type": "integer"}, **LISTING_FIELDS}}
LISTING_ID = {"name": "listing_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}


ORDER_OUT = {"type": "object", "required": ["id", "status", "points", "lines"], "properties": {
    "id": {"type": "integer"}, "status": {"type": "string", "enum": ["placed", "fulfilled", "cancelled"]},
    "points": {"type": "integer"}, "cash_fen": {"type": "integer"}, "compensation": {"type": "integer"},
    "delivery": {"type": "object"}, "lines": {"type": "array", "items": {"type": "object"}}}}
ORDER_ID = {"name": "order_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}


BILL_OUT = {"type": "object", "required": ["id", "status", "bill_fen", "points_requested"], "properties": {
    "id": {"type": "integer"}, "status": {"type": "string", "enum": ["pending", "approved", "declined", "expired"]},
    "bill_fen": {"type": "integer"}, "points_requested": {"type": "integer"}, "points_used": {"type": "integer"},
    "cash_due_fen": {"type": "integer"}, "reference": {"type": "string"}, "expires_at": {"type": "string"}}}
BILL_ID = {"name": "bill_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}


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
            "/api/v1/listings": {
                "get": {"operationId": "listListings", "summary": "Your listings, newest first",
                        "parameters": [{"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                                       {"name": "status", "in": "query", "schema": {
                                           "type": "string", "enum": ["draft", "active", "paused", "archived"]}}],
                        "responses": {"200": {"description": "A page of listings", "content": {"application/json": {
                            "schema": {"type": "object", "properties": {"data": {"type": "array", "items": LISTING_OUT},
                                                                        "page": {"type": "integer"}}}}}},
                                      **_problem_responses(401, 403)}},
                "post": {"operationId": "createListing", "summary": "Create a listing (a draft unless status is active)",
                         "parameters": [IDEMPOTENCY_KEY],
                         "requestBody": {"required": True, "content": {"application/json": {"schema": {
                             "type": "object", "required": ["kind", "category", "title_zh", "title_en"],
                             "properties": {**LISTING_FIELDS, "status": {"type": "string", "enum": ["draft", "active"]}}}}}},
                         "responses": {"201": {"description": "Created",
                                               "content": {"application/json": {"schema": LISTING_OUT}}},
                                       **_problem_responses(400, 401, 403, 409, 422)}}},
            "/api/v1/listings/{listing_id}": {"patch": {
                "operationId": "updateListing",
                "summary": "Change fields, adjust stock with stock_delta (safe beside checkouts), or change status",
                "parameters": [LISTING_ID, IDEMPOTENCY_KEY],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "properties": {
                        **LISTING_FIELDS, "stock_delta": {"type": "integer", "minimum": -10**7, "maximum": 10**7},
                        "status": {"type": "string", "enum": ["active", "paused", "archived"]}}}}}},
                "responses": {"200": {"description": "The listing", "content": {"application/json": {"schema": LISTING_OUT}}},
                              **_problem_responses(400, 401, 403, 404, 409, 422)}}},
            "/api/v1/orders": {"get": {
                "operationId": "listOrders", "summary": "Your orders (placed ones by default)",
                "parameters": [{"name": "status", "in": "query", "schema": {
                    "type": "string", "enum": ["placed", "fulfilled", "cancelled", "all"]}}],
                "responses": {"200": {"description": "Orders", "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"data": {"type": "array", "items": ORDER_OUT}}}}}},
                              **_problem_responses(401, 403)}}},
            "/api/v1/orders/{order_id}/fulfil": {"post": {
                "operationId": "fulfilOrder", "summary": "Mark an order fulfilled",
                "parameters": [ORDER_ID, IDEMPOTENCY_KEY],
                "responses": {"200": {"description": "The order", "content": {"application/json": {"schema": ORDER_OUT}}},
                              **_problem_responses(400, 401, 403, 404, 409, 422)}}},
            "/api/v1/orders/{order_id}/cancel": {"post": {
                "operationId": "cancelOrder",
                "summary": "Cancel an order: points back to the member plus compensation",
                "parameters": [ORDER_ID, IDEMPOTENCY_KEY],
                "requestBody": {"required": False, "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"reason": {"type": "string", "maxLength": 200}}}}}},
                "responses": {"200": {"description": "The order", "content": {"application/json": {"schema": ORDER_OUT}}},
                              **_problem_responses(400, 401, 403, 404, 409, 422)}}},
            "/api/v1/bill-payments": {"post": {
                "operationId": "createBillPayment",
                "summary": "Ask a member to pay part of a bill with points (100 points = ¥1, at most 50% by default)",
                "parameters": [IDEMPOTENCY_KEY],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["member_code", "bill_fen"], "properties": {
                        "member_code": {"type": "string", "minLength": 1, "maxLength": 16},
                        "bill_fen": {"type": "integer", "minimum": 1, "maximum": 10**9},
                        "points_fen": {"type": "integer", "minimum": 1, "maximum": 10**9,
                                       "description": "The part of the bill to pay with points; default the maximum"},
                        "reference": {"type": "string", "maxLength": 64}}}}}},
                "responses": {"201": {"description": "Waiting for the member",
                                      "content": {"application/json": {"schema": BILL_OUT}}},
                              **_problem_responses(400, 401, 403, 404, 409, 422)}}},
            "/api/v1/bill-payments/{bill_id}": {"get": {
                "operationId": "getBillPayment", "summary": "A payment request's status",
                "parameters": [BILL_ID],
                "responses": {"200": {"description": "The request", "content": {"application/json": {"schema": BILL_OUT}}},
                              **_problem_responses(401, 403, 404)}}},
            "/api/v1/bill-payments/{bill_id}/confirm": {"post": {
                "operationId": "confirmBillPayment", "summary": "Approve with the member's one-time code",
                "parameters": [BILL_ID, IDEMPOTENCY_KEY],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["code"], "properties": {"code": {"type": "string"}}}}}},
                "responses": {"200": {"description": "Approved: points used and cash due",
                                      "content": {"application/json": {"schema": BILL_OUT}}},
                              **_problem_responses(400, 401, 403, 404, 409, 422)}}},
            "/api/v1/orders/{order_id}/refunds": {"post": {
                "operationId": "refundOrder",
                "summary": "Refund some units of some lines: points back to their lots, cash in proportion",
                "parameters": [ORDER_ID, IDEMPOTENCY_KEY],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["lines"], "properties": {"lines": {
                        "type": "array", "minItems": 1, "items": {"type": "object", "required": ["line_id"], "properties": {
                            "line_id": {"type": "integer", "minimum": 1},
                            "quantity": {"type": "integer", "minimum": 1, "maximum": 99}}}}}}}}},
                "responses": {"200": {"description": "The order after the refund",
                                      "content": {"application/json": {"schema": ORDER_OUT}}},
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

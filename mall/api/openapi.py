"""The OpenAPI 3.1 document of the merchant API, written beside the code it describes
(tests check that its paths are exactly the API's routes)."""

PROBLEM = {"$ref": "#/components/responses/Problem"}


PROBLEM_RESPONSE = {"description": "Problem details (RFC 9457)", "content": {
    "application/problem+json": {"schema": {
        "type": "object", "required": ["type", "title", "status"],
        "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                       "status": {"type": "integer"}, "detail": {"type": "string"},
                       "errors": {"type": "array", "items": {"type": "object"}},
                       "attempts_left": {"type": "integer"}}}}}}


def _problem_responses(*codes):
    """Problem responses for the given statuses, and the 405 every path answers to an undeclared method."""
    return {**{str(code): PROBLEM for code in codes}, "405": {"$ref": "#/components/responses/MethodNotAllowed"}}


# Text refuses control characters (multi-line text keeps line breaks and tabs); required text is not
# blank. A lone surrogate anywhere in a body makes it malformed JSON text (400).
LINE = r"^[^\x00-\x1f\x7f-\x9f]*$"
LINES = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
FILLED_LINE = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
MEMBER_CODE = {"type": "string", "minLength": 1, "maxLength": 16, "pattern": FILLED_LINE}


ITEM = {
    "type": "object",
    "required": ["category", "amount_fen"],
    "properties": {
        "sku": {"type": ["string", "null"], "maxLength": 64, "pattern": LINE},
        "name": {"type": ["string", "null"], "maxLength": 200, "pattern": LINE},
        "category": {"type": "string", "minLength": 1, "maxLength": 40, "pattern": FILLED_LINE},
        "green": {"type": "boolean"},
        "quantity": {"type": "integer", "minimum": 1, "maximum": 100000},
        "amount_fen": {"type": "integer", "minimum": 0, "maximum": 10**10},
    },
}

PURCHASE_IN = {
    "type": "object",
    "required": ["member_code", "total_fen"],
    "properties": {
        "member_code": MEMBER_CODE,
        "total_fen": {"type": "integer", "minimum": 1, "maximum": 10**10},
        "occurred_at": {"type": ["string", "null"], "format": "date-time",
                        "description": "With an offset; at most 30 days ago and not in the future (else 422). "
                                       "Defaults to now."},
        "items": {"type": ["array", "null"], "maxItems": 200, "items": ITEM,
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
                   "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"\S"}}

PURCHASE_ID = {"name": "purchase_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}


LISTING_INSTANT = {"type": ["string", "null"], "format": "date-time",
                   "description": "An instant with its offset; converted to UTC it must fall within the years "
                                  "0001 to 9999 (else 422)."}
LISTING_FIELDS = {
    "kind": {"type": "string", "enum": ["goods", "service", "topup", "stay", "coupon"]},
    "category": {"type": "string", "minLength": 1, "maxLength": 40, "pattern": FILLED_LINE},
    "title_zh": {"type": "string", "minLength": 1, "maxLength": 160, "pattern": FILLED_LINE},
    "title_en": {"type": "string", "minLength": 1, "maxLength": 160, "pattern": FILLED_LINE},
    "description_zh": {"type": ["string", "null"], "maxLength": 4000, "pattern": LINES},
    "description_en": {"type": ["string", "null"], "maxLength": 4000, "pattern": LINES},
    "points_price": {"type": ["integer", "null"], "minimum": 1, "maximum": 10**8},
    "mix_points": {"type": ["integer", "null"], "minimum": 1, "maximum": 10**8},
    "cash_fen": {"type": ["integer", "null"], "minimum": 0, "maximum": 10**9, "description": "null: 0"},
    "sale_points_price": {"type": ["integer", "null"], "minimum": 1, "maximum": 10**8},
    "sale_starts_at": LISTING_INSTANT,
    "sale_ends_at": LISTING_INSTANT,
    "stock": {"type": ["integer", "null"], "minimum": 0, "maximum": 10**7, "description": "null: unlimited"},
    "limit_per_member": {"type": ["integer", "null"], "minimum": 1, "maximum": 1000},
    "limit_period": {"enum": ["day", "week", "month", "year", "ever", None], "description": "null: month"},
    "available_from": LISTING_INSTANT,
    "early_access_from": LISTING_INSTANT,
    "coupon_valid_days": {"type": ["integer", "null"], "minimum": 1, "maximum": 3650},
    "cancel_hours": {"type": ["integer", "null"], "minimum": 0, "maximum": 8760, "description": "null: 0"},
    "green": {"type": "boolean"},
    "co2e_g": {"type": ["integer", "null"], "minimum": 0, "maximum": 10**9, "description": "null: 0"},
}
UNSET = {"type": "null"}
# How the fields of a listing go together. A new listing must satisfy them; a change that would break
# them with the fields the listing already has is refused with 409 `listing-conflict`.
LISTING_RULES = [
    {"anyOf": [{"required": ["points_price"], "properties": {"points_price": {"type": "integer"}}},
               {"required": ["mix_points"], "properties": {"mix_points": {"type": "integer"}}}],
     "description": "A price: points_price, mix_points (points + cash), or both"},
    {"anyOf": [{"properties": {"mix_points": UNSET, "cash_fen": {"enum": [0, None]}}},
               {"required": ["mix_points", "cash_fen"],
                "properties": {"mix_points": {"type": "integer"}, "cash_fen": {"type": "integer", "minimum": 1}}}],
     "description": "mix_points and a cash_fen above 0 go together"},
    {"anyOf": [{"properties": {"sale_points_price": UNSET, "sale_starts_at": UNSET, "sale_ends_at": UNSET}},
               {"required": ["points_price", "sale_points_price", "sale_starts_at", "sale_ends_at"],
                "properties": {"points_price": {"type": "integer"}, "sale_points_price": {"type": "integer"},
                               "sale_starts_at": {"type": "string"}, "sale_ends_at": {"type": "string"}}}],
     "description": "A sale has a price below points_price, a start and a later end (else 422)"},
    {"anyOf": [{"properties": {"early_access_from": UNSET}},
               {"required": ["early_access_from", "available_from"],
                "properties": {"early_access_from": {"type": "string"}, "available_from": {"type": "string"}}}],
     "description": "early_access_from is before available_from (else 422)"},
    {"anyOf": [{"properties": {"kind": {"enum": ["goods", "service", "topup", "stay"]}}},
               {"required": ["coupon_valid_days"], "properties": {"coupon_valid_days": {"type": "integer"}}}],
     "description": "A coupon says for how many days it is valid"},
]
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
    "id": {"type": "integer"}, "status": {"type": "string", "enum": ["pending", "approved", "declined", "expired", "voided"]},
    "bill_fen": {"type": "integer"}, "points_requested": {"type": "integer"}, "points_used": {"type": "integer"},
    "cash_due_fen": {"type": "integer"}, "reference": {"type": "string"}, "expires_at": {"type": "string"}}}
BILL_ID = {"name": "bill_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}


def _link(operation_id: str, description: str, body: dict | None = None, **parameters: str) -> dict:
    """A link: an operation that can follow this response, with the values it takes from it."""
    return {"operationId": operation_id, "description": description, "parameters": parameters,
            **({"requestBody": body} if body else {})}


def purchase_links(purchase_id: str, *operations: str) -> dict:
    links = {"GetPurchase": _link("getPurchase", "Read the purchase", purchase_id=purchase_id),
             "RefundPurchase": _link("refundPurchase", "Refund all or part of it", purchase_id=purchase_id)}
    return {name: links[name] for name in operations or links}


def listing_links(listing_id: str) -> dict:
    return {"UpdateListing": _link("updateListing", "Change the listing", listing_id=listing_id)}


def order_links(order: str) -> dict:
    """Links from an order at the JSON pointer ``order`` of the response."""
    order_id = f"$response.body#{order}/id"
    return {"FulfilOrder": _link("fulfilOrder", "Mark the order fulfilled", order_id=order_id),
            "CancelOrder": _link("cancelOrder", "Cancel the order", order_id=order_id),
            "RefundOrder": _link("refundOrder", "Refund a unit of its first line",
                                 {"lines": [{"line_id": f"$response.body#{order}/lines/0/line_id"}]}, order_id=order_id)}


def bill_links(*operations: str) -> dict:
    links = {"GetBillPayment": _link("getBillPayment", "Poll the request's status", bill_id="$response.body#/id"),
             "ConfirmBillPayment": _link("confirmBillPayment", "Approve it with the member's one-time code",
                                         bill_id="$response.body#/id")}
    return {name: links[name] for name in operations or links}


def document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Green Points Mall merchant API", "version": "1.0.0",
                 "description": "Report purchases so members earn points, and refund them. Errors are "
                                "RFC 9457 problem details with a stable `type`. A 503 with `Retry-After` "
                                "changed nothing and may be retried with the same Idempotency-Key: type "
                                "`busy` when others were changing the same records at that moment, "
                                "`database-unavailable` when the database could not be reached."},
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
                                      "content": {"application/json": {"schema": PURCHASE_OUT}},
                                      "links": purchase_links("$response.body#/id")},
                              **_problem_responses(400, 401, 403, 404, 409, 422)}}},
            "/api/v1/channel-events": {"post": {
                "operationId": "createChannelEvent",
                "summary": "An earning channel reports a member's green spend; points are awarded",
                "description": "Only the API key of an earning channel (a bank's green card programme, a transit "
                               "operator, an EV charging network, registered by the programme's operators) may "
                               "post here; any other key is answered 403 `not-a-channel`. The member is named by "
                               "`member_code`, or by `account`: the card or transit account number the member "
                               "linked in their account (404 `unknown-account` if none did). The spend becomes a "
                               "purchase at the channel, awarded by the published rules (transit and charging "
                               "are green categories), plus the channel's points per ride or per kWh "
                               "(`quantity`) as a `channel` line of the breakdown. `reference` is the channel's "
                               "own id of the event: the same one twice is 409 `duplicate-reference`.",
                "parameters": [IDEMPOTENCY_KEY],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["reference", "amount_fen"],
                    "properties": {
                        "reference": {"type": "string", "minLength": 1, "maxLength": 64},
                        "member_code": {"type": "string", "maxLength": 16},
                        "account": {"type": "string", "maxLength": 40,
                                    "description": "a card or transit account number the member linked"},
                        "amount_fen": {"type": "integer", "minimum": 1, "maximum": 10**10,
                                       "description": "what the member paid: fare, charging bill, card spend"},
                        "quantity": {"type": "integer", "minimum": 1, "maximum": 10000,
                                     "description": "rides (transit) or whole kWh (charging); not for cards"},
                        "category": {"type": "string", "maxLength": 40,
                                     "description": "cards only: the purchase's category (e.g. appliances)"},
                        "green": {"type": "boolean", "description": "cards only: a green item"},
                        "occurred_at": {"type": "string", "format": "date-time"}}}}}},
                "responses": {"201": {"description": "Recorded and awarded", "content": {"application/json": {
                    "schema": {"type": "object", "required": ["id", "reference", "quantity", "purchase"],
                               "properties": {"id": {"type": "integer"}, "reference": {"type": "string"},
                                              "quantity": {"type": "integer"}, "purchase": PURCHASE_OUT}}}}},
                              **_problem_responses(400, 401, 403, 404, 409, 422)}}},
            "/api/v1/purchases/{purchase_id}": {"get": {
                "operationId": "getPurchase", "summary": "One of your purchases",
                "parameters": [PURCHASE_ID],
                "responses": {"200": {"description": "The purchase",
                                      "content": {"application/json": {"schema": PURCHASE_OUT}},
                                      "links": purchase_links("$response.body#/id", "RefundPurchase")},
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
                                                         "purchase": PURCHASE_OUT}}}},
                                      "links": purchase_links("$response.body#/purchase_id")},
                              **_problem_responses(400, 401, 403, 404, 409, 422)}}},
            "/api/v1/listings": {
                "get": {"operationId": "listListings", "summary": "Your listings, newest first",
                        "description": "Any other query parameter is refused (400 `invalid-query`).",
                        "parameters": [{"name": "page", "in": "query",
                                        "schema": {"type": "integer", "minimum": 1, "maximum": 10**6}},
                                       {"name": "status", "in": "query", "schema": {
                                           "type": "string", "enum": ["draft", "active", "paused", "archived"]}}],
                        "responses": {"200": {"description": "A page of listings", "content": {"application/json": {
                            "schema": {"type": "object", "properties": {"data": {"type": "array", "items": LISTING_OUT},
                                                                        "page": {"type": "integer"}}}}},
                                              "links": listing_links("$response.body#/data/0/id")},
                                      **_problem_responses(400, 401, 403)}},
                "post": {"operationId": "createListing", "summary": "Create a listing (a draft unless status is active)",
                         "parameters": [IDEMPOTENCY_KEY],
                         "requestBody": {"required": True, "content": {"application/json": {"schema": {
                             "type": "object", "required": ["kind", "category", "title_zh", "title_en"],
                             "properties": {**LISTING_FIELDS, "status": {"enum": ["draft", "active", None]}},
                             "allOf": LISTING_RULES}}}},
                         "responses": {"201": {"description": "Created",
                                               "content": {"application/json": {"schema": LISTING_OUT}},
                                               "links": listing_links("$response.body#/id")},
                                       **_problem_responses(400, 401, 403, 409, 422)}}},
            "/api/v1/listings/{listing_id}": {"patch": {
                "operationId": "updateListing",
                "summary": "Change fields, adjust stock with stock_delta (safe beside checkouts), or change status",
                "parameters": [LISTING_ID, IDEMPOTENCY_KEY],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "properties": {
                        **LISTING_FIELDS, "stock_delta": {"type": ["integer", "null"], "minimum": -10**7, "maximum": 10**7},
                        "status": {"enum": ["active", "paused", "archived", None]}},
                    "not": {"required": ["stock", "stock_delta"], "properties": {"stock_delta": {"type": "integer"}}},
                    "description": "stock or stock_delta, not both. The fields must go together with the listing's "
                                   "others as for a new listing (a price, mix_points with cash_fen, a whole sale, "
                                   "early access before availability, a coupon's validity): else 409 "
                                   "`listing-conflict`."}}}},
                "responses": {"200": {"description": "The listing", "content": {"application/json": {"schema": LISTING_OUT}},
                                      "links": listing_links("$response.body#/id")},
                              **_problem_responses(400, 401, 403, 404, 409, 422)}}},
            "/api/v1/orders": {"get": {
                "operationId": "listOrders", "summary": "Your orders (placed ones by default)",
                "description": "Any other query parameter is refused (400 `invalid-query`).",
                "parameters": [{"name": "status", "in": "query", "schema": {
                    "type": "string", "enum": ["placed", "fulfilled", "cancelled", "all"]}}],
                "responses": {"200": {"description": "Orders", "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"data": {"type": "array", "items": ORDER_OUT}}}}},
                                      "links": order_links("/data/0")},
                              **_problem_responses(400, 401, 403)}}},
            "/api/v1/orders/{order_id}/fulfil": {"post": {
                "operationId": "fulfilOrder", "summary": "Mark an order fulfilled",
                "parameters": [ORDER_ID, IDEMPOTENCY_KEY],
                "responses": {"200": {"description": "The order", "content": {"application/json": {"schema": ORDER_OUT}},
                                      "links": order_links("")},
                              **_problem_responses(400, 401, 403, 404, 409, 422)}}},
            "/api/v1/orders/{order_id}/cancel": {"post": {
                "operationId": "cancelOrder",
                "summary": "Cancel an order: points back to the member plus compensation",
                "parameters": [ORDER_ID, IDEMPOTENCY_KEY],
                "requestBody": {"required": False, "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"reason": {"type": "string", "maxLength": 200, "pattern": LINE}}}}}},
                "responses": {"200": {"description": "The order", "content": {"application/json": {"schema": ORDER_OUT}},
                                      "links": order_links("")},
                              **_problem_responses(400, 401, 403, 404, 409, 422)}}},
            "/api/v1/bill-payments": {"post": {
                "operationId": "createBillPayment",
                "summary": "Ask a member to pay part of a bill with points (100 points = ¥1, at most 50% by default)",
                "parameters": [IDEMPOTENCY_KEY],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["member_code", "bill_fen"], "properties": {
                        "member_code": MEMBER_CODE,
                        "bill_fen": {"type": "integer", "minimum": 1, "maximum": 10**9},
                        "points_fen": {"type": ["integer", "null"], "minimum": 1, "maximum": 10**9,
                                       "description": "The part of the bill to pay with points, at most the "
                                                      "published share of bill_fen (else 422 `over-cap`); "
                                                      "default (or null) the maximum"},
                        "reference": {"type": "string", "maxLength": 64, "pattern": LINE}}}}}},
                "responses": {"201": {"description": "Waiting for the member",
                                      "content": {"application/json": {"schema": BILL_OUT}},
                                      "links": bill_links()},
                              **_problem_responses(400, 401, 403, 404, 409, 422)}}},
            "/api/v1/bill-payments/{bill_id}": {"get": {
                "operationId": "getBillPayment", "summary": "A payment request's status",
                "parameters": [BILL_ID],
                "responses": {"200": {"description": "The request", "content": {"application/json": {"schema": BILL_OUT}},
                                      "links": bill_links("ConfirmBillPayment")},
                              **_problem_responses(401, 403, 404)}}},
            "/api/v1/bill-payments/{bill_id}/confirm": {"post": {
                "operationId": "confirmBillPayment", "summary": "Approve with the member's one-time code",
                "description": "A code is valid for a few minutes (5 by default). Every try is counted: a wrong "
                               "code (`wrong-code`) or one that is not 6 digits 0-9 (`invalid-code`) is 422 with "
                               "`attempts_left`; the last allowed wrong try (5 by default) voids the request "
                               "(409 `voided`, status `voided`, the member is notified), and so does every try "
                               "after it. An expired request is 422 `expired`, a decided one 409 `decided`; "
                               "a member with no points to spend is 409 `insufficient-points`. "
                               "Tries are rate-limited per API key and per member (429 with Retry-After).",
                "parameters": [BILL_ID, IDEMPOTENCY_KEY],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["code"],
                    "properties": {"code": {"type": "string", "pattern": "^[0-9]{6}$"}}}}}},
                "responses": {"200": {"description": "Approved: points used and cash due",
                                      "content": {"application/json": {"schema": BILL_OUT}},
                                      "links": bill_links("GetBillPayment")},
                              **_problem_responses(400, 401, 403, 404, 409, 422),
                              "429": {"$ref": "#/components/responses/TooManyRequests"}}}},
            "/api/v1/orders/{order_id}/refunds": {"post": {
                "operationId": "refundOrder",
                "summary": "Refund some units of some lines: points back to their lots, cash in proportion",
                "parameters": [ORDER_ID, IDEMPOTENCY_KEY],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["lines"], "properties": {"lines": {
                        "type": "array", "minItems": 1, "items": {"type": "object", "required": ["line_id"], "properties": {
                            "line_id": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
                            "quantity": {"type": "integer", "minimum": 1, "maximum": 99}}}}}}}}},
                "responses": {"200": {"description": "The order after the refund",
                                      "content": {"application/json": {"schema": ORDER_OUT}},
                                      "links": order_links("")},
                              **_problem_responses(400, 401, 403, 404, 409, 422)}}},
            "/api/v1/openapi.json": {"get": {
                "operationId": "openapi", "summary": "This document", "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1 document",
                                      "content": {"application/json": {"schema": {"type": "object"}}}},
                              **_problem_responses()}}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "A merchant API key from the back office"}},
            "responses": {"Problem": PROBLEM_RESPONSE, "MethodNotAllowed": {
                **PROBLEM_RESPONSE, "description": "The path does not take this method",
                "headers": {"Allow": {"description": "The methods it takes", "schema": {"type": "string"}}}},
                "TooManyRequests": {
                **PROBLEM_RESPONSE, "description": "Too many tries: wait as long as Retry-After says",
                "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}}},
        },
    }

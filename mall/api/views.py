"""Merchant JSON API v1: bearer keys, idempotent POSTs, RFC 9457 problem details."""
import json
from decimal import Decimal
from functools import wraps

from flask import Blueprint, Response, current_app, g, request
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import OperationalError, TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from mall.account.models import User
from mall.audit import service as audit
from mall.api import service
from mall.api.problems import domain_problem, domain_problem_body as _domain_problem_body, http_problem, dump as _dump, json_response as _response, problem, problem_body
from mall.api.openapi import document
from mall.catalog import service as catalog
from mall.catalog.models import STATUSES as LISTING_STATUSES
from mall.checkout import bills, limits
from mall.checkout import service as checkout
from mall.checkout.models import ORDER_STATUSES
from mall.errors import DomainError
from mall.extensions import csrf, db
from mall.forms import MAX_ID
from mall.rules import service as rules
from mall.rules.models import Purchase
from mall.validation import LONE_SURROGATE, has_control_characters, one_of, page_number, strict_query

api = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(api)

PUBLIC = {"api.openapi"}
MAX_BODY = 256 * 1024


class BadJson(Exception):
    pass


def _reject_constant(name):
    raise BadJson(f"{name} is not allowed in JSON")


def _number(text: str):
    """A JSON number without a fractional part is an integer however it is written (``100.0``, ``1e2``),
    as JSON Schema counts it; any other stays a float, which integer fields refuse."""
    value = Decimal(text)
    if abs(value) <= 10**18 and value == value.to_integral_value():
        return int(value)
    return float(text)


def read_json():
    """The request body as JSON, strictly: no NaN/Infinity, a size limit."""
    raw = request.get_data(cache=True)
    if len(raw) > MAX_BODY:
        raise BadJson("The body is too large.")
    try:
        doc = json.loads(raw or b"null", parse_constant=_reject_constant, parse_float=_number)
    except (ValueError, BadJson, RecursionError) as err:
        raise BadJson(f"The body is not valid JSON: {err}")
    if _holds_lone_surrogate(doc):
        raise BadJson("The body is not valid JSON text: a string holds a lone surrogate (\\ud800 to \\udfff).")
    return doc


def _holds_lone_surrogate(doc) -> bool:
    """True if a string (or a key) holds half of a UTF-16 pair: such text cannot be stored or even
    encoded as UTF-8. Walked without recursion, however deep the document."""
    pending = [doc]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if LONE_SURROGATE.search(value):
                return True
        elif isinstance(value, dict):
            pending += [*value.keys(), *value.values()]
        elif isinstance(value, list):
            pending += value
    return False


def text_member(doc, name: str) -> str:
    """A text member of a JSON body ("" when absent); anything but text, or text with control characters,
    is refused."""
    value = doc.get(name, "") if isinstance(doc, dict) else ""
    if not isinstance(value, str):
        raise DomainError(f"{name} must be a string.", code="invalid-text", field=name)
    if has_control_characters(value):
        raise DomainError(f"{name} must not contain control characters.", code="invalid-text", field=name)
    return value


@api.before_request
def authenticate():
    if request.endpoint in PUBLIC:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    merchant = service.authenticate(db.session, token.strip()) if scheme.lower() == "bearer" else None
    if merchant is None:
        response = problem(401, "unauthorized", "A valid API key is required.",
                           "Send `Authorization: Bearer <key>` with an active key of your merchant.")
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
    if merchant.status != "approved":
        return problem(403, "merchant-not-approved", "This merchant is not approved.")
    g.merchant = merchant
    audit.set_actor(audit.Actor(None, "api", merchant.id, (request.remote_addr or "")[:45]))
    return None


api.register_error_handler(HTTPException, http_problem)


@api.errorhandler(429)
def too_many_requests(err):
    """A rate limit was hit; Flask-Limiter adds Retry-After."""
    return problem(429, "too-many-requests", limits.too_many_message())


@api.errorhandler(BadJson)
def bad_json(err):
    return problem(400, "malformed-json", "The body is not valid JSON.", str(err))


api.register_error_handler(DomainError, domain_problem)


@api.errorhandler(OperationalError)
@api.errorhandler(PoolTimeout)
def database_problem(err):
    """The app's 503 (before this blueprint's catch-all below, which Flask would prefer)."""
    from mall import database_unavailable

    return database_unavailable(err)


@api.errorhandler(Exception)
def server_problem(err):
    current_app.logger.exception("API error", exc_info=err)
    db.session.rollback()
    return problem(500, "server-error", "Something went wrong on our side.", "Nothing was changed; retry.")


def _stored_error(err: Exception) -> tuple[int, str] | None:
    """Refusals are answers, stored and replayed like results; anything else is a server error."""
    if isinstance(err, DomainError):
        return err.status, _domain_problem_body(err)
    if isinstance(err, BadJson):
        return 400, problem_body(400, "malformed-json", "The body is not valid JSON.", str(err))
    return None


def idempotent(operation: str):
    """Require an Idempotency-Key; replay the stored answer; store the answer with the work."""
    def decorate(view):
        @wraps(view)
        def wrapper(**kwargs):
            key = request.headers.get("Idempotency-Key", "").strip()
            if not key or len(key) > 255 or has_control_characters(key):
                return problem(400, "idempotency-key-required",
                               "An Idempotency-Key header of 1 to 255 characters is required.")
            def work():
                status, payload = view(key=key, **kwargs)
                return status, _dump(payload)

            replayed, status, stored = service.run_once(
                db.session, g.merchant.id, f"{operation} {request.path}", key, request.get_data(cache=True),
                work, stored_error=_stored_error)
            response = _response(status, stored)
            if replayed:
                response.headers["Idempotent-Replayed"] = "true"
            return response
        return wrapper
    return decorate


def purchase_json(row: Purchase, member_code: str) -> dict:
    return {
        "id": row.id, "member_code": member_code, "total_fen": row.total_fen,
        "occurred_at": row.occurred_at.isoformat().replace("+00:00", "Z"), "points": row.points,
        "breakdown": row.breakdown, "rule_set_version": row.rule_set_version,
        "refunded_fen": row.refunded_fen, "clawed_back": row.clawed_back,
    }


@api.get("/openapi.json")
def openapi():
    """The OpenAPI 3.1 description of this API."""
    return Response(json.dumps(document(), ensure_ascii=False, indent=1), mimetype="application/json")


@api.post("/purchases/quote")
def quote_purchase():
    """The points a purchase would earn, without awarding them."""
    purchase = rules.parse_purchase(read_json())
    q = rules.quote(db.session, g.merchant, purchase)
    return Response(_dump({"points": q.award.points, "breakdown": q.award.as_json(),
                           "rule_set_version": q.rule_set.version, "tier": q.context.tier,
                           "notes": list(q.award.notes)}),
                    mimetype="application/json")


@api.post("/purchases")
@idempotent("create-purchase")
def create_purchase(key):
    """Report a member's purchase; the rules engine awards the points."""
    purchase = rules.parse_purchase(read_json())
    row = rules.award_purchase(db.session, g.merchant, purchase)
    return 201, purchase_json(row, purchase.member_code)


@api.get("/purchases/<int:purchase_id>")
def get_purchase(purchase_id):
    """One of the merchant's purchases."""
    row = rules.get_purchase_for(db.session, g.merchant, purchase_id)
    code = db.session.get(User, row.member_id).member_code
    return Response(_dump(purchase_json(row, code)), mimetype="application/json")


@api.post("/purchases/<int:purchase_id>/refunds")
@idempotent("refund-purchase")
def refund_purchase(key, purchase_id):
    """A full or partial refund: earned points are clawed back in proportion."""
    doc = read_json()
    if not isinstance(doc, dict):
        raise rules.InvalidPurchase([{"field": "", "message": "the body must be a JSON object"}])
    refund = rules.refund_purchase(db.session, g.merchant, purchase_id, doc.get("amount_fen"), key)
    row = db.session.get(Purchase, purchase_id)
    code = db.session.get(User, row.member_id).member_code
    return 201, {"id": refund.id, "purchase_id": row.id, "amount_fen": refund.amount_fen,
                 "points_clawed_back": refund.points_clawed, "shortfall": refund.shortfall,
                 "purchase": purchase_json(row, code)}


# ---------------------------------------------------------------- listings

def listing_json(item) -> dict:
    def when(value):
        return value.isoformat().replace("+00:00", "Z") if value else None

    return {
        "id": item.id, "status": item.status, "kind": item.kind, "category": item.category,
        "title_zh": item.title_zh, "title_en": item.title_en,
        "description_zh": item.description_zh, "description_en": item.description_en,
        "points_price": item.points_price, "mix_points": item.mix_points, "cash_fen": item.cash_fen,
        "sale_points_price": item.sale_points_price, "sale_starts_at": when(item.sale_starts_at),
        "sale_ends_at": when(item.sale_ends_at), "stock": item.stock,
        "limit_per_member": item.limit_per_member, "limit_period": item.limit_period,
        "available_from": when(item.available_from), "early_access_from": when(item.early_access_from),
        "coupon_valid_days": item.coupon_valid_days, "cancel_hours": item.cancel_hours,
        "green": item.green, "co2e_g": item.co2e_g, "redemptions": item.redemptions,
        "created_at": when(item.created_at), "updated_at": when(item.updated_at),
    }


STATUS_ACTIONS = {"active": "publish", "paused": "pause", "archived": "archive"}


class InvalidQuery(DomainError):
    status = 400
    code = "invalid-query"

    def __init__(self, errors: list[dict]):
        super().__init__(_l("The query string is not valid."))
        self.errors = errors


def query_args(**parsers) -> dict:
    """The query string, strictly (see mall.validation.strict_query); any problem is a 400."""
    values, errors = strict_query(request.args, parsers)
    if errors:
        raise InvalidQuery(errors)
    return values


@api.get("/listings")
def list_listings():
    """The merchant's own listings, newest first, 50 a page."""
    args = query_args(page=page_number, status=one_of(*LISTING_STATUSES))
    page = args.get("page", 1)
    rows = catalog.listings_of(db.session, g.merchant, args.get("status"), page=page)
    return Response(_dump({"data": [listing_json(r) for r in rows], "page": page}), mimetype="application/json")


@api.post("/listings")
@idempotent("create-listing")
def create_listing(key):
    """Create a listing (a draft until published with PATCH status=active)."""
    doc = read_json()
    status = doc.get("status") if isinstance(doc, dict) else None
    if status not in (None, "draft", "active"):
        raise catalog.InvalidListing([{"field": "status", "message": "must be draft or active"}])
    item = catalog.create_listing(db.session, g.merchant, doc)
    if status == "active":
        catalog.set_status(db.session, g.merchant, item.id, "publish")
    return 201, listing_json(item)


@api.patch("/listings/<int:listing_id>")
@idempotent("update-listing")
def update_listing(key, listing_id):
    """Change fields, adjust stock atomically with ``stock_delta``, or change ``status``."""
    doc = read_json()
    if not isinstance(doc, dict):
        raise catalog.InvalidListing([{"field": "", "message": "the body must be a JSON object"}])
    status = doc.get("status")
    if status is not None and (not isinstance(status, str) or status not in STATUS_ACTIONS):
        raise catalog.InvalidListing([{"field": "status", "message": "must be active, paused or archived"}])
    fields = {k: v for k, v in doc.items() if k != "status"}
    item = catalog.get_listing_for(db.session, g.merchant, listing_id)
    if fields:
        item = catalog.update_listing(db.session, g.merchant, listing_id, fields)
    if status is not None and status != item.status:
        item = catalog.set_status(db.session, g.merchant, listing_id, STATUS_ACTIONS[status])
    return 200, listing_json(item)


# ---------------------------------------------------------------- orders

def order_json(order) -> dict:
    def when(value):
        return value.isoformat().replace("+00:00", "Z") if value else None

    return {
        "id": order.id, "status": order.status, "points": order.points, "cash_fen": order.cash_fen,
        "compensation": order.compensation, "delivery": order.delivery, "created_at": when(order.created_at),
        "fulfilled_at": when(order.fulfilled_at), "cancelled_at": when(order.cancelled_at),
        "lines": [{"listing_id": line.listing_id, "title_zh": line.title_zh, "title_en": line.title_en,
                   "quantity": line.quantity, "unit_points": line.unit_points, "unit_cash_fen": line.unit_cash_fen,
                   "first_night": line.first_night.isoformat() if line.first_night else None,
                   "nights": line.nights, "refunded_quantity": line.refunded_quantity, "line_id": line.id,
                   "vouchers": [v.code for v in line.vouchers]} for line in order.lines],
    }


@api.get("/orders")
def list_orders():
    """The merchant's orders (placed ones by default)."""
    status = query_args(status=one_of(*ORDER_STATUSES, "all")).get("status", "placed")
    rows = checkout.merchant_orders(db.session, g.merchant, status if status != "all" else None, limit=100)
    return Response(_dump({"data": [order_json(o) for o in rows]}), mimetype="application/json")


@api.post("/orders/<int:order_id>/fulfil")
@idempotent("fulfil-order")
def fulfil_order(key, order_id):
    """Mark an order fulfilled."""
    return 200, order_json(checkout.fulfil(db.session, g.merchant, order_id))


@api.post("/orders/<int:order_id>/cancel")
@idempotent("cancel-order")
def cancel_order(key, order_id):
    """Cancel an order: every point back to the member, plus the published compensation."""
    doc = read_json() if request.get_data() else {}
    if not isinstance(doc, dict):
        raise checkout.CheckoutError("The body, if any, must be a JSON object.", code="invalid-cancel")
    reason = text_member(doc, "reason")
    order = checkout.get_merchant_order(db.session, g.merchant, order_id)
    return 200, order_json(checkout.cancel(db.session, order, "merchant", reason or "cancelled by merchant"))


# ---------------------------------------------------------------- bill payments

def bill_json(bill) -> dict:
    return {"id": bill.id, "status": bill.status, "bill_fen": bill.bill_fen, "points_requested": bill.points_requested,
            "points_used": bill.points_used, "cash_due_fen": bill.cash_due_fen, "reference": bill.reference,
            "expires_at": bill.expires_at.isoformat().replace("+00:00", "Z")}


@api.post("/bill-payments")
@idempotent("create-bill-payment")
def create_bill_payment(key):
    """Ask a member to pay part of a bill with points; they approve in the mall or by one-time code."""
    doc = read_json()
    if not isinstance(doc, dict):
        raise rules.InvalidPurchase([{"field": "", "message": "the body must be a JSON object"}])
    bill = bills.request_payment(db.session, g.merchant, text_member(doc, "member_code"),
                                 doc.get("bill_fen"), doc.get("points_fen"), text_member(doc, "reference"))
    return 201, bill_json(bill)


@api.get("/bill-payments/<int:bill_id>")
def get_bill_payment(bill_id):
    """A payment request's status: poll until approved, declined or expired."""
    return Response(_dump(bill_json(bills.get_for_merchant(db.session, g.merchant, bill_id))), mimetype="application/json")


@api.post("/bill-payments/<int:bill_id>/confirm")
@limits.per_member
@limits.per_api_key
@idempotent("confirm-bill-payment")
def confirm_bill_payment(key, bill_id):
    """Approve with the one-time code the member reads from the mall."""
    doc = read_json()
    typed = doc.get("code") if isinstance(doc, dict) else None
    code = text_member(doc, "code") if isinstance(typed, str) else ""  # not text: a malformed code, a counted try
    return 200, bill_json(bills.confirm_by_code(db.session, g.merchant, bill_id, code))


@api.post("/orders/<int:order_id>/refunds")
@idempotent("refund-order")
def refund_order(key, order_id):
    """Refund some units of some lines; points go back to the lots they came from, cash in proportion."""
    doc = read_json()
    lines = doc.get("lines") if isinstance(doc, dict) else None
    if not isinstance(lines, list) or not lines or not all(
            isinstance(l, dict) and isinstance(l.get("line_id"), int) and not isinstance(l.get("line_id"), bool)
            and 1 <= l["line_id"] <= MAX_ID for l in lines):
        raise checkout.CheckoutError("Give lines as [{\"line_id\": …, \"quantity\": …}].", code="invalid-refund")
    quantities: dict[int, int] = {}
    for line in lines:
        quantity = line.get("quantity", 1)
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= 99:
            raise checkout.CheckoutError("Quantities must be integers from 1 to 99.", code="invalid-refund")
        quantities[line["line_id"]] = quantities.get(line["line_id"], 0) + quantity
    order = checkout.get_merchant_order(db.session, g.merchant, order_id)
    points = checkout.refund_lines(db.session, order, quantities, key)
    return 200, {**order_json(order), "points_refunded": points}

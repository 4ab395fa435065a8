"""Merchant JSON API v1: bearer keys, idempotent POSTs, RFC 9457 problem details.

A view reads its body or query (``mall.api.documents``), runs the use case and composes the answer.
Reads need no transaction; a write is ``@idempotent``: it runs in the transaction that stores its
answer (``mall.idempotency.run_once``). Every error is problem+json (``mall.problems``), as the edge
answers refusals under /api/ (the API imports no edge: the edge imports its problems)."""
import json
from functools import wraps

from flask import Blueprint, Response, current_app, g, request
from sqlalchemy.exc import OperationalError, TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from mall.account import service as accounts
from mall.api import documents
from mall.api import service
from mall.api.documents import BadJson
from mall.api.openapi import document
from mall.problems import (domain_problem, domain_problem_body, dump, http_problem, json_response, problem,
                               problem_body)
from mall.audit import service as audit
from mall.catalog import service as catalog
from mall.catalog.models import STATUSES as LISTING_STATUSES
from mall.checkout import bills, limits
from mall.checkout import merchant_side as checkout
from mall.checkout.models import ORDER_STATUSES
from mall.edge import database_unavailable
from mall.errors import DomainError
from mall.extensions import csrf, db
from mall.idempotency import run_once
from mall.rules import channels
from mall.rules import service as rules
from mall.validation import has_control_characters, one_of, page_number

api = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(api)

PUBLIC = {"api.openapi"}


def read_json(empty=None):
    """The request body as JSON, strictly (see ``documents.parse_json``)."""
    return documents.parse_json(request.get_data(cache=True), empty)


def answer(payload) -> Response:
    """A 200 JSON answer."""
    return json_response(200, dump(payload))


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


# The app's own answers, named again here: Flask would prefer this blueprint's catch-all below.
api.register_error_handler(DomainError, domain_problem)
api.register_error_handler(OperationalError, database_unavailable)
api.register_error_handler(PoolTimeout, database_unavailable)


@api.errorhandler(Exception)
def server_problem(err):
    current_app.logger.exception("API error", exc_info=err)
    db.session.rollback()
    return problem(500, "server-error", "Something went wrong on our side.", "Nothing was changed; retry.")


def _stored_error(err: Exception) -> tuple[int, str] | None:
    """Refusals are answers, stored and replayed like results; anything else is a server error."""
    if isinstance(err, DomainError):
        return err.status, domain_problem_body(err)
    if isinstance(err, BadJson):
        return 400, problem_body(400, "malformed-json", "The body is not valid JSON.", str(err))
    return None


def idempotent(operation: str):
    """Require an Idempotency-Key; replay the stored answer; else run the view — (status, payload) —
    in the write transaction that stores its answer."""
    def decorate(view):
        @wraps(view)
        def wrapper(**kwargs):
            key = request.headers.get("Idempotency-Key", "").strip()
            if not key or len(key) > 255 or has_control_characters(key):
                return problem(400, "idempotency-key-required",
                               "An Idempotency-Key header of 1 to 255 characters is required.")

            def work():
                status, payload = view(key=key, **kwargs)
                return status, dump(payload)

            replayed, status, stored = run_once(
                db.session, g.merchant.id, f"{operation} {request.path}", key, request.get_data(cache=True),
                work, stored_error=_stored_error)
            response = json_response(status, stored)
            if replayed:
                response.headers["Idempotent-Replayed"] = "true"
            return response
        return wrapper
    return decorate


@api.get("/openapi.json")
def openapi():
    """The OpenAPI 3.1 description of this API."""
    return Response(json.dumps(document(), ensure_ascii=False, indent=1), mimetype="application/json")


# ---------------------------------------------------------------- purchases

@api.post("/purchases/quote")
def quote_purchase():
    """The points a purchase would earn, without awarding them."""
    purchase = rules.parse_purchase(read_json())
    return answer(documents.quote_json(rules.quote(db.session, g.merchant, purchase)))


@api.post("/purchases")
@idempotent("create-purchase")
def create_purchase(key):
    """Report a member's purchase; the rules engine awards the points."""
    purchase = rules.parse_purchase(read_json())
    row = rules.award_purchase(db.session, g.merchant, purchase)
    return 201, documents.purchase_json(row, purchase.member_code)


@api.post("/channel-events")
@idempotent("channel-event")
def create_channel_event(key):
    """An earning channel (a bank card programme, transit, EV charging) reports a member's green spend."""
    event, row, code = channels.record_event(db.session, g.merchant, read_json())
    return 201, {"id": event.id, "reference": event.reference, "quantity": event.quantity,
                 "purchase": documents.purchase_json(row, code)}


@api.get("/purchases/<int:purchase_id>")
def get_purchase(purchase_id):
    """One of the merchant's purchases."""
    row = rules.get_purchase_for(db.session, g.merchant, purchase_id)
    return answer(documents.purchase_json(row, accounts.member_code_of(db.session, row.member_id)))


@api.post("/purchases/<int:purchase_id>/refunds")
@idempotent("refund-purchase")
def refund_purchase(key, purchase_id):
    """A full or partial refund: earned points are clawed back in proportion."""
    amount = documents.refund_amount(read_json())
    refund = rules.refund_purchase(db.session, g.merchant, purchase_id, amount, key)
    row = rules.get_purchase_for(db.session, g.merchant, purchase_id)
    code = accounts.member_code_of(db.session, row.member_id)
    return 201, documents.purchase_refund_json(refund, row, code)


# ---------------------------------------------------------------- listings

@api.get("/listings")
def list_listings():
    """The merchant's own listings, newest first, 50 a page."""
    args = documents.query(request.args, page=page_number, status=one_of(*LISTING_STATUSES))
    page = args.get("page", 1)
    rows = catalog.listings_of(db.session, g.merchant, args.get("status"), page=page)
    return answer({"data": [documents.listing_json(r) for r in rows], "page": page})


@api.post("/listings")
@idempotent("create-listing")
def create_listing(key):
    """Create a listing (a draft until published with PATCH status=active)."""
    doc = read_json()
    status = documents.new_listing_status(doc)
    item = catalog.create_listing(db.session, g.merchant, doc)
    if status == "active":
        catalog.set_status(db.session, g.merchant, item.id, "publish")
    return 201, documents.listing_json(item)


@api.patch("/listings/<int:listing_id>")
@idempotent("update-listing")
def update_listing(key, listing_id):
    """Change fields, adjust stock atomically with ``stock_delta``, or change ``status``."""
    fields, status = documents.listing_changes(read_json())
    item = catalog.get_listing_for(db.session, g.merchant, listing_id)
    if fields:
        item = catalog.update_listing(db.session, g.merchant, listing_id, fields)
    if status is not None and status != item.status:
        item = catalog.set_status(db.session, g.merchant, listing_id, documents.STATUS_ACTIONS[status])
    return 200, documents.listing_json(item)


# ---------------------------------------------------------------- orders

@api.get("/orders")
def list_orders():
    """The merchant's orders (placed ones by default)."""
    status = documents.query(request.args, status=one_of(*ORDER_STATUSES, "all")).get("status", "placed")
    rows = checkout.merchant_orders(db.session, g.merchant, status if status != "all" else None, limit=100)
    return answer({"data": [documents.order_json(o) for o in rows]})


@api.post("/orders/<int:order_id>/fulfil")
@idempotent("fulfil-order")
def fulfil_order(key, order_id):
    """Mark an order fulfilled."""
    return 200, documents.order_json(checkout.fulfil(db.session, g.merchant, order_id))


@api.post("/orders/<int:order_id>/cancel")
@idempotent("cancel-order")
def cancel_order(key, order_id):
    """Cancel an order: every point back to the member, plus the published compensation."""
    reason = documents.cancel_reason(read_json(empty={}))
    return 200, documents.order_json(checkout.cancel_order(db.session, g.merchant, order_id,
                                                           reason or "cancelled by merchant"))


@api.post("/orders/<int:order_id>/refunds")
@idempotent("refund-order")
def refund_order(key, order_id):
    """Refund some units of some lines; points go back to the lots they came from, cash in proportion."""
    quantities = documents.refund_quantities(read_json())
    order = checkout.get_merchant_order(db.session, g.merchant, order_id)
    points = checkout.refund_lines(db.session, order, quantities, key)
    return 200, {**documents.order_json(order), "points_refunded": points}


# ---------------------------------------------------------------- bill payments

@api.post("/bill-payments")
@idempotent("create-bill-payment")
def create_bill_payment(key):
    """Ask a member to pay part of a bill with points; they approve in the mall or by one-time code."""
    member_code, bill_fen, points_fen, reference = documents.bill_request(read_json())
    bill = bills.request_payment(db.session, g.merchant, member_code, bill_fen, points_fen, reference)
    return 201, documents.bill_json(bill)


@api.get("/bill-payments/<int:bill_id>")
def get_bill_payment(bill_id):
    """A payment request's status: poll until approved, declined or expired."""
    return answer(documents.bill_json(bills.get_for_merchant(db.session, g.merchant, bill_id)))


@api.post("/bill-payments/<int:bill_id>/confirm")
@limits.per_member
@limits.per_api_key
@idempotent("confirm-bill-payment")
def confirm_bill_payment(key, bill_id):
    """Approve with the one-time code the member reads from the mall."""
    code = documents.one_time_code(read_json())
    return 200, documents.bill_json(bills.confirm_by_code(db.session, g.merchant, bill_id, code))

"""The API's JSON documents: request bodies and query strings read strictly into plain values (a
refusal names what is wrong), and answers composed from domain objects. The views hand it what came;
it never reads the request itself."""
import json
from decimal import Decimal

from flask_babel import lazy_gettext as _l

from mall.catalog import service as catalog
from mall.checkout import service as checkout
from mall.errors import DomainError
from mall.forms import MAX_ID
from mall.rules import service as rules
from mall.validation import LONE_SURROGATE, has_control_characters, is_whole, strict_query

MAX_BODY = 256 * 1024


# ---------------------------------------------------------------- reading

class BadJson(Exception):
    """The body is not JSON text the API reads (a 400, not a refusal of the use case)."""


def _reject_constant(name):
    raise BadJson(f"{name} is not allowed in JSON")


def _number(text: str):
    """A JSON number without a fractional part is an integer however it is written (``100.0``, ``1e2``),
    as JSON Schema counts it; any other stays a float, which integer fields refuse."""
    value = Decimal(text)
    if abs(value) <= 10**18 and value == value.to_integral_value():
        return int(value)
    return float(text)


def parse_json(raw: bytes, empty=None):
    """A body as JSON, strictly: no NaN/Infinity, a size limit; an empty body is ``empty``."""
    if len(raw) > MAX_BODY:
        raise BadJson("The body is too large.")
    if not raw:
        return empty
    try:
        doc = json.loads(raw, parse_constant=_reject_constant, parse_float=_number)
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


class InvalidQuery(DomainError):
    status = 400
    code = "invalid-query"

    def __init__(self, errors: list[dict]):
        super().__init__(_l("The query string is not valid."))
        self.errors = errors


def query(args, **parsers) -> dict:
    """A query string, strictly (see mall.validation.strict_query); any problem is a 400."""
    values, errors = strict_query(args, parsers)
    if errors:
        raise InvalidQuery(errors)
    return values


def text_member(doc, name: str) -> str:
    """A text member of a JSON body ("" when absent); anything but text, or text with control characters,
    is refused."""
    value = doc.get(name, "") if isinstance(doc, dict) else ""
    if not isinstance(value, str):
        raise DomainError(f"{name} must be a string.", code="invalid-text", field=name)
    if has_control_characters(value):
        raise DomainError(f"{name} must not contain control characters.", code="invalid-text", field=name)
    return value


def refund_amount(doc):
    """The amount of a purchase refund (the rules check it)."""
    if not isinstance(doc, dict):
        raise rules.InvalidPurchase([{"field": "", "message": "the body must be a JSON object"}])
    return doc.get("amount_fen")


STATUS_ACTIONS = {"active": "publish", "paused": "pause", "archived": "archive"}


def new_listing_status(doc) -> str | None:
    """The status a new listing asks for: none (a draft), draft or active."""
    status = doc.get("status") if isinstance(doc, dict) else None
    if status not in (None, "draft", "active"):
        raise catalog.InvalidListing([{"field": "status", "message": "must be draft or active"}])
    return status


def listing_changes(doc) -> tuple[dict, str | None]:
    """A listing's changed fields, and the status action asked for (or None)."""
    if not isinstance(doc, dict):
        raise catalog.InvalidListing([{"field": "", "message": "the body must be a JSON object"}])
    status = doc.get("status")
    if status is not None and (not isinstance(status, str) or status not in STATUS_ACTIONS):
        raise catalog.InvalidListing([{"field": "status", "message": "must be active, paused or archived"}])
    return {k: v for k, v in doc.items() if k != "status"}, status


def cancel_reason(doc) -> str:
    """The reason an order is cancelled ("" when not given)."""
    if not isinstance(doc, dict):
        raise checkout.CheckoutError("The body, if any, must be a JSON object.", code="invalid-cancel")
    return text_member(doc, "reason")


def refund_quantities(doc) -> dict[int, int]:
    """The units to refund per order line id (1 each by default; lines given twice add up)."""
    lines = doc.get("lines") if isinstance(doc, dict) else None
    if not isinstance(lines, list) or not lines or not all(
            isinstance(line, dict) and is_whole(line.get("line_id"), 1, MAX_ID) for line in lines):
        raise checkout.CheckoutError("Give lines as [{\"line_id\": …, \"quantity\": …}].", code="invalid-refund")
    quantities: dict[int, int] = {}
    for line in lines:
        quantity = line.get("quantity", 1)
        if not is_whole(quantity, 1, 99):
            raise checkout.CheckoutError("Quantities must be integers from 1 to 99.", code="invalid-refund")
        quantities[line["line_id"]] = quantities.get(line["line_id"], 0) + quantity
    return quantities


def bill_request(doc) -> tuple[str, object, object, str]:
    """A bill payment request: member code, bill_fen, points_fen, reference (the amounts are checked
    with the bill)."""
    if not isinstance(doc, dict):
        raise rules.InvalidPurchase([{"field": "", "message": "the body must be a JSON object"}])
    return (text_member(doc, "member_code"), doc.get("bill_fen"), doc.get("points_fen"),
            text_member(doc, "reference"))


def one_time_code(doc) -> str:
    """The one-time code typed; anything but text is a malformed code, which counts as a try."""
    typed = doc.get("code") if isinstance(doc, dict) else None
    return text_member(doc, "code") if isinstance(typed, str) else ""


# ---------------------------------------------------------------- answers

def _when(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def purchase_json(row, member_code: str) -> dict:
    return {
        "id": row.id, "member_code": member_code, "total_fen": row.total_fen,
        "occurred_at": row.occurred_at.isoformat().replace("+00:00", "Z"), "points": row.points,
        "breakdown": row.breakdown, "rule_set_version": row.rule_set_version,
        "refunded_fen": row.refunded_fen, "clawed_back": row.clawed_back,
    }


def quote_json(quote) -> dict:
    return {"points": quote.award.points, "breakdown": quote.award.as_json(),
            "rule_set_version": quote.rule_set.version, "tier": quote.context.tier,
            "notes": list(quote.award.notes)}


def purchase_refund_json(refund, row, member_code: str) -> dict:
    return {"id": refund.id, "purchase_id": row.id, "amount_fen": refund.amount_fen,
            "points_clawed_back": refund.points_clawed, "shortfall": refund.shortfall,
            "purchase": purchase_json(row, member_code)}


def listing_json(item) -> dict:
    return {
        "id": item.id, "status": item.status, "kind": item.kind, "category": item.category,
        "title_zh": item.title_zh, "title_en": item.title_en,
        "description_zh": item.description_zh, "description_en": item.description_en,
        "points_price": item.points_price, "mix_points": item.mix_points, "cash_fen": item.cash_fen,
        "sale_points_price": item.sale_points_price, "sale_starts_at": _when(item.sale_starts_at),
        "sale_ends_at": _when(item.sale_ends_at), "stock": item.stock,
        "limit_per_member": item.limit_per_member, "limit_period": item.limit_period,
        "available_from": _when(item.available_from), "early_access_from": _when(item.early_access_from),
        "coupon_valid_days": item.coupon_valid_days, "cancel_hours": item.cancel_hours,
        "green": item.green, "co2e_g": item.co2e_g, "redemptions": item.redemptions,
        "created_at": _when(item.created_at), "updated_at": _when(item.updated_at),
    }


def order_json(order) -> dict:
    return {
        "id": order.id, "status": order.status, "points": order.points, "cash_fen": order.cash_fen,
        "compensation": order.compensation, "delivery": order.delivery, "created_at": _when(order.created_at),
        "fulfilled_at": _when(order.fulfilled_at), "cancelled_at": _when(order.cancelled_at),
        "lines": [{"listing_id": line.listing_id, "title_zh": line.title_zh, "title_en": line.title_en,
                   "quantity": line.quantity, "unit_points": line.unit_points, "unit_cash_fen": line.unit_cash_fen,
                   "first_night": line.first_night.isoformat() if line.first_night else None,
                   "nights": line.nights, "refunded_quantity": line.refunded_quantity, "line_id": line.id,
                   "vouchers": [v.code for v in line.vouchers]} for line in order.lines],
    }


def bill_json(bill) -> dict:
    return {"id": bill.id, "status": bill.status, "bill_fen": bill.bill_fen, "points_requested": bill.points_requested,
            "points_used": bill.points_used, "cash_due_fen": bill.cash_due_fen, "reference": bill.reference,
            "expires_at": bill.expires_at.isoformat().replace("+00:00", "Z")}

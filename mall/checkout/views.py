"""Cart, checkout, the member's orders and vouchers, and till bills to approve."""
import secrets
from dataclasses import dataclass
from types import SimpleNamespace

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required

from mall.account.forms import EmptyForm
from mall.account.qr import qr_svg
from mall.catalog import service as catalog
from mall.checkout import bills as bill_service
from mall.checkout import orchestrator, service
from mall.checkout.forms import AddToCartForm, CheckoutForm, line_requests
from mall.clock import SHANGHAI, utcnow
from mall.edge import back_to, message_of, on_refusal, run, submitted
from mall.extensions import db
from mall.family import service as family
from mall.forms import database_id
from mall.settings import settings_of
from mall.web import format_fen

checkout = Blueprint("checkout", __name__)


@dataclass
class NowItem:
    """A one-item cart for "redeem now"."""

    listing_id: int
    option: str
    quantity: int


def _items():
    """The lines being checked out: one "redeem now" item, or the cart."""
    listing_id = request.values.get("listing", type=database_id)
    if listing_id:
        option = request.values.get("option") if request.values.get("option") in ("points", "mix") else "points"
        quantity = max(1, min(99, request.values.get("quantity", 1, type=int) or 1))
        return [NowItem(listing_id, option, quantity)], {"listing": listing_id, "option": option, "quantity": quantity}
    return service.cart(db.session, current_user), {}


@checkout.route("/cart")
@login_required
def cart():
    """The member's cart."""
    items = service.cart(db.session, current_user)
    quote = service.price(db.session, current_user, line_requests(items, {})) if items else None
    return render_template("checkout/cart.html", items=items, quote=quote, form=EmptyForm())


@checkout.route("/cart/add/<int:listing_id>", methods=["POST"])
@login_required
@on_refusal(back_to("catalog.listing"))
def add(listing_id):
    """Add a listing to the cart (price option and quantity)."""
    form = submitted(AddToCartForm())
    run(service.add_to_cart, db.session, current_user, listing_id, form.option.data, form.quantity.data)
    flash(_("Added to your cart."), "success")
    return redirect(url_for("checkout.cart"), code=303)


@checkout.route("/cart/<int:item_id>", methods=["POST"])
@login_required
def update_cart(item_id):
    """Change a cart line's quantity (0 removes it)."""
    submitted(EmptyForm())
    quantity = max(0, min(99, request.form.get("quantity", 0, type=int) or 0))
    run(service.set_cart_quantity, db.session, current_user, item_id, quantity)
    return redirect(url_for("checkout.cart"), code=303)


def _summary_context(items, now) -> dict:
    """What the live totals show: the quote, the lots it would use, and the payment source (the family
    pool only for a member allowed to use one)."""
    requests = line_requests(items, request.values)
    pool = family.can_use_pool(db.session, current_user)
    source = "family" if request.values.get("source") == "family" and pool else "own"
    balance = family.pool_available(db.session, current_user, now) if source == "family" else None
    quote = service.price(db.session, current_user, requests, now, balance=balance)
    return dict(quote=quote, requests={r.listing_id: r for r in requests}, source=source, pool=pool,
                lots=service.lots_to_use(db.session, current_user, min(quote.points, quote.balance), source))


def _context(form, items, extra):
    """The whole checkout page: the summary, plus the slots and nights to choose from."""
    now = utcnow()
    context = _summary_context(items, now)
    choices = {}
    for listing in {line.listing.id: line.listing for line in context["quote"].lines}.values():
        if listing.kind == "service":
            choices[listing.id] = catalog.open_slots(db.session, listing, now)
        elif listing.kind == "stay":
            choices[listing.id] = catalog.nights(db.session, listing, now.astimezone(SHANGHAI).date())
    form.source.data = context["source"]
    return dict(context, form=form, choices=choices, extra=extra)


def _checkout_refused(err):
    """The checkout page again with the reason; the card gateway's own failures answer 502. Sold out is
    answered at once with the message alone: a flash sale's losers need no prices or lots, and their
    page reads no balance or banners (``quiet_header``), as the crowd is answered from the one cheap read."""
    if isinstance(err, service.SoldOut):
        return render_template("errors/error.html", error=SimpleNamespace(code=409), message=message_of(err),
                               quiet_header=True), 409
    flash(message_of(err), "error")
    items, extra = _items()
    page = render_template("checkout/checkout.html", **_context(CheckoutForm(), items, extra))
    return page, err.status if err.status < 500 else 502


@checkout.route("/checkout", methods=["GET", "POST"])
@login_required
@on_refusal(_checkout_refused)
def index():
    """Check out the cart (or one item): live totals, balance after, lots used, then confirm once."""
    items, extra = _items()
    if not items:
        flash(_("Your cart is empty."), "info")
        return redirect(url_for("catalog.index"))
    form = CheckoutForm()
    if request.method == "GET":
        form.token.data = secrets.token_urlsafe(24)
    if request.method == "POST" and form.validate_on_submit():
        # Nothing is priced for the page first: the orchestrator refuses a sold-out listing at once and
        # prices under the locks; a refusal renders the page with its reason (_checkout_refused).
        placed = orchestrator.checkout(db.session, current_user, line_requests(items, request.form), form.delivery(),
                                       form.token.data, form.pay_token.data or "",
                                       source="family" if request.form.get("source") == "family" else "own")
        if not placed.replayed:
            flash(_("Redeemed! Your order is confirmed."), "success")
        return redirect(url_for("checkout.order", order_id=placed.orders[0].id), code=303)
    return render_template("checkout/checkout.html", **_context(form, items, extra)), 422 if form.errors else 200


@checkout.route("/checkout/summary", methods=["POST"])
@login_required
def summary():
    """The live totals fragment while the member picks options (HTMX)."""
    items, _extra = _items()
    return render_template("checkout/_summary.html", **_summary_context(items, utcnow()))


@checkout.route("/orders")
@login_required
def orders():
    """The member's orders, newest first."""
    return render_template("checkout/orders.html", orders=service.orders_of(db.session, current_user))


@checkout.route("/orders/<int:order_id>")
@login_required
def order(order_id):
    """One of the member's orders: timeline, vouchers with QR codes, cancellation."""
    found = service.get_order_for(db.session, current_user, order_id)
    deadline = service.member_cancel_deadline(db.session, found)
    qr = {v.code: qr_svg(v.code, scale=4) for line in found.lines for v in line.vouchers}
    return render_template("checkout/order.html", order=found, deadline=deadline, now=utcnow(), qr=qr,
                           form=EmptyForm(), siblings=service.placed_with(db.session, found))


@checkout.route("/orders/<int:order_id>/cancel", methods=["POST"])
@login_required
@on_refusal(back_to("checkout.order"))
def cancel(order_id):
    """Cancel within the listing's cancellation window: every point comes back."""
    submitted(EmptyForm())
    run(service.cancel_own_order, db.session, current_user, order_id)
    flash(_("Order cancelled. Your points are back."), "success")
    return redirect(url_for("checkout.order", order_id=order_id), code=303)


@checkout.route("/bills")
@login_required
def bills():
    """Payment requests from merchants' tills, waiting for the member's approval."""
    pending = bill_service.pending_for(db.session, current_user)
    return render_template("checkout/bills.html", bills=pending, form=EmptyForm(), settings=settings_of(db.session),
                           merchant_names=bill_service.merchant_names(db.session, pending, str(get_locale())))


@checkout.route("/bills/<int:bill_id>/<any(approve, decline):decision>", methods=["POST"])
@login_required
@on_refusal(back_to("checkout.bills"))
def decide_bill(bill_id, decision):
    """Approve (points move now, the rest is paid in cash) or decline a till payment request."""
    submitted(EmptyForm())
    bill = run(bill_service.decide, db.session, current_user, bill_id, decision)
    if decision == "approve":
        flash(_("Paid %(points)s points. Cash still due: %(cash)s.", points=bill.points_used,
                cash=format_fen(bill.cash_due_fen)), "success")
    else:
        flash(_("Payment request declined."), "info")
    return redirect(url_for("checkout.bills"), code=303)

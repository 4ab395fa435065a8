"""Merchant back office: issuance dashboard, recording purchases with a live quote, API keys."""
import secrets
from datetime import datetime, time, timedelta
from functools import wraps

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from mall.account.forms import EmptyForm
from mall.api import service as api_service
from mall.db import write
from mall.errors import DomainError
from mall.errors import NotFound as NotFoundError
from mall.models import utcnow
from mall.extensions import db
from mall.catalog import service as catalog
from mall.checkout import bills as bill_service
from mall.checkout import limits as bill_limits
from mall.checkout import service as checkout
from mall.merchant.forms import (ApiKeyForm, BillConfirmForm, BillForm, ImageForm, ListingForm, NightsForm,
                                 PurchaseForm, SlotsForm, VoucherForm, yuan_to_fen)
from mall.merchant.service import staff_merchant
from mall.rules import service as rules
from mall.rules.models import Purchase
from mall.validation import has_control_characters
from mall.web import SHANGHAI, local_period_start

from mall.guards import staff_only

merchant = Blueprint("merchant", __name__, url_prefix="/merchant")


@merchant.route("/")
@staff_only
def dashboard(shop):
    """Points issued per day, what they cost, and the latest purchases."""
    fee = current_app.config["ISSUANCE_FEE_FEN_PER_POINT"]
    days = rules.issuance_by_day(db.session, shop, 30)
    now = utcnow()
    owed = checkout.settlement(db.session, shop, local_period_start("month", now), now + timedelta(seconds=1),
                               current_app.config["REDEMPTION_VALUE_FEN_PER_POINT"])
    return render_template("merchant/dashboard.html", shop=shop, days=days, fee=fee, settlement=owed,
                           total_points=sum(d[1] for d in days),
                           purchases=rules.recent_purchases(db.session, shop, 10))


def _error_text(err: DomainError) -> str:
    if isinstance(err, rules.InvalidPurchase):
        return "; ".join(f"{e['field']}: {e['message']}" for e in err.errors)
    return str(err.message)


@merchant.route("/purchases/quote", methods=["POST"])
@staff_only
def quote(shop):
    """The live quote shown while staff type (HTMX fragment)."""
    form = PurchaseForm()
    context = {"award": None, "error": None}
    if form.validate():
        try:
            purchase = rules.parse_purchase(form.to_document())
            q = rules.quote(db.session, shop, purchase)
            context.update(award=q.award, rule_set=q.rule_set, member=q.member, context=q.context)
        except DomainError as err:
            context["error"] = _error_text(err)
    else:
        context["error"] = _("Enter a member code and at least one amount.")
    return render_template("merchant/_quote.html", **context)


@merchant.route("/purchases/new", methods=["GET", "POST"])
@staff_only
def record_purchase(shop):
    """Record a member's purchase and award the points (the form can be submitted only once)."""
    form = PurchaseForm()
    if request.method == "GET":
        form.token.data = secrets.token_urlsafe(16)
    if form.validate_on_submit():
        try:
            row = _award_once(shop, form)
        except DomainError as err:
            flash(_error_text(err), "error")
        else:
            flash(_("Awarded %(points)s points for purchase #%(id)s.", points=row.points, id=row.id), "success")
            return redirect(url_for("merchant.dashboard"), code=303)
    return render_template("merchant/purchase.html", form=form, shop=shop), 422 if form.errors else 200


def _award_once(shop, form):
    """Replaying the same form token returns the purchase the first submission created."""
    document = form.to_document()

    def work():
        row = rules.award_purchase(db.session, shop, rules.parse_purchase(document), actor_id=current_user.id)
        return 201, str(row.id)

    # a refusal is not stored: the staff member corrects the form and submits the same token again
    _replayed, _status, purchase_id = api_service.run_once(
        db.session, shop.id, "backoffice:create-purchase", form.token.data or secrets.token_urlsafe(16),
        repr(sorted(document.items())).encode(), work)
    return db.session.get(Purchase, int(purchase_id))


@merchant.route("/api-keys", methods=["GET", "POST"])
@staff_only
def api_keys(shop):
    """List, create and revoke the merchant's API keys; a new key is shown once."""
    form = ApiKeyForm()
    new_key = None
    if form.validate_on_submit():
        with write(db.session):
            _, new_key = api_service.create_key(db.session, shop, form.name.data, current_user.id)
        form.name.data = ""
    keys = api_service.keys_of(db.session, shop)
    return render_template("merchant/api_keys.html", form=form, keys=keys, new_key=new_key,
                           revoke_form=EmptyForm(), shop=shop)


@merchant.route("/api-keys/<int:key_id>/revoke", methods=["POST"])
@staff_only
def revoke_key(shop, key_id):
    """Revoke one of the merchant's keys; it stops working at once."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        with write(db.session):
            api_service.revoke_key(db.session, shop, key_id)
    except DomainError:
        abort(404)
    flash(_("The key has been revoked."), "success")
    return redirect(url_for("merchant.api_keys"), code=303)


# ---------------------------------------------------------------- listings

def _form_errors(form, err: DomainError) -> None:
    """Show a service's field errors on the form fields they belong to."""
    if isinstance(err, catalog.InvalidListing):
        for e in err.errors:
            name = {"cash_fen": "cash"}.get(e["field"], e["field"])
            target = getattr(form, name, None)
            if target is not None and hasattr(target, "errors"):
                target.errors = list(target.errors) + [e["message"]]
            else:
                flash(f"{e['field']}: {e['message']}", "error")
    else:
        flash(str(err.message), "error")


@merchant.route("/listings")
@staff_only
def listings(shop):
    """The merchant's listings, newest first (archived ones on request)."""
    status = request.args.get("status")
    return render_template("merchant/listings.html", shop=shop, status=status,
                           listings=catalog.listings_of(db.session, shop, status))


@merchant.route("/listings/new", methods=["GET", "POST"])
@staff_only
def new_listing(shop):
    """Create a listing; it starts as a draft until published."""
    form = ListingForm()
    if form.validate_on_submit():
        try:
            with write(db.session):
                listing_id = catalog.create_listing(db.session, shop, form.to_document()).id
        except DomainError as err:
            _form_errors(form, err)
        else:
            flash(_("Listing saved as a draft. Add images, then publish it."), "success")
            return redirect(url_for("merchant.edit_listing", listing_id=listing_id), code=303)
    return render_template("merchant/listing_edit.html", form=form, shop=shop, item=None), 422 if form.errors else 200


@merchant.route("/listings/<int:listing_id>", methods=["GET", "POST"])
@staff_only
def edit_listing(shop, listing_id):
    """Edit one of the merchant's own listings (another merchant's is a 404)."""
    try:
        item = catalog.get_listing_for(db.session, shop, listing_id)
    except DomainError:
        abort(404)
    form = ListingForm()
    if request.method == "GET":
        form.fill_from(item)
    elif form.validate_on_submit():
        try:
            with write(db.session):
                catalog.update_listing(db.session, shop, listing_id, form.to_document())
        except DomainError as err:
            _form_errors(form, err)
        else:
            flash(_("Listing saved."), "success")
            return redirect(url_for("merchant.edit_listing", listing_id=listing_id), code=303)
    item = catalog.get_listing_for(db.session, shop, listing_id)
    return render_template("merchant/listing_edit.html", form=form, shop=shop, item=item,
                           images=catalog.images_of(db.session, item), image_form=ImageForm(),
                           slots_form=SlotsForm(), nights_form=NightsForm(), action_form=EmptyForm(),
                           slots=catalog.open_slots(db.session, item, utcnow()),
                           nights=catalog.nights(db.session, item, utcnow().date())), 422 if form.errors else 200


@merchant.route("/listings/<int:listing_id>/<any(publish, pause, archive):action>", methods=["POST"])
@staff_only
def listing_status(shop, listing_id, action):
    """Publish, pause or archive a listing."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        with write(db.session):
            catalog.set_status(db.session, shop, listing_id, action)
    except NotFoundError:
        abort(404)
    except DomainError as err:
        flash(str(err.message), "error")
    else:
        flash(_("Listing updated."), "success")
    return redirect(url_for("merchant.edit_listing", listing_id=listing_id), code=303)


@merchant.route("/listings/<int:listing_id>/images", methods=["POST"])
@staff_only
def upload_image(shop, listing_id):
    """Add an image: checked by its content, resized, at most five per listing."""
    form = ImageForm()
    if form.validate_on_submit():
        try:
            with write(db.session):
                catalog.add_image(db.session, shop, listing_id, form.image.data.read(),
                                  current_app.config["MEDIA_ROOT"])
        except NotFoundError:
            abort(404)
        except DomainError as err:
            flash(str(err.message), "error")
        else:
            flash(_("Image added."), "success")
    else:
        flash(_("Choose an image file."), "error")
    return redirect(url_for("merchant.edit_listing", listing_id=listing_id), code=303)


@merchant.route("/listings/<int:listing_id>/slots", methods=["POST"])
@staff_only
def add_slots(shop, listing_id):
    """Open bookable times for a service, every day in a date range."""
    form = SlotsForm()
    if form.validate_on_submit():
        try:
            starts = _slot_instants(form.first_day.data, form.last_day.data, form.times.data)
            with write(db.session):
                added = catalog.add_slots(db.session, shop, listing_id, starts, form.capacity.data)
        except NotFoundError:
            abort(404)
        except (DomainError, ValueError) as err:
            flash(str(getattr(err, "message", _("Times must look like 09:00, 14:30 and span at most 90 days."))), "error")
        else:
            flash(_("%(num)s times added.", num=added), "success")
    else:
        flash(_("Fill in the dates, times and places."), "error")
    return redirect(url_for("merchant.edit_listing", listing_id=listing_id), code=303)


def _slot_instants(first, last, times: str):
    if last < first or (last - first).days > 90:
        raise ValueError("range")
    clock = [time.fromisoformat(t.strip()) for t in times.replace("，", ",").split(",") if t.strip()]
    if not clock:
        raise ValueError("times")
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return [datetime.combine(day, t, tzinfo=SHANGHAI) for day in days for t in clock]


@merchant.route("/listings/<int:listing_id>/nights", methods=["POST"])
@staff_only
def set_nights(shop, listing_id):
    """Offer hotel nights in a date range at a price (off-season nights can cost fewer points)."""
    form = NightsForm()
    if form.validate_on_submit():
        try:
            with write(db.session):
                changed = catalog.set_nights(db.session, shop, listing_id, form.first.data, form.last.data,
                                             form.points_price.data, form.rooms.data)
        except NotFoundError:
            abort(404)
        except DomainError as err:
            flash(str(err.message) if not isinstance(err, catalog.InvalidListing)
                  else "; ".join(e["message"] for e in err.errors), "error")
        else:
            flash(_("%(num)s nights saved.", num=changed), "success")
    else:
        flash(_("Fill in the nights, price and rooms."), "error")
    return redirect(url_for("merchant.edit_listing", listing_id=listing_id), code=303)


# ---------------------------------------------------------------- orders and vouchers

@merchant.route("/orders")
@staff_only
def orders(shop):
    """Orders to fulfil, newest first."""
    status = request.args.get("status", "placed")
    return render_template("merchant/orders.html", shop=shop, status=status, form=EmptyForm(),
                           token=secrets.token_urlsafe(12),
                           orders=checkout.merchant_orders(db.session, shop, status if status != "all" else None))


@merchant.route("/orders/<int:order_id>/<any(fulfil, cancel):action>", methods=["POST"])
@staff_only
def order_action(shop, order_id, action):
    """Fulfil an order, or cancel it: the member gets every point back plus compensation."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    reason = (request.form.get("reason") or "").strip()[:200] or _("Cancelled by the merchant")
    if has_control_characters(reason):
        flash(_("Remove the control characters from this text."), "error")
        return redirect(url_for("merchant.orders"), code=303)
    try:
        with write(db.session):
            if action == "fulfil":
                checkout.fulfil(db.session, shop, order_id)
            else:
                checkout.cancel(db.session, checkout.get_merchant_order(db.session, shop, order_id), "merchant", reason)
    except NotFoundError:
        abort(404)
    except DomainError as err:
        flash(str(err.message), "error")
    else:
        flash(_("Order #%(id)s updated.", id=order_id), "success")
    return redirect(url_for("merchant.orders"), code=303)


@merchant.route("/orders/<int:order_id>/lines/<int:line_id>/refund", methods=["POST"])
@staff_only
def refund_line(shop, order_id, line_id):
    """Refund one unit of a line; the form's one-time token makes a double click refund once."""
    form = EmptyForm()
    token = (request.form.get("token") or "").strip()[:64]
    if not form.validate_on_submit() or not token or has_control_characters(token):
        abort(400)
    try:
        with write(db.session):
            order = checkout.get_merchant_order(db.session, shop, order_id)
            points = checkout.refund_lines(db.session, order, {line_id: 1}, f"backoffice:{token}")
    except NotFoundError:
        abort(404)
    except DomainError as err:
        flash(str(err.message), "error")
    else:
        flash(_("Refunded one unit: %(points)s points back to the member.", points=points), "success")
    return redirect(url_for("merchant.orders"), code=303)


@merchant.route("/vouchers", methods=["GET", "POST"])
@staff_only
def vouchers(shop):
    """Accept a voucher by typing or scanning its code; each code works once."""
    form = VoucherForm()
    if form.validate_on_submit():
        try:
            with write(db.session):
                voucher = checkout.redeem_voucher(db.session, shop, form.code.data)
                code = voucher.code
        except DomainError as err:
            form.code.errors.append(str(err.message))
        else:
            flash(_("Voucher %(code)s accepted.", code=code), "success")
            return redirect(url_for("merchant.vouchers"), code=303)
    return render_template("merchant/vouchers.html", shop=shop, form=form), 422 if form.errors else 200


@merchant.route("/bills", methods=["GET", "POST"])
@staff_only
def bills(shop):
    """Ask a member to pay part of a bill with points; confirm with the member's one-time code."""
    form = BillForm()
    if form.validate_on_submit():
        try:
            with write(db.session):
                bill = bill_service.request_payment(db.session, shop, form.member_code.data, yuan_to_fen(form.bill.data),
                                                    yuan_to_fen(form.points_part.data) if form.points_part.data else None,
                                                    form.reference.data or "")
                bill_id = bill.id
        except DomainError as err:
            flash(str(err.message), "error")
        else:
            flash(_("Request #%(id)s sent to the member.", id=bill_id), "success")
            return redirect(url_for("merchant.bills"), code=303)
    return _bills_page(shop, form, 422 if form.errors else 200)


def _bills_page(shop, form, status: int):
    return render_template("merchant/bills.html", shop=shop, form=form, bills=bill_service.recent_for(db.session, shop),
                           confirm_form=BillConfirmForm(), settings=bill_service.settings), status


@merchant.route("/bills/<int:bill_id>/confirm", methods=["POST"])
@staff_only
@bill_limits.per_member
@bill_limits.per_staff_user
def confirm_bill(shop, bill_id):
    """Approve a request with the one-time code the member reads out from the mall; a refused code
    (wrong, not 6 digits, or the request void or expired) answers 422 with the reason."""
    form = BillConfirmForm()
    if not form.validate_on_submit():
        if not form.code.errors:  # a missing or stale CSRF token
            abort(400)
        flash("; ".join(map(str, form.code.errors)), "error")  # e.g. control characters
        return _bills_page(shop, BillForm(formdata=None), 422)
    try:
        with write(db.session):
            bill = bill_service.confirm_by_code(db.session, shop, bill_id, form.code.data)
            used, due = bill.points_used, bill.cash_due_fen
    except NotFoundError:
        abort(404)
    except DomainError as err:
        flash(str(err.message), "error")
        return _bills_page(shop, BillForm(formdata=None), 422)
    from mall.web import format_fen

    flash(_("Paid %(points)s points. Cash still due: %(cash)s.", points=used, cash=format_fen(due)), "success")
    return redirect(url_for("merchant.bills"), code=303)

"""Merchant back office: issuance dashboard, recording purchases with a live quote, listings, orders and
vouchers, till bills, API keys; and the application of a business that wants to join (/merchant/apply)."""
import secrets
from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from mall.account import service as accounts
from mall.account.forms import EmptyForm
from mall.api import service as api_service
from mall.audit import service as audit
from mall.catalog import service as catalog
from mall.checkout import bills as bill_service
from mall.checkout import limits as bill_limits
from mall.checkout import merchant_side
from mall.clock import local_period_start, utcnow
from mall.edge import back_to, message_of, on_refusal, run, submitted
from mall.errors import DomainError
from mall.extensions import db
from mall.guards import managers_only, owner_only, staff_only
from mall.idempotency import run_once
from mall.media import MAX_IMAGE_BYTES
from mall.merchant.forms import (ApiKeyForm, BillConfirmForm, BillForm, CampaignForm, ImageForm, ListingForm,
                                 InviteForm, LogoForm, NightsForm, PurchaseForm, SlotsForm, StaffForm, StaffRoleForm, VoucherForm,
                                 yuan_to_fen)
from mall.coalition import service as merchants
from mall.coalition.forms import ApplicationForm
from mall.coalition.service import staff_merchant
from mall.reports import service as reports
from mall.rules import merchant_campaigns
from mall.rules import service as rules
from mall.settings import settings_of
from mall.validation import has_control_characters
from mall.web import csv_response, format_fen

merchant = Blueprint("merchant", __name__, url_prefix="/merchant")


def _shop():
    """The signed-in staff member's merchant, for refusal answers (the guard passed it to the view)."""
    return staff_merchant(db.session, current_user)


@merchant.route("/")
@staff_only
def dashboard(shop):
    """Points issued per day, what they cost, and the latest purchases."""
    days = rules.issuance_by_day(db.session, shop, 30)
    now = utcnow()
    owed = merchant_side.settlement(db.session, shop, local_period_start("month", now), now + timedelta(seconds=1))
    return render_template("merchant/dashboard.html", shop=shop, days=days,
                           fee=merchants.terms_of(db.session, shop).issuance_fee_fen_per_point, settlement=owed,
                           terms=merchants.terms_of(db.session, shop),
                           total_points=sum(d[1] for d in days), logo_form=LogoForm(),
                           purchases=rules.recent_purchases(db.session, shop, 10))


def _error_text(err: DomainError) -> str:
    if isinstance(err, rules.InvalidPurchase):
        return "; ".join(f"{e['field']}: {e['message']}" for e in err.errors)
    return message_of(err)


def _quote_refused(err, **_view_args):
    return render_template("merchant/_quote.html", award=None, error=_error_text(err))


@merchant.route("/purchases/quote", methods=["POST"])
@staff_only
@on_refusal(_quote_refused, not_found=True)
def quote(shop):
    """The live quote shown while staff type (HTMX fragment)."""
    form = PurchaseForm()
    if not form.validate():
        return render_template("merchant/_quote.html", award=None,
                               error=_("Enter a member code and at least one amount."))
    q = rules.quote(db.session, shop, rules.parse_purchase(form.to_document()))
    return render_template("merchant/_quote.html", award=q.award, rule_set=q.rule_set, member=q.member,
                           context=q.context, error=None)


def _purchase_page(form):
    return render_template("merchant/purchase.html", form=form), 422 if form.errors else 200


def _purchase_refused(err, **_view_args):
    """The form again with the reason; its token stays, so the corrected form can be sent once."""
    flash(_error_text(err), "error")
    return _purchase_page(PurchaseForm())


@merchant.route("/purchases/new", methods=["GET", "POST"])
@staff_only
@on_refusal(_purchase_refused, not_found=True)
def record_purchase(shop):
    """Record a member's purchase and award the points (the form can be submitted only once)."""
    form = PurchaseForm()
    if request.method == "GET":
        form.token.data = secrets.token_urlsafe(16)
    if not form.validate_on_submit():
        return _purchase_page(form)
    row = _award_once(shop, form)
    flash(_("Awarded %(points)s points for purchase #%(id)s.", points=row.points, id=row.id), "success")
    return redirect(url_for("merchant.dashboard"), code=303)


def _award_once(shop, form):
    """Replaying the same form token returns the purchase the first submission created."""
    document = form.to_document()

    def work():
        row = rules.award_purchase(db.session, shop, rules.parse_purchase(document), actor_id=current_user.id)
        return 201, str(row.id)

    # a refusal is not stored: the staff member corrects the form and submits the same token again
    _replayed, _status, purchase_id = run_once(
        db.session, shop.id, "backoffice:create-purchase", form.token.data or secrets.token_urlsafe(16),
        repr(sorted(document.items())).encode(), work)
    return rules.get_purchase_for(db.session, shop, int(purchase_id))


@merchant.route("/api-keys", methods=["GET", "POST"])
@managers_only
def api_keys(shop):
    """List, create and revoke the merchant's API keys; a new key is shown once."""
    form = ApiKeyForm()
    new_key = None
    if form.validate_on_submit():
        _, new_key = run(api_service.create_key, db.session, shop, form.name.data, current_user.id)
        form.name.data = ""
    keys = api_service.keys_of(db.session, shop)
    return render_template("merchant/api_keys.html", form=form, keys=keys, new_key=new_key,
                           revoke_form=EmptyForm(), shop=shop)


@merchant.route("/api-keys/<int:key_id>/revoke", methods=["POST"])
@managers_only
def revoke_key(shop, key_id):
    """Revoke one of the merchant's keys; it stops working at once."""
    submitted(EmptyForm())
    run(api_service.revoke_key, db.session, shop, key_id)
    flash(_("The key has been revoked."), "success")
    return redirect(url_for("merchant.api_keys"), code=303)


# ---------------------------------------------------------------- listings

def _form_errors(form, err: DomainError) -> None:
    """Show a service's field errors on the form fields they belong to (a listing's several, or the one
    field a refusal names); anything else as a flash."""
    field = getattr(form, err.params.get("field") or "", None)
    if field is not None and hasattr(field, "errors"):
        field.errors = [message_of(err)]
    elif isinstance(err, catalog.InvalidListing):
        for e in err.errors:
            name = {"cash_fen": "cash"}.get(e["field"], e["field"])
            target = getattr(form, name, None)
            if target is not None and hasattr(target, "errors"):
                target.errors = list(target.errors) + [e["message"]]
            else:
                flash(f"{e['field']}: {e['message']}", "error")
    else:
        flash(message_of(err), "error")


def _listing_page(shop, form, listing_id=None):
    """The listing form: a new listing, or one of the merchant's own with its images, slots and nights."""
    status = 422 if form.errors else 200
    if listing_id is None:
        return render_template("merchant/listing_edit.html", form=form, shop=shop, item=None), status
    item = catalog.get_listing_for(db.session, shop, listing_id)
    return render_template("merchant/listing_edit.html", form=form, shop=shop, item=item,
                           images=catalog.images_of(db.session, item), image_form=ImageForm(),
                           slots_form=SlotsForm(), nights_form=NightsForm(), action_form=EmptyForm(),
                           slots=catalog.open_slots(db.session, item, utcnow()),
                           nights=catalog.nights(db.session, item, utcnow().date())), status


def _listing_refused(err, listing_id=None, **_view_args):
    """The listing form again, the service's field errors under their fields."""
    form = ListingForm()
    _form_errors(form, err)
    return _listing_page(_shop(), form, listing_id)


@merchant.route("/listings")
@managers_only
def listings(shop):
    """The merchant's listings, newest first (archived ones on request)."""
    status = request.args.get("status")
    return render_template("merchant/listings.html", shop=shop, status=status,
                           listings=catalog.listings_of(db.session, shop, status))


@merchant.route("/listings/new", methods=["GET", "POST"])
@managers_only
@on_refusal(_listing_refused)
def new_listing(shop):
    """Create a listing; it starts as a draft until published."""
    form = ListingForm()
    if not form.validate_on_submit():
        return _listing_page(shop, form)
    listing = run(catalog.create_listing, db.session, shop, form.to_document())
    flash(_("Listing saved as a draft. Add images, then publish it."), "success")
    return redirect(url_for("merchant.edit_listing", listing_id=listing.id), code=303)


@merchant.route("/listings/<int:listing_id>", methods=["GET", "POST"])
@managers_only
@on_refusal(_listing_refused)
def edit_listing(shop, listing_id):
    """Edit one of the merchant's own listings (another merchant's is a 404)."""
    item = catalog.get_listing_for(db.session, shop, listing_id)
    form = ListingForm()
    if request.method == "GET":
        form.fill_from(item)
    elif form.validate_on_submit():
        run(catalog.update_listing, db.session, shop, listing_id, form.to_document())
        flash(_("Listing saved."), "success")
        return redirect(url_for("merchant.edit_listing", listing_id=listing_id), code=303)
    return _listing_page(shop, form, listing_id)


@merchant.route("/listings/<int:listing_id>/<any(publish, pause, archive):action>", methods=["POST"])
@managers_only
@on_refusal(back_to("merchant.edit_listing"))
def listing_status(shop, listing_id, action):
    """Publish, pause or archive a listing."""
    submitted(EmptyForm())
    run(catalog.set_status, db.session, shop, listing_id, action)
    flash(_("Listing updated."), "success")
    return redirect(url_for("merchant.edit_listing", listing_id=listing_id), code=303)


@merchant.route("/listings/<int:listing_id>/images", methods=["POST"])
@managers_only
@on_refusal(back_to("merchant.edit_listing"))
def upload_image(shop, listing_id):
    """Add an image: checked by its content, resized, at most five per listing."""
    form = ImageForm()
    if form.validate_on_submit():
        run(catalog.add_image, db.session, shop, listing_id, form.image.data.read(), settings_of(db.session).media_root)
        flash(_("Image added."), "success")
    else:
        flash(_("Choose an image file."), "error")
    return redirect(url_for("merchant.edit_listing", listing_id=listing_id), code=303)


@merchant.route("/listings/<int:listing_id>/slots", methods=["POST"])
@managers_only
@on_refusal(back_to("merchant.edit_listing"))
def add_slots(shop, listing_id):
    """Open bookable times for a service, every day in a date range."""
    form = SlotsForm()
    if not form.validate_on_submit():
        flash(_("Fill in the dates, times and places."), "error")
    elif (starts := form.instants()) is None:
        flash(_("Times must look like 09:00, 14:30 and span at most 90 days."), "error")
    else:
        added = run(catalog.add_slots, db.session, shop, listing_id, starts, form.capacity.data)
        flash(_("%(num)s times added.", num=added), "success")
    return redirect(url_for("merchant.edit_listing", listing_id=listing_id), code=303)


def _nights_refused(err, listing_id, **_view_args):
    text = ("; ".join(e["message"] for e in err.errors) if isinstance(err, catalog.InvalidListing)
            else message_of(err))
    flash(text, "error")
    return redirect(url_for("merchant.edit_listing", listing_id=listing_id), code=303)


@merchant.route("/listings/<int:listing_id>/nights", methods=["POST"])
@managers_only
@on_refusal(_nights_refused)
def set_nights(shop, listing_id):
    """Offer hotel nights in a date range at a price (off-season nights can cost fewer points)."""
    form = NightsForm()
    if form.validate_on_submit():
        changed = run(catalog.set_nights, db.session, shop, listing_id, form.first.data, form.last.data,
                      form.points_price.data, form.rooms.data)
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
                           orders=merchant_side.merchant_orders(db.session, shop, status if status != "all" else None))


@merchant.route("/orders/<int:order_id>/<any(fulfil, cancel):action>", methods=["POST"])
@managers_only
@on_refusal(back_to("merchant.orders"))
def order_action(shop, order_id, action):
    """Fulfil an order, or cancel it: the member gets every point back plus compensation."""
    submitted(EmptyForm())
    reason = (request.form.get("reason") or "").strip()[:200] or _("Cancelled by the merchant")
    if has_control_characters(reason):
        flash(_("Remove the control characters from this text."), "error")
        return redirect(url_for("merchant.orders"), code=303)
    if action == "fulfil":
        run(merchant_side.fulfil, db.session, shop, order_id)
    else:
        run(merchant_side.cancel_order, db.session, shop, order_id, reason)
    flash(_("Order #%(id)s updated.", id=order_id), "success")
    return redirect(url_for("merchant.orders"), code=303)


@merchant.route("/orders/<int:order_id>/lines/<int:line_id>/refund", methods=["POST"])
@managers_only
@on_refusal(back_to("merchant.orders"))
def refund_line(shop, order_id, line_id):
    """Refund one unit of a line; the form's one-time token makes a double click refund once."""
    submitted(EmptyForm())
    token = (request.form.get("token") or "").strip()[:64]
    if not token or has_control_characters(token):
        abort(400)
    points = run(merchant_side.refund_order_lines, db.session, shop, order_id, {line_id: 1}, f"backoffice:{token}")
    flash(_("Refunded one unit: %(points)s points back to the member.", points=points), "success")
    return redirect(url_for("merchant.orders"), code=303)


def _vouchers_page(form):
    return render_template("merchant/vouchers.html", form=form), 422 if form.errors else 200


def _voucher_refused(err, **_view_args):
    """The code field again, with why the voucher was not accepted."""
    form = VoucherForm()
    form.code.errors = [message_of(err)]
    return _vouchers_page(form)


@merchant.route("/vouchers", methods=["GET", "POST"])
@staff_only
@on_refusal(_voucher_refused, not_found=True)
def vouchers(shop):
    """Accept a voucher by typing or scanning its code; each code works once."""
    form = VoucherForm()
    if not form.validate_on_submit():
        return _vouchers_page(form)
    voucher = run(merchant_side.redeem_voucher, db.session, shop, form.code.data)
    flash(_("Voucher %(code)s accepted.", code=voucher.code), "success")
    return redirect(url_for("merchant.vouchers"), code=303)


def _bills_page(shop, form, status: int):
    return render_template("merchant/bills.html", form=form, bills=bill_service.recent_for(db.session, shop),
                           confirm_form=BillConfirmForm(), settings=settings_of(db.session),
                           share=merchants.terms_of(db.session, shop).bill_max_share_percent), status


def _bill_request_refused(err, **_view_args):
    flash(message_of(err), "error")
    return _bills_page(_shop(), BillForm(), 200)


@merchant.route("/bills", methods=["GET", "POST"])
@staff_only
@on_refusal(_bill_request_refused, not_found=True)
def bills(shop):
    """Ask a member to pay part of a bill with points; confirm with the member's one-time code."""
    form = BillForm()
    if not form.validate_on_submit():
        return _bills_page(shop, form, 422 if form.errors else 200)
    bill = run(bill_service.request_payment, db.session, shop, form.member_code.data, yuan_to_fen(form.bill.data),
               yuan_to_fen(form.points_part.data) if form.points_part.data else None, form.reference.data or "")
    flash(_("Request #%(id)s sent to the member.", id=bill.id), "success")
    return redirect(url_for("merchant.bills"), code=303)


def _confirm_refused(err, **_view_args):
    """Why the code was refused (wrong, not 6 digits, the request void or expired): 422."""
    flash(message_of(err), "error")
    return _bills_page(_shop(), BillForm(formdata=None), 422)


@merchant.route("/bills/<int:bill_id>/confirm", methods=["POST"])
@staff_only
@bill_limits.per_member
@bill_limits.per_staff_user
@on_refusal(_confirm_refused)
def confirm_bill(shop, bill_id):
    """Approve a request with the one-time code the member reads out from the mall; a refused code
    (wrong, not 6 digits, or the request void or expired) answers 422 with the reason."""
    form = BillConfirmForm()
    if not form.validate_on_submit():
        if not form.code.errors:  # a missing or stale CSRF token
            abort(400)
        flash("; ".join(map(str, form.code.errors)), "error")  # e.g. control characters
        return _bills_page(shop, BillForm(formdata=None), 422)
    bill = run(bill_service.confirm_by_code, db.session, shop, bill_id, form.code.data)
    flash(_("Paid %(points)s points. Cash still due: %(cash)s.", points=bill.points_used,
            cash=format_fen(bill.cash_due_fen)), "success")
    return redirect(url_for("merchant.bills"), code=303)


# ---------------------------------------------------------------- joining the coalition

def _upload(field) -> bytes | None:
    """An uploaded file's bytes (one more than the largest allowed, so that the service sees it is too
    large without the whole of a huge upload in memory), or None when none was chosen."""
    data = field.data
    return data.read(MAX_IMAGE_BYTES + 1) if data and getattr(data, "filename", "") else None


def _apply_refused(err, **_):
    form = ApplicationForm()
    _form_errors(form, err)
    return render_template("merchant/apply.html", form=form,
                           application=merchants.application_for(db.session, current_user)), 422


@merchant.route("/apply", methods=["GET", "POST"])
@login_required
@on_refusal(_apply_refused)
def apply():
    """Apply for a business to join (or see how the application stands, and send it again if asked)."""
    application = merchants.application_for(db.session, current_user)
    form = ApplicationForm(obj=application if request.method == "GET" and application else None)
    if form.validate_on_submit():
        run(merchants.apply, db.session, current_user, {k: getattr(form, k).data for k in merchants.APPLICATION_FIELDS},
            logo=_upload(form.logo), media_root=settings_of(db.session).media_root)
        flash(_("Thank you: your application is sent. We usually answer within two working days."), "success")
        return redirect(url_for("merchant.apply"), code=303)
    return render_template("merchant/apply.html", form=form, application=application), 422 if form.errors else 200


# ---------------------------------------------------------------- statements

@merchant.route("/statements")
@managers_only
def statements(shop):
    """The merchant's monthly statements with the programme: issued and fee, redeemed and reimbursement."""
    return render_template("merchant/statements.html", shop=shop, rows=reports.merchant_statements(db.session, shop),
                           terms=merchants.terms_of(db.session, shop), csv_url=url_for("merchant.statements_csv"))


@merchant.route("/statements.csv")
@managers_only
def statements_csv(shop):
    return csv_response(f"statements-{shop.slug}.csv",
                        reports.merchant_statement_rows(reports.merchant_statements(db.session, shop)))


# ---------------------------------------------------------------- staff

def _staff_page(shop, form, new=None, status=200, invite_form=None):
    return render_template("merchant/staff.html", shop=shop, form=form, staff=accounts.staff_of(db.session, shop.id),
                           new=new, action_form=StaffRoleForm(), invite_form=invite_form or InviteForm(formdata=None),
                           invitations=accounts.invitations_of_merchant(db.session, shop.id)), status


def _staff_refused(err, **_):
    if "member_code" in request.form:
        form = InviteForm()
        _form_errors(form, err)
        return _staff_page(_shop(), StaffForm(formdata=None), status=422, invite_form=form)
    form = StaffForm()
    _form_errors(form, err)
    return _staff_page(_shop(), form, status=422)


@merchant.route("/staff", methods=["GET", "POST"])
@owner_only
@on_refusal(_staff_refused)
def staff(shop):
    """The owner's page: who works here and as what; add a manager or a cashier."""
    form = StaffForm()
    if form.validate_on_submit():
        user, password = run(accounts.add_staff, db.session, current_user, form.email.data, form.display_name.data,
                             form.role.data)
        return _staff_page(shop, StaffForm(formdata=None), new=(user.email, password))
    return _staff_page(shop, form, status=422 if form.errors else 200)


@merchant.route("/staff/invite", methods=["POST"])
@owner_only
@on_refusal(_staff_refused)
def invite_staff(shop):
    """Invite a member, by member code, to the staff in a role; they answer in their account."""
    form = InviteForm()
    if not form.validate_on_submit():
        return _staff_page(shop, StaffForm(formdata=None), status=422, invite_form=form)
    run(accounts.invite_staff, db.session, current_user, form.member_code.data, form.role.data)
    flash(_("Invitation sent. They accept it under My account."), "success")
    return redirect(url_for("merchant.staff"), code=303)


@merchant.route("/staff/invitations/<int:invitation_id>/withdraw", methods=["POST"])
@owner_only
@on_refusal(back_to("merchant.staff"))
def withdraw_invitation(shop, invitation_id):
    submitted(EmptyForm())
    run(accounts.withdraw_invitation, db.session, current_user, invitation_id)
    flash(_("Invitation withdrawn."), "success")
    return redirect(url_for("merchant.staff"), code=303)


@merchant.route("/activity")
@owner_only
def activity(shop):
    """Who on the staff did what: the audit trail of the merchant's back office and API keys."""
    staff = accounts.staff_of(db.session, shop.id)
    who = request.args.get("staff", type=int)
    who = who if who in {u.id for u in staff} else None
    before = request.args.get("before", type=int)
    entries = audit.search(db.session, audit.Filters(merchant_id=shop.id, actor_id=who), before_id=before)
    return render_template("merchant/activity.html", shop=shop, actions=audit.as_actions(entries), staff=staff,
                           who=who, older=entries[-1].id if len(entries) == audit.PAGE else None)


@merchant.route("/staff/<int:user_id>/<any(role, remove):action>", methods=["POST"])
@owner_only
@on_refusal(back_to("merchant.staff"))
def staff_action(shop, user_id, action):
    form = StaffRoleForm()
    if not form.validate_on_submit():
        abort(400)
    if action == "remove":
        run(accounts.remove_staff, db.session, current_user, user_id)
        flash(_("They are no longer on your staff and can no longer sign in."), "success")
    else:
        run(accounts.set_staff_role, db.session, current_user, user_id, form.role.data)
        flash(_("Role changed."), "success")
    return redirect(url_for("merchant.staff"), code=303)


# ---------------------------------------------------------------- the merchant's own campaigns

def _campaigns_page(shop, form, status=200):
    now = utcnow()
    return render_template("merchant/campaigns.html", shop=shop, form=form, now=now,
                           limits=merchant_campaigns.limits_at(db.session, now),
                           fee=merchants.terms_of(db.session, shop).issuance_fee_fen_per_point,
                           campaigns=merchant_campaigns.of_merchant(db.session, shop.id),
                           action_form=EmptyForm()), status


def _campaign_refused(err, **_):
    form = CampaignForm()
    _form_errors(form, err)
    return _campaigns_page(_shop(), form, status=422)


@merchant.route("/campaigns", methods=["GET", "POST"])
@managers_only
@on_refusal(_campaign_refused)
def campaigns(shop):
    """Double points or a bonus on purchases here, within the programme's published limits."""
    form = CampaignForm()
    if form.validate_on_submit():
        run(merchant_campaigns.create, db.session, current_user, shop, **form.to_kwargs())
        flash(_("Campaign set up. It appears on your page and on the rules page."), "success")
        return redirect(url_for("merchant.campaigns"), code=303)
    return _campaigns_page(shop, form, status=422 if form.errors else 200)


@merchant.route("/campaigns/<int:campaign_id>/end", methods=["POST"])
@managers_only
@on_refusal(back_to("merchant.campaigns"))
def end_campaign(shop, campaign_id):
    submitted(EmptyForm())
    run(merchant_campaigns.end, db.session, current_user, shop, campaign_id)
    flash(_("The campaign is over. Purchases made before now keep their points."), "success")
    return redirect(url_for("merchant.campaigns"), code=303)


@merchant.route("/logo", methods=["POST"])
@managers_only
@on_refusal(back_to("merchant.dashboard"))
def logo(shop):
    """Replace the logo on the merchant's page."""
    form = LogoForm()
    if not form.validate_on_submit():
        flash(_("Choose an image file."), "error")
    else:
        run(merchants.set_logo, db.session, current_user, shop, _upload(form.image),
            settings_of(db.session).media_root)
        flash(_("Logo saved."), "success")
    return redirect(url_for("merchant.dashboard"), code=303)

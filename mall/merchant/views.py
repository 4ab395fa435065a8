"""Merchant back office: issuance dashboard, recording purchases with a live quote, API keys."""
import secrets
from functools import wraps

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from mall.account.forms import EmptyForm
from mall.api import service as api_service
from mall.db import write
from mall.errors import DomainError
from mall.extensions import db
from mall.merchant.forms import ApiKeyForm, PurchaseForm
from mall.rules import service as rules
from mall.web import render_page_or_fragment

merchant = Blueprint("merchant", __name__, url_prefix="/merchant")


def staff_only(view):
    """Merchant staff only; everyone else is told the page does not exist."""
    @wraps(view)
    @login_required
    def wrapper(**kwargs):
        try:
            shop = api_service.for_user_merchant(db.session, current_user)
        except DomainError:
            abort(404)
        return view(shop, **kwargs)
    return wrapper


@merchant.route("/")
@staff_only
def dashboard(shop):
    """Points issued per day, what they cost, and the latest purchases."""
    fee = current_app.config["ISSUANCE_FEE_FEN_PER_POINT"]
    days = rules.issuance_by_day(db.session, shop, 30)
    return render_template("merchant/dashboard.html", shop=shop, days=days, fee=fee,
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
    from mall.rules.models import Purchase

    document = form.to_document()
    token = form.token.data or secrets.token_urlsafe(16)
    with write(db.session):
        claim = api_service.claim(db.session, shop.id, "backoffice:create-purchase", token,
                                  repr(sorted(document.items())).encode())
        record_id = claim.record.id
        if claim.replay:
            return db.session.get(Purchase, int(claim.record.body))
    try:
        with write(db.session):
            purchase = rules.parse_purchase(document)
            row = rules.award_purchase(db.session, shop, purchase, actor_id=current_user.id)
            api_service.complete(db.session, record_id, 201, str(row.id))
            return row
    except BaseException:
        with write(db.session):
            api_service.release(db.session, record_id)
        raise


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

"""Impact pages: the member's report, certificate links, the public certificate, operator factors."""
from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from mall.account.forms import EmptyForm
from mall.guards import operator_only
from mall.db import write
from mall.errors import DomainError, NotFound
from mall.extensions import db
from mall.impact import service
from mall.impact.forms import FactorForm, ShareForm
from mall.impact.models import OTHER

impact = Blueprint("impact", __name__)


def kg(grams: int | None) -> str:
    """Grams shown as kilograms with one decimal, e.g. 12345 → 12.3."""
    return f"{(grams or 0) / 1000:,.1f}"


def impact_category_label(key: str) -> str:
    from mall.labels import category_label

    if key == OTHER:
        return _("Other green items")
    return category_label(key)


@impact.record_once
def _helpers(state):
    service.settings["cache_seconds"] = 0 if state.app.testing else state.app.config.get("IMPACT_CACHE_SECONDS", 60)
    state.app.jinja_env.filters["kg"] = kg
    state.app.jinja_env.globals.update(
        impact_category_label=impact_category_label, impact_chart=service.chart,
        published_impact_factors=lambda: service.published_factors(db.session),
        programme_impact=lambda: service.programme(db.session))


def _members_only():
    if current_user.role != "member":
        abort(404)


@impact.route("/account/impact")
@login_required
def index():
    """The member's kg CO2e saved: total, monthly chart, categories, the median member, trees."""
    _members_only()
    return _page(ShareForm())


def _page(form, status=200):
    report = service.report(db.session, current_user.id)
    return render_template("impact/index.html", report=report, form=form,
                           shares=service.shares_of(db.session, current_user), revoke_form=EmptyForm()), status


@impact.route("/account/impact/shares", methods=["POST"])
@login_required
def share():
    """Make a certificate link showing only what the member ticked."""
    _members_only()
    form = ShareForm()
    if not form.validate_on_submit():
        return _page(form, 422)
    try:
        with write(db.session):
            made = service.create_share(db.session, current_user, show_name=form.show_name.data,
                                        show_categories=form.show_categories.data,
                                        show_chart=form.show_chart.data, show_trees=form.show_trees.data)
            token = made.token
    except DomainError as err:
        form.show_name.errors.append(str(err.message))
        return _page(form, 422)
    flash(_("Your certificate link is ready: anyone with the link sees what you chose, nothing more."), "success")
    return redirect(url_for("impact.certificate", token=token), code=303)


@impact.route("/account/impact/shares/<int:share_id>/revoke", methods=["POST"])
@login_required
def revoke(share_id):
    """Withdraw a certificate link."""
    _members_only()
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        with write(db.session):
            service.revoke_share(db.session, current_user, share_id)
    except NotFound:
        abort(404)
    flash(_("The link no longer works."), "success")
    return redirect(url_for("impact.index"), code=303)


@impact.route("/impact/certificate/<token>")
def certificate(token):
    """A shared certificate: the total and only the parts its member chose to show."""
    try:
        shared = service.get_share(db.session, token)
    except NotFound:
        abort(404)
    from mall.account.models import User

    member = db.session.get(User, shared.member_id)
    report = service.report(db.session, shared.member_id)
    response = render_template("impact/certificate.html", share=shared, report=report,
                               name=member.display_name if shared.show_name else None,
                               own=current_user.is_authenticated and current_user.id == shared.member_id)
    return response, 200, {"X-Robots-Tag": "noindex"}


@impact.route("/admin/impact", methods=["GET", "POST"])
@operator_only
def factors():
    """Operators publish CO2e factors with their sources; changes apply to later events only."""
    form = FactorForm()
    if form.validate_on_submit():
        try:
            with write(db.session):
                service.set_factor(db.session, current_user, form.key.data, form.grams.data, form.source.data)
        except DomainError as err:
            form.key.errors.append(str(err.message))
        else:
            flash(_("Factor saved and published."), "success")
            return redirect(url_for("impact.factors"), code=303)
    rows, tree = service.published_factors(db.session)
    return render_template("impact/admin_factors.html", form=form, rows=rows, tree=tree), 422 if form.errors else 200

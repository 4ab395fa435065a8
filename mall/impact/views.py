"""Impact pages: the member's report, certificate links, the public certificate, operator factors."""
from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from mall.account.forms import EmptyForm
from mall.edge import message_of, on_refusal, run, submitted
from mall.extensions import db
from mall.guards import operator_only
from mall.impact import service
from mall.impact.forms import FactorForm, ShareForm
from mall.impact.models import OTHER
from mall.labels import category_label

impact = Blueprint("impact", __name__)


def kg(grams: int | None) -> str:
    """Grams shown as kilograms with one decimal, e.g. 12345 → 12.3."""
    return f"{(grams or 0) / 1000:,.1f}"


def impact_category_label(key: str) -> str:
    if key == OTHER:
        return _("Other green items")
    return category_label(key)


@impact.record_once
def _helpers(state):
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


def _share_refused(err):
    """The impact page again, with the refusal on the certificate form."""
    form = ShareForm()
    form.show_name.errors = [message_of(err)]
    return _page(form, 422)


@impact.route("/account/impact/shares", methods=["POST"])
@login_required
@on_refusal(_share_refused)
def share():
    """Make a certificate link showing only what the member ticked."""
    _members_only()
    form = ShareForm()
    if not form.validate_on_submit():
        return _page(form, 422)
    made = run(service.create_share, db.session, current_user, show_name=form.show_name.data,
               show_categories=form.show_categories.data, show_chart=form.show_chart.data,
               show_trees=form.show_trees.data)
    flash(_("Your certificate link is ready: anyone with the link sees what you chose, nothing more."), "success")
    return redirect(url_for("impact.certificate", token=made.token), code=303)


@impact.route("/account/impact/shares/<int:share_id>/revoke", methods=["POST"])
@login_required
def revoke(share_id):
    """Withdraw a certificate link."""
    _members_only()
    submitted(EmptyForm())
    run(service.revoke_share, db.session, current_user, share_id)
    flash(_("The link no longer works."), "success")
    return redirect(url_for("impact.index"), code=303)


@impact.route("/impact/certificate/<token>")
def certificate(token):
    """A shared certificate: the total and only the parts its member chose to show."""
    shown = service.get_certificate(db.session, token)
    response = render_template("impact/certificate.html", share=shown.share, report=shown.report, name=shown.name,
                               own=current_user.is_authenticated and current_user.id == shown.share.member_id)
    return response, 200, {"X-Robots-Tag": "noindex"}


def _factors_page(form, status=200):
    rows, tree = service.published_factors(db.session)
    return render_template("impact/admin_factors.html", form=form, rows=rows, tree=tree), status


def _factor_refused(err):
    """The factors page again, with the refusal under the category."""
    form = FactorForm()
    form.key.errors = [message_of(err)]
    return _factors_page(form, 422)


@impact.route("/admin/impact", methods=["GET", "POST"])
@operator_only
@on_refusal(_factor_refused)
def factors():
    """Operators publish CO2e factors with their sources; changes apply to later events only."""
    form = FactorForm()
    if not form.validate_on_submit():
        return _factors_page(form, 422 if form.errors else 200)
    run(service.set_factor, db.session, current_user, form.key.data, form.grams.data, form.source.data)
    flash(_("Factor saved and published."), "success")
    return redirect(url_for("impact.factors"), code=303)

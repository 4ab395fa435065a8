"""Public pages: the rules in force and their history, the points calculator, transparency."""
from decimal import Decimal

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required

from mall.clock import utcnow
from mall.coalition import service as merchants
from mall.account.forms import EmptyForm
from mall.edge import back_to, on_refusal, page_or_fragment, run, submitted
from mall.extensions import db
from mall.ledger import service as ledger
from mall.rules import channels, engine, merchant_campaigns, present
from mall.rules import service as rules
from mall.rules.forms import CalculatorForm, DiffForm, LinkForm
from mall.rules.models import RuleSet
from mall.settings import settings_of

public = Blueprint("rules", __name__)


def calculate(form: CalculatorForm, rule_set: RuleSet):
    """The calculator's answer: the same engine the awards use, on one item."""
    return present.one_item(rules.config_of(rule_set), form.category.data, int(Decimal(form.amount.data.strip()) * 100),
                            bool(form.green.data), form.tier.data, bool(form.good_credit.data), utcnow())


@public.route("/rules")
def index():
    """The published rules in plain language, upcoming versions, history and the calculator."""
    now = utcnow()
    current = rules.rule_set_at(db.session, now)
    form = CalculatorForm(request.args)
    versions = rules.published(db.session)
    return render_template("rules/index.html", **present.page(current, settings_of(db.session).expiry_policy, now),
                           versions=versions, upcoming_versions=[v for v in versions if v.effective_from > now], form=form,
                           result=calculate(form, current) if form.validate() else None,
                           diff_form=_diff_form(versions), channels=channels.channels(db.session),
                           merchant_campaigns=merchant_campaigns.public(db.session, now))


@public.route("/account/channels", methods=["GET", "POST"])
@login_required
@on_refusal(back_to("rules.linked_accounts"))
def linked_accounts():
    """Cards and transit accounts the member linked, so their green spend there earns points."""
    if current_user.role != "member":
        abort(404)
    form = LinkForm()
    form.channel.choices = [(c.id, c.name(str(get_locale()))) for c in channels.channels(db.session)]
    if form.validate_on_submit():
        row = run(channels.link, db.session, current_user, form.channel.data, form.number.data)
        flash(_("Linked: %(number)s.", number=row.masked), "success")
        return redirect(url_for("rules.linked_accounts"), code=303)
    names = {c.id: c for c in channels.channels(db.session, active_only=False)}
    return render_template("rules/channels.html", form=form, links=channels.links_of(db.session, current_user),
                           names=names, unlink_form=EmptyForm()), 422 if form.errors else 200


@public.route("/account/channels/<int:link_id>/unlink", methods=["POST"])
@login_required
@on_refusal(back_to("rules.linked_accounts"))
def unlink(link_id):
    submitted(EmptyForm())
    run(channels.unlink, db.session, current_user, link_id)
    flash(_("Unlinked. Spending with it earns no more points."), "success")
    return redirect(url_for("rules.linked_accounts"), code=303)


@public.route("/account/purchases/<int:purchase_id>")
@login_required
def purchase(purchase_id):
    """One of the member's purchases at a merchant: what they bought and the rule-by-rule breakdown of
    the points it earned, under the rules in force that day (another member's purchase is not found)."""
    row = rules.member_purchase(db.session, current_user, purchase_id)
    rule_set = rules.find_version(db.session, row.rule_set_version)
    award = {"points": row.points, "breakdown": engine.lines_from_json(row.breakdown)}
    return render_template("rules/purchase.html", purchase=row, award=award,
                           config=rules.config_of(rule_set) if rule_set else None,
                           merchant=merchants.names_of(db.session, {row.merchant_id}, str(get_locale())).get(
                               row.merchant_id, ""))


@public.route("/rules/calculator")
def calculator():
    """Points for an amount, category, green flag and tier (HTMX fragment or full page)."""
    current = rules.rule_set_at(db.session, utcnow())
    form = CalculatorForm(request.args)
    result = calculate(form, current) if form.validate() else None
    return page_or_fragment("rules/calculator.html", "rules/_calculator_result.html",
                            form=form, result=result, rule_set=current)


def _diff_form(versions) -> DiffForm:
    form = DiffForm(request.args)
    choices = [(v.version, str(v.version)) for v in versions]
    form.a.choices = form.b.choices = choices
    if form.a.data is None and len(versions) > 1:
        form.a.data = versions[1].version
    if form.b.data is None and versions:
        form.b.data = versions[0].version
    return form


@public.route("/rules/diff")
def diff():
    """What changed between two published versions."""
    versions = rules.published(db.session)
    form = _diff_form(versions)
    changes, a, b = None, None, None
    if form.validate() and form.a.data and form.b.data:
        a, b = rules.find_version(db.session, form.a.data), rules.find_version(db.session, form.b.data)
        if a is None or b is None:
            a = b = None
        else:
            changes = present.diff(a.document, b.document)
    return render_template("rules/diff.html", form=form, changes=changes, a=a, b=b)


@public.route("/transparency")
def transparency():
    """Programme totals, the ledger's daily digests and fraud adjustments, all from the ledger, and
    its newest sealed checkpoints."""
    return render_template("rules/transparency.html", totals=rules.programme_totals(db.session),
                           digests=rules.daily_digests(db.session, 7), checkpoints=ledger.latest_checkpoints(db.session, 5))


@public.route("/privacy")
def privacy():
    """What personal data the mall collects, why, for how long, and the member's rights over it."""
    return render_template("rules/privacy.html")

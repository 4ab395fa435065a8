"""Family pages: the household, invitations, the pool and its goal, leaving, and gifts."""
import secrets

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from mall.account.forms import EmptyForm
from mall.db import write
from mall.errors import DomainError, NotFound
from mall.extensions import db
from mall.family import service
from mall.family.forms import (
    ContributeForm, CreateFamilyForm, GiftForm, GoalForm, InviteForm, MemberForm, PercentForm, RightsForm,
)
from mall.ledger import service as ledger
from mall.web import is_htmx, render_page_or_fragment

family = Blueprint("family", __name__, url_prefix="/family")
CONFIG = {"FAMILY_MEMBER_LIMIT": "member_limit", "FAMILY_INVITE_DAYS": "invite_days",
          "FAMILY_GIFT_DAILY_LIMIT": "gift_daily_limit", "FAMILY_GIFT_MONTHLY_LIMIT": "gift_monthly_limit",
          "FAMILY_GIFT_OUTSIDE_FAMILY": "gift_outside_family", "FAMILY_LEAVE_POLICY": "leave_policy"}


@family.record_once
def configure(state):
    for key, name in CONFIG.items():
        if key in state.app.config:
            service.settings[name] = state.app.config[key]


def _mine():
    """The signed-in member's family and membership, or 404."""
    try:
        return service.get_family_for(db.session, current_user)
    except NotFound:
        abort(404)


def _pool_context(fam, me, error=None, contribute_form=None, percent_form=None, goal_form=None):
    pool = service.pool_account(db.session, fam)
    contribute_form = contribute_form or ContributeForm(formdata=None)
    contribute_form.token.data = secrets.token_urlsafe(16)
    percent_form = percent_form or PercentForm(formdata=None, percent=me.pool_percent)
    goal_form = goal_form or GoalForm(formdata=None, goal_name=fam.goal_name, goal_points=fam.goal_points)
    return dict(family=fam, me=me, pool=pool, shares=service.shares(db.session, fam),
                lots=ledger.open_lots(db.session, pool, limit=20), error=error,
                contribute_form=contribute_form, percent_form=percent_form, goal_form=goal_form,
                my_balance=ledger.member_balance(db.session, current_user.id) or 0)


def _members_context(fam, me, error=None, invite_link=None):
    month_used = service.redeemed_this_month(db.session, fam)
    return dict(family=fam, me=me, error=error, invite_link=invite_link, month_used=month_used,
                invitations=service.pending_invitations(db.session, fam), invite_form=InviteForm(formdata=None),
                rights_form=RightsForm(formdata=None), form=EmptyForm(), policy=service.policy())


def _page_context(fam, me, **extra):
    events = service.events(db.session, fam, limit=20)
    handover = MemberForm(formdata=None)
    handover.member.choices = [(m.user_id, m.user.display_name) for m in fam.members if m.user_id != me.user_id]
    return {**_pool_context(fam, me), **_members_context(fam, me), "events": events,
            "names": service.names_for_events(db.session, events), "handover": handover,
            "statement": service.pool_statement(db.session, fam, limit=20), **extra}


@family.route("/")
@login_required
def index():
    """The member's family, or how to start or join one."""
    try:
        fam, me = service.get_family_for(db.session, current_user)
    except NotFound:
        return render_template("family/start.html", form=CreateFamilyForm(), answer=EmptyForm(),
                               incoming=service.invitations_for(db.session, current_user), policy=service.policy())
    return render_template("family/family.html", **_page_context(fam, me))


@family.route("/", methods=["POST"])
@login_required
def create():
    """Create a family with the member as its head."""
    form = CreateFamilyForm()
    if form.validate_on_submit():
        try:
            with write(db.session):
                service.create_family(db.session, current_user, form.name.data)
        except DomainError as err:
            flash(str(err.message), "error")
        else:
            flash(_("Your family is ready. Invite the people you live with."), "success")
    else:
        flash(_("Give the family a name of 1 to 60 characters."), "error")
    return redirect(url_for("family.index"), code=303)


def _answer_members(fam_me_error=None, invite_link=None):
    fam, me = _mine()
    if is_htmx():
        return render_template("family/_members.html", **_members_context(fam, me, fam_me_error, invite_link))
    if fam_me_error:
        flash(str(fam_me_error), "error")
    return redirect(url_for("family.index"), code=303)


@family.route("/invitations", methods=["POST"])
@login_required
def invite():
    """Invite by member code or make a one-time link (head only); the link is shown once."""
    form = InviteForm()
    _mine()
    if not form.validate_on_submit():
        return _answer_members(_("Check the member code."))
    try:
        with write(db.session):
            _row, token = service.invite(db.session, current_user, form.member_code.data or "")
    except DomainError as err:
        return _answer_members(err.message)
    link = url_for("family.join", token=token, _external=True)
    if not is_htmx():
        flash(_("Invitation ready. Share this link once: %(link)s", link=link), "success")
    return _answer_members(invite_link=link)


@family.route("/invitations/<int:invitation_id>/revoke", methods=["POST"])
@login_required
def revoke(invitation_id):
    """Withdraw an invitation that has not been answered (head only)."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    _mine()
    try:
        with write(db.session):
            service.revoke(db.session, current_user, invitation_id)
    except NotFound:
        abort(404)
    except DomainError as err:
        return _answer_members(err.message)
    return _answer_members()


@family.route("/join/<token>")
@login_required
def join(token):
    """An invitation link: the family, its policy, and accept or decline."""
    try:
        invitation = service.invitation_by_token(db.session, current_user, token)
    except NotFound:
        abort(404)
    except DomainError as err:
        return render_template("family/join.html", invitation=None, error=err.message, form=EmptyForm(),
                               policy=service.policy()), err.status
    return render_template("family/join.html", invitation=invitation, token=token, error=None, form=EmptyForm(),
                           policy=service.policy(), head=invitation.family.head)


def _answer(invitation_loader, decision):
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        with write(db.session):
            invitation = invitation_loader()
            if decision == "accept":
                service.accept(db.session, current_user, invitation)
            else:
                service.decline(db.session, current_user, invitation)
    except NotFound:
        abort(404)
    except DomainError as err:
        flash(str(err.message), "error")
        if is_htmx():
            return _incoming()
        return redirect(url_for("family.index"), code=303)
    if decision == "accept":
        flash(_("Welcome to the family!"), "success")
        if is_htmx():
            response = _incoming()
            response.headers["HX-Redirect"] = url_for("family.index")
            return response
    else:
        flash(_("Invitation declined."), "info")
        if is_htmx():
            return _incoming()
    return redirect(url_for("family.index"), code=303)


def _incoming():
    from flask import make_response

    return make_response(render_template("family/_incoming.html", answer=EmptyForm(),
                                         incoming=service.invitations_for(db.session, current_user)))


@family.route("/join/<token>/<any(accept, decline):decision>", methods=["POST"])
@login_required
def answer_link(token, decision):
    """Accept or decline through a link (it works once)."""
    return _answer(lambda: service.invitation_by_token(db.session, current_user, token), decision)


@family.route("/invitations/<int:invitation_id>/<any(accept, decline):decision>", methods=["POST"])
@login_required
def answer(invitation_id, decision):
    """Accept or decline an invitation addressed to the member's code."""
    return _answer(lambda: service.invitation_by_id(db.session, current_user, invitation_id), decision)


@family.route("/members/<int:user_id>/rights", methods=["POST"])
@login_required
def rights(user_id):
    """Who may redeem from the pool and their monthly limit (head only)."""
    form = RightsForm()
    _mine()
    if not form.validate_on_submit():
        return _answer_members(_("Enter a monthly limit of 0 or more points, or leave it empty."))
    try:
        with write(db.session):
            service.set_rights(db.session, current_user, user_id, form.can_redeem.data, form.monthly_limit.data)
    except NotFound:
        abort(404)
    except DomainError as err:
        return _answer_members(err.message)
    if not is_htmx():
        flash(_("Pool rights saved."), "success")
    return _answer_members()


@family.route("/head", methods=["POST"])
@login_required
def hand_over():
    """Hand the head role to another member."""
    form = MemberForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        with write(db.session):
            service.hand_over(db.session, current_user, form.member.data)
    except NotFound:
        abort(404)
    except DomainError as err:
        flash(str(err.message), "error")
    else:
        flash(_("The head role has been handed over."), "success")
    return redirect(url_for("family.index"), code=303)


def _confirm(action, title, **context):
    """A confirmation page that shows the published policy before a member confirms."""
    fam, me = _mine()
    return render_template("family/confirm.html", action=action, title=title, family=fam, me=me, form=EmptyForm(),
                           policy=service.policy(), **context)


@family.route("/members/<int:user_id>/remove", methods=["GET", "POST"])
@login_required
def remove(user_id):
    """Remove a member (head only), after showing the leaving policy."""
    fam, me = _mine()
    target = next((m for m in fam.members if m.user_id == user_id), None)
    if target is None or me.role != "head":
        abort(404)
    if request.method == "GET":
        return _confirm("remove", _("Remove %(name)s from the family?", name=target.user.display_name), target=target)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        with write(db.session):
            service.remove_member(db.session, current_user, user_id)
    except NotFound:
        abort(404)
    except DomainError as err:
        flash(str(err.message), "error")
    else:
        flash(_("%(name)s has been removed from the family.", name=target.user.display_name), "success")
    return redirect(url_for("family.index"), code=303)


@family.route("/leave", methods=["GET", "POST"])
@login_required
def leave():
    """Leave the family, after showing what happens to pooled points."""
    fam, me = _mine()
    if request.method == "GET":
        return _confirm("leave", _("Leave %(name)s?", name=fam.name))
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        with write(db.session):
            service.leave(db.session, current_user)
    except DomainError as err:
        flash(str(err.message), "error")
        return redirect(url_for("family.index"), code=303)
    flash(_("You have left the family."), "success")
    return redirect(url_for("family.index"), code=303)


@family.route("/dissolve", methods=["GET", "POST"])
@login_required
def dissolve():
    """Dissolve the family (head only), after showing each member's pro-rata return."""
    fam, me = _mine()
    if me.role != "head":
        abort(404)
    if request.method == "GET":
        pool = service.pool_account(db.session, fam)
        plan = service.dissolution_plan(db.session, fam, ledger.spendable(db.session, pool))
        return _confirm("dissolve", _("Dissolve %(name)s?", name=fam.name), plan=plan, pool=pool)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        with write(db.session):
            service.dissolve(db.session, current_user)
    except DomainError as err:
        flash(str(err.message), "error")
        return redirect(url_for("family.index"), code=303)
    flash(_("The family has been dissolved and the pool returned to its members."), "success")
    return redirect(url_for("family.index"), code=303)


def _answer_pool(error=None, **forms):
    fam, me = _mine()
    if is_htmx():
        return render_template("family/_pool.html", oob=True, **_pool_context(fam, me, error, **forms))
    if error:
        flash(str(error), "error")
    return redirect(url_for("family.index"), code=303)


@family.route("/pool")
@login_required
def pool():
    """The pool: balance, goal, contributions and lots (the fragment refreshes in place)."""
    fam, me = _mine()
    return render_page_or_fragment("family/family.html", "family/_pool.html", **_page_context(fam, me))


@family.route("/contribute", methods=["POST"])
@login_required
def contribute():
    """Move points into the pool, with the member's explicit consent."""
    form = ContributeForm()
    _mine()
    if not form.validate_on_submit():
        return _answer_pool(_("Enter a whole number of points."), contribute_form=form)
    try:
        with write(db.session):
            service.contribute(db.session, current_user, form.points.data, form.token.data, form.consent.data)
    except DomainError as err:
        return _answer_pool(err.message, contribute_form=form)
    if not is_htmx():
        flash(_("%(num)s points moved into the family pool.", num=f"{form.points.data:,}"), "success")
    return _answer_pool()


@family.route("/percent", methods=["POST"])
@login_required
def percent():
    """Opt in (or out) to sending a share of every award to the pool."""
    form = PercentForm()
    _mine()
    if not form.validate_on_submit():
        return _answer_pool(_("Choose a share from 0 to 100%."), percent_form=form)
    try:
        with write(db.session):
            service.set_pool_percent(db.session, current_user, form.percent.data or 0, form.consent.data)
    except DomainError as err:
        return _answer_pool(err.message, percent_form=form)
    if not is_htmx():
        flash(_("Your share for the pool is saved."), "success")
    return _answer_pool()


@family.route("/goal", methods=["POST"])
@login_required
def goal():
    """The family's goal and its progress bar."""
    form = GoalForm()
    _mine()
    if not form.validate_on_submit():
        return _answer_pool(_("Give the goal a name and the points it needs."), goal_form=form)
    try:
        with write(db.session):
            service.set_goal(db.session, current_user, form.goal_name.data or "", form.goal_points.data)
    except DomainError as err:
        return _answer_pool(err.message, goal_form=form)
    return _answer_pool()


@family.route("/gift", methods=["GET", "POST"])
@login_required
def gift():
    """Gift points: choose the recipient and amount, then confirm on the next page."""
    form = GiftForm()
    recipients = service.gift_recipients(db.session, current_user)
    left = service.gift_limits_left(db.session, current_user)
    if request.method == "GET":
        form.token.data = secrets.token_urlsafe(16)
        if request.args.get("to"):
            form.recipient.data = request.args["to"][:12]
    elif form.validate_on_submit():
        try:
            preview = service.preview_gift(db.session, current_user, form.recipient.data, form.points.data)
        except DomainError as err:
            flash(str(err.message), "error")
        else:
            return render_template("family/gift_confirm.html", form=form, preview=preview)
    return render_template("family/gift.html", form=form, recipients=recipients, left=left,
                           policy=service.policy()), 422 if form.errors else 200


@family.route("/gift/send", methods=["POST"])
@login_required
def send_gift():
    """Send a confirmed gift (a double submit sends it once)."""
    form = GiftForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        with write(db.session):
            sent = service.gift_points(db.session, current_user, form.recipient.data, form.points.data, form.token.data)
            points = sent.points
    except DomainError as err:
        flash(str(err.message), "error")
        return redirect(url_for("family.gift"), code=303)
    flash(_("Gift sent: %(num)s points.", num=f"{points:,}"), "success")
    return redirect(url_for("family.gift"), code=303)

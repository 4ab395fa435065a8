"""Family pages: the household, invitations, the pool and its goal, leaving, and gifts."""
import secrets

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from mall.account.forms import EmptyForm
from mall.edge import back_to, fragment_or, message_of, on_refusal, page_or_fragment, run, submitted
from mall.extensions import db
from mall.family import service
from mall.family.forms import (
    ContributeForm, CreateFamilyForm, GiftForm, GoalForm, InviteForm, MemberForm, PercentForm, RightsForm,
)
from mall.ledger import service as ledger

family = Blueprint("family", __name__, url_prefix="/family")


def _mine():
    """The signed-in member's family and membership (NotFound, a 404, for anyone else)."""
    return service.get_family_for(db.session, current_user)


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
                rights_form=RightsForm(formdata=None), form=EmptyForm(), policy=service.policy(db.session))


def _page_context(fam, me, **extra):
    events = service.events(db.session, fam, limit=20)
    handover = MemberForm(formdata=None)
    handover.member.choices = [(m.user_id, m.user.display_name) for m in fam.members if m.user_id != me.user_id]
    return {**_pool_context(fam, me), **_members_context(fam, me), "events": events,
            "names": service.names_for_events(db.session, events), "handover": handover,
            "statement": service.pool_statement(db.session, fam, limit=20), **extra}


def _to_family(message=None, category="error"):
    """The plain-post answer: the family page, with the message flashed."""
    if message:
        flash(message, category)
    return redirect(url_for("family.index"), code=303)


@family.route("/")
@login_required
def index():
    """The member's family, or how to start or join one."""
    mine = service.find_family_for(db.session, current_user)
    if mine is None:
        return render_template("family/start.html", form=CreateFamilyForm(), answer=EmptyForm(),
                               incoming=service.invitations_for(db.session, current_user),
                               policy=service.policy(db.session))
    return render_template("family/family.html", **_page_context(*mine))


@family.route("/", methods=["POST"])
@login_required
@on_refusal(back_to("family.index"))
def create():
    """Create a family with the member as its head."""
    form = CreateFamilyForm()
    if not form.validate_on_submit():
        return _to_family(_("Give the family a name of 1 to 60 characters."))
    run(service.create_family, db.session, current_user, form.name.data)
    return _to_family(_("Your family is ready. Invite the people you live with."), "success")


# ---------------------------------------------------------------- the members panel

def _answer_members(error=None, invite_link=None, done=None):
    """HTMX: the members panel again, with the error or the new link; otherwise the family page,
    flashing the error or ``done``."""
    mine = service.find_family_for(db.session, current_user)
    if mine is None:
        return _to_family(error)
    return fragment_or(
        lambda: render_template("family/_members.html", **_members_context(*mine, error, invite_link)),
        lambda: _to_family(error) if error else _to_family(done, "success"))


def _members_refused(err, **_view_args):
    return _answer_members(message_of(err))


@family.route("/invitations", methods=["POST"])
@login_required
@on_refusal(_members_refused)
def invite():
    """Invite by member code or make a one-time link (head only); the link is shown once."""
    form = InviteForm()
    _mine()
    if not form.validate_on_submit():
        return _answer_members(_("Check the member code."))
    _row, token = run(service.invite, db.session, current_user, form.member_code.data or "")
    link = url_for("family.join", token=token, _external=True)
    return _answer_members(invite_link=link, done=_("Invitation ready. Share this link once: %(link)s", link=link))


@family.route("/invitations/<int:invitation_id>/revoke", methods=["POST"])
@login_required
@on_refusal(_members_refused)
def revoke(invitation_id):
    """Withdraw an invitation that has not been answered (head only)."""
    submitted(EmptyForm())
    _mine()
    run(service.revoke, db.session, current_user, invitation_id)
    return _answer_members()


@family.route("/members/<int:user_id>/rights", methods=["POST"])
@login_required
@on_refusal(_members_refused)
def rights(user_id):
    """Who may redeem from the pool and their monthly limit (head only)."""
    form = RightsForm()
    _mine()
    if not form.validate_on_submit():
        return _answer_members(_("Enter a monthly limit of 0 or more points, or leave it empty."))
    run(service.set_rights, db.session, current_user, user_id, form.can_redeem.data, form.monthly_limit.data)
    return _answer_members(done=_("Pool rights saved."))


# ---------------------------------------------------------------- answering an invitation

def _join_refused(err, token):
    return render_template("family/join.html", invitation=None, error=message_of(err), form=EmptyForm(),
                           policy=service.policy(db.session)), err.status


@family.route("/join/<token>")
@login_required
@on_refusal(_join_refused)
def join(token):
    """An invitation link: the family, its policy, and accept or decline."""
    invitation = service.invitation_by_token(db.session, current_user, token)
    return render_template("family/join.html", invitation=invitation, token=token, error=None, form=EmptyForm(),
                           policy=service.policy(db.session), head=invitation.family.head)


def _incoming():
    return make_response(render_template("family/_incoming.html", answer=EmptyForm(),
                                         incoming=service.invitations_for(db.session, current_user)))


def _joined():
    """The invitations panel, and HTMX sent on to the family page."""
    response = _incoming()
    response.headers["HX-Redirect"] = url_for("family.index")
    return response


def _answer_refused(err, **_view_args):
    flash(message_of(err), "error")
    return fragment_or(_incoming, _to_family)


def _answer(load_invitation, decision):
    submitted(EmptyForm())
    decide = service.accept if decision == "accept" else service.decline
    run(lambda: decide(db.session, current_user, load_invitation()))
    if decision == "accept":
        flash(_("Welcome to the family!"), "success")
        return fragment_or(_joined, _to_family)
    flash(_("Invitation declined."), "info")
    return fragment_or(_incoming, _to_family)


@family.route("/join/<token>/<any(accept, decline):decision>", methods=["POST"])
@login_required
@on_refusal(_answer_refused)
def answer_link(token, decision):
    """Accept or decline through a link (it works once)."""
    return _answer(lambda: service.invitation_by_token(db.session, current_user, token), decision)


@family.route("/invitations/<int:invitation_id>/<any(accept, decline):decision>", methods=["POST"])
@login_required
@on_refusal(_answer_refused)
def answer(invitation_id, decision):
    """Accept or decline an invitation addressed to the member's code."""
    return _answer(lambda: service.invitation_by_id(db.session, current_user, invitation_id), decision)


# ---------------------------------------------------------------- head, leaving and dissolving

@family.route("/head", methods=["POST"])
@login_required
@on_refusal(back_to("family.index"))
def hand_over():
    """Hand the head role to another member."""
    form = submitted(MemberForm())
    run(service.hand_over, db.session, current_user, form.member.data)
    return _to_family(_("The head role has been handed over."), "success")


def _confirm(action, title, **context):
    """A confirmation page that shows the published policy before a member confirms."""
    fam, me = _mine()
    return render_template("family/confirm.html", action=action, title=title, family=fam, me=me, form=EmptyForm(),
                           policy=service.policy(db.session), **context)


@family.route("/members/<int:user_id>/remove", methods=["GET", "POST"])
@login_required
@on_refusal(back_to("family.index"))
def remove(user_id):
    """Remove a member (head only), after showing the leaving policy."""
    fam, me = _mine()
    target = next((m for m in fam.members if m.user_id == user_id), None)
    if target is None or me.role != "head":
        abort(404)
    name = target.user.display_name
    if request.method == "GET":
        return _confirm("remove", _("Remove %(name)s from the family?", name=name), target=target)
    submitted(EmptyForm())
    run(service.remove_member, db.session, current_user, user_id)
    return _to_family(_("%(name)s has been removed from the family.", name=name), "success")


@family.route("/leave", methods=["GET", "POST"])
@login_required
@on_refusal(back_to("family.index"))
def leave():
    """Leave the family, after showing what happens to pooled points."""
    fam, _me = _mine()
    if request.method == "GET":
        return _confirm("leave", _("Leave %(name)s?", name=fam.name))
    submitted(EmptyForm())
    run(service.leave, db.session, current_user)
    return _to_family(_("You have left the family."), "success")


@family.route("/dissolve", methods=["GET", "POST"])
@login_required
@on_refusal(back_to("family.index"))
def dissolve():
    """Dissolve the family (head only), after showing each member's pro-rata return."""
    fam, me = _mine()
    if me.role != "head":
        abort(404)
    if request.method == "GET":
        pool = service.pool_account(db.session, fam)
        plan = service.dissolution_plan(db.session, fam, ledger.spendable(db.session, pool))
        return _confirm("dissolve", _("Dissolve %(name)s?", name=fam.name), plan=plan, pool=pool)
    submitted(EmptyForm())
    run(service.dissolve, db.session, current_user)
    return _to_family(_("The family has been dissolved and the pool returned to its members."), "success")


# ---------------------------------------------------------------- the pool panel

def _answer_pool(error=None, done=None, **forms):
    """HTMX: the pool panel again (and the header balance), with the error; otherwise the family
    page, flashing the error or ``done``."""
    mine = service.find_family_for(db.session, current_user)
    if mine is None:
        return _to_family(error)
    return fragment_or(
        lambda: render_template("family/_pool.html", oob=True, **_pool_context(*mine, error, **forms)),
        lambda: _to_family(error) if error else _to_family(done, "success"))


def _pool_refused(**forms):
    """A refusal on the pool panel: the panel with the message, keeping the posted form."""
    def respond(err, **_view_args):
        return _answer_pool(message_of(err), **{name: form_class() for name, form_class in forms.items()})
    return respond


@family.route("/pool")
@login_required
def pool():
    """The pool: balance, goal, contributions and lots (the fragment refreshes in place)."""
    return page_or_fragment("family/family.html", "family/_pool.html", **_page_context(*_mine()))


@family.route("/contribute", methods=["POST"])
@login_required
@on_refusal(_pool_refused(contribute_form=ContributeForm))
def contribute():
    """Move points into the pool, with the member's explicit consent."""
    form = ContributeForm()
    _mine()
    if not form.validate_on_submit():
        return _answer_pool(_("Enter a whole number of points."), contribute_form=form)
    run(service.contribute, db.session, current_user, form.points.data, form.token.data, form.consent.data)
    return _answer_pool(done=_("%(num)s points moved into the family pool.", num=f"{form.points.data:,}"))


@family.route("/percent", methods=["POST"])
@login_required
@on_refusal(_pool_refused(percent_form=PercentForm))
def percent():
    """Opt in (or out) to sending a share of every award to the pool."""
    form = PercentForm()
    _mine()
    if not form.validate_on_submit():
        return _answer_pool(_("Choose a share from 0 to 100%."), percent_form=form)
    run(service.set_pool_percent, db.session, current_user, form.percent.data or 0, form.consent.data)
    return _answer_pool(done=_("Your share for the pool is saved."))


@family.route("/goal", methods=["POST"])
@login_required
@on_refusal(_pool_refused(goal_form=GoalForm))
def goal():
    """The family's goal and its progress bar."""
    form = GoalForm()
    _mine()
    if not form.validate_on_submit():
        return _answer_pool(_("Give the goal a name and the points it needs."), goal_form=form)
    run(service.set_goal, db.session, current_user, form.goal_name.data or "", form.goal_points.data)
    return _answer_pool()


# ---------------------------------------------------------------- gifts

def _gift_page(form, status=200):
    return render_template("family/gift.html", form=form, recipients=service.gift_recipients(db.session, current_user),
                           left=service.gift_limits_left(db.session, current_user),
                           policy=service.policy(db.session)), status


def _gift_refused(err, **_view_args):
    flash(message_of(err), "error")
    return _gift_page(GiftForm())


@family.route("/gift", methods=["GET", "POST"])
@login_required
@on_refusal(_gift_refused)
def gift():
    """Gift points: choose the recipient and amount, then confirm on the next page."""
    form = GiftForm()
    if request.method == "GET":
        form.token.data = secrets.token_urlsafe(16)
        if request.args.get("to"):
            form.recipient.data = request.args["to"][:12]
    elif form.validate_on_submit():
        preview = service.preview_gift(db.session, current_user, form.recipient.data, form.points.data)
        return render_template("family/gift_confirm.html", form=form, preview=preview)
    return _gift_page(form, 422 if form.errors else 200)


@family.route("/gift/send", methods=["POST"])
@login_required
@on_refusal(back_to("family.gift"))
def send_gift():
    """Send a confirmed gift (a double submit sends it once)."""
    form = submitted(GiftForm())
    sent = run(service.gift_points, db.session, current_user, form.recipient.data, form.points.data, form.token.data,
              note=form.note.data or "")
    flash(_("Gift sent: %(num)s points.", num=f"{sent.points:,}"), "success")
    return redirect(url_for("family.gift"), code=303)

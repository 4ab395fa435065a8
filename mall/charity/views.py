"""Charity pages: public projects and progress, donating, pledges, receipts, and the operator's console."""
import secrets
from datetime import datetime, time, timedelta

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext as _
from flask_login import current_user, login_required

from mall.account.forms import EmptyForm
from mall.charity import service
from mall.charity.forms import CampaignForm, CloseForm, DonateForm, ImageForm, PayoutForm, PledgeForm, ProjectForm
from mall.charity.models import CAUSES, STATUSES
from mall.clock import SHANGHAI, utcnow
from mall.edge import back_to, fragment_or, message_of, on_refusal, page_or_fragment, run, submitted
from mall.extensions import db
from mall.family import service as family
from mall.forms import database_id
from mall.guards import managers_only, operator_only
from mall.labels import CAUSES as CAUSE_LABELS
from mall.ledger import service as ledger
from mall.coalition.service import staff_merchant

charity = Blueprint("charity", __name__)


def _is_member() -> bool:
    return current_user.is_authenticated and current_user.role == "member"


def _donate_form(form: DonateForm | None = None) -> DonateForm:
    form = form or DonateForm()
    form.token.data = secrets.token_urlsafe(16)  # a fresh token: each shown form is one donation
    return form


def project_context(project, **extra) -> dict:
    """Everything the project page and its progress fragment show."""
    now = utcnow()
    context = {
        "project": project, "now": now, "status": project.status_at(now),
        "held": service.held_points(db.session, project),
        "campaign": service.running_campaign(db.session, project, now),
        "quick_amounts": service.QUICK_AMOUNTS, "balance": None, "expiring": 0,
        "form": _donate_form(extra.pop("form", None)), "donated": extra.pop("donated", None),
    }
    if _is_member():
        context["balance"] = ledger.member_balance(db.session, current_user.id)
        context["pool_available"] = family.pool_available(db.session, current_user, now)  # 0 without rights
        context["expiring"] = service.expiring_this_month(db.session, current_user, now)
    context.update(extra)
    return context


@charity.route("/charity")
def index():
    """Projects, filtered by cause and status, with the programme's charity totals."""
    cause = request.args.get("cause") if request.args.get("cause") in CAUSES else None
    status = request.args.get("status") if request.args.get("status") in STATUSES else None
    page = request.args.get("page", 1, type=int) or 1
    result = service.projects(db.session, utcnow(), cause=cause, status=status, page=page)
    return render_template("charity/index.html", result=result, cause=cause, status=status, causes=CAUSE_LABELS,
                           statuses=STATUSES, totals=service.totals(db.session), now=utcnow())


@charity.route("/charity/<int:project_id>")
def project(project_id):
    """A project's story, progress, donor wall, matching and payout records."""
    item = service.get_project(db.session, project_id)
    return render_template("charity/project.html", **project_context(item),
                           wall=service.donor_wall(db.session, item), payouts=service.payouts(db.session, item),
                           campaigns=service.campaigns(db.session, item), pledge_form=PledgeForm())


@charity.route("/charity/<int:project_id>/progress")
def progress(project_id):
    """The progress bar and totals alone (HTMX fragment)."""
    item = service.get_project(db.session, project_id)
    return page_or_fragment("charity/project.html", "charity/_progress.html", **project_context(item),
                            wall=service.donor_wall(db.session, item), payouts=service.payouts(db.session, item),
                            campaigns=service.campaigns(db.session, item), pledge_form=PledgeForm())


def _donation_answer(project_id, form, error):
    """A donation not made: HTMX gets the panel with the message (a 200, as htmx swaps only 2xx);
    a plain post goes back to the project with the message flashed."""
    def fragment():
        item = service.get_project(db.session, project_id)
        return render_template("charity/_progress.html", **project_context(item, form=form, error=error))

    def back():
        flash(error, "error")
        return redirect(url_for("charity.project", project_id=project_id), code=303)

    return fragment_or(fragment, back)


def _donation_refused(err, project_id):
    return _donation_answer(project_id, DonateForm(), message_of(err))


@charity.route("/charity/<int:project_id>/donate", methods=["POST"])
@login_required
@on_refusal(_donation_refused)
def donate(project_id):
    """Donate points; HTMX gets the updated progress and donate panel, a plain POST a 303 to the receipt."""
    service.get_project(db.session, project_id)
    form = DonateForm()
    amount = None
    if form.validate_on_submit():
        amount = form.amount(service.expiring_this_month(db.session, current_user))
        if amount is None:
            form.points.errors = [_("Enter a whole number of points, at least 1.")]
    if amount is None:
        error = next(iter(form.errors.values()))[0] if form.errors else _("This form has expired. Please try again.")
        return _donation_answer(project_id, form, error)
    done = run(service.donate, db.session, current_user, project_id, amount, anonymous=bool(form.anonymous.data),
               token=form.token.data or "", source="family" if form.from_pool.data else "own")
    number = done.donation.receipt_number

    def progress():
        item = service.get_project(db.session, project_id)
        donation = service.get_receipt_for(db.session, current_user, number)
        return render_template("charity/_progress.html", **project_context(item, donated=donation),
                               wall=service.donor_wall(db.session, item))  # swapped in out of band too

    def to_receipt():
        flash(_("Thank you! Your receipt is below."), "success")
        return redirect(url_for("charity.receipt", number=number), code=303)

    return fragment_or(progress, to_receipt)


@charity.route("/charity/<int:project_id>/pledge", methods=["POST"])
@login_required
@on_refusal(back_to("charity.project"))
def pledge(project_id):
    """Start a monthly pledge."""
    service.get_project(db.session, project_id)
    form = PledgeForm()
    if not form.validate_on_submit():
        flash(_("Enter a whole number of points, at least 1."), "error")
        return redirect(url_for("charity.project", project_id=project_id), code=303)
    run(service.pledge_monthly, db.session, current_user, project_id, form.points.data,
        anonymous=bool(form.anonymous.data))
    flash(_("Monthly pledge saved. It is collected once a month; pause or cancel it here any time."), "success")
    return redirect(url_for("charity.donations"), code=303)


@charity.route("/account/pledges/<int:pledge_id>/<any(pause, resume, cancel):action>", methods=["POST"])
@login_required
@on_refusal(back_to("charity.donations"))
def change_pledge(pledge_id, action):
    """Pause, resume or cancel a pledge."""
    submitted(EmptyForm())
    run(service.change_pledge, db.session, current_user, pledge_id, action)
    flash({"pause": _("Pledge paused."), "resume": _("Pledge resumed."),
           "cancel": _("Pledge cancelled.")}[action], "success")
    return redirect(url_for("charity.donations"), code=303)


@charity.route("/account/donations")
@login_required
def donations():
    """The member's donations with their receipts, and their monthly pledges."""
    before = request.args.get("before", type=database_id)
    rows = service.member_donations(db.session, current_user, before_id=before)
    return render_template("charity/donations.html", rows=rows, pledges=service.member_pledges(db.session, current_user),
                           totals=service.member_totals(db.session, current_user), form=EmptyForm(),
                           next_before=rows[-1].id if len(rows) == 20 else None)


@charity.route("/charity/receipts/<number>")
@login_required
def receipt(number):
    """A printable donation receipt (its donor's and operators' eyes only)."""
    donation = service.get_receipt_for(db.session, current_user, number[:32])
    return render_template("charity/receipt.html", donation=donation, project=donation.project,
                           donor=service.donor_of(db.session, donation))


# ---------------------------------------------------------------- operator console

def _local_start(day) -> datetime:
    return datetime.combine(day, time(0), tzinfo=SHANGHAI)


def _cause_choices():
    return [(key, str(label)) for key, label in CAUSE_LABELS.items()]


def _draft(form: ProjectForm) -> service.ProjectDraft:
    return service.ProjectDraft(
        cause=form.cause.data, organisation_zh=form.organisation_zh.data, organisation_en=form.organisation_en.data,
        title_zh=form.title_zh.data, title_en=form.title_en.data, story_zh=form.story_zh.data or "",
        story_en=form.story_en.data or "", goal_points=form.goal_points.data,
        fen_per_100_points=form.fen_per_100_points.data, starts_at=_local_start(form.starts_on.data),
        ends_at=_local_start(form.ends_on.data + timedelta(days=1)))


@charity.route("/admin/charity")
@operator_only
def admin_index():
    """Every project with its totals and what its account holds."""
    items = service.all_projects(db.session, current_user)
    return render_template("charity/admin_index.html", items=items, now=utcnow(),
                           held=service.held_by_project(db.session, items))


def _project_form(item=None) -> ProjectForm:
    form = ProjectForm(obj=item)
    form.cause.choices = _cause_choices()
    return form


def _new_project_refused(err, **_view_args):
    form = _project_form()
    form.cause.errors = [message_of(err)]
    return render_template("charity/admin_edit.html", form=form, item=None), 422


@charity.route("/admin/charity/new", methods=["GET", "POST"])
@operator_only
@on_refusal(_new_project_refused)
def admin_new():
    """Create a project."""
    form = _project_form()
    if form.validate_on_submit():
        created = run(service.create_project, db.session, current_user, _draft(form))
        flash(_("Project created."), "success")
        return redirect(url_for("charity.admin_project", project_id=created.id), code=303)
    return render_template("charity/admin_edit.html", form=form, item=None), 422 if form.errors else 200


def _edit_page(item, form):
    """The project's console page: its form, image, campaigns, payouts and closing."""
    campaign_form = CampaignForm()
    campaign_form.sponsor.choices = [("", _("The programme"))] + [
        (str(m.id), m.name(str(get_locale()))) for m in service.approved_merchants(db.session)]
    return render_template("charity/admin_edit.html", form=form, item=item, image_form=ImageForm(),
                           campaign_form=campaign_form, payout_form=PayoutForm(), close_form=CloseForm(),
                           held=service.held_points(db.session, item), payouts=service.payouts(db.session, item),
                           campaigns=service.campaigns(db.session, item), now=utcnow()), 422 if form.errors else 200


def _edit_refused(err, project_id):
    flash(message_of(err), "error")
    return _edit_page(service.get_project(db.session, project_id), _project_form())


@charity.route("/admin/charity/<int:project_id>", methods=["GET", "POST"])
@operator_only
@on_refusal(_edit_refused)
def admin_project(project_id):
    """Edit a project; upload its image; matching campaigns, payouts and closing."""
    item = service.get_project_for(db.session, current_user, project_id)
    if request.method == "GET":
        form = _project_form(item)
        form.starts_on.data = item.starts_at.astimezone(SHANGHAI).date()
        form.ends_on.data = (item.ends_at.astimezone(SHANGHAI) - timedelta(days=1)).date()
    else:
        form = _project_form()
        if form.validate_on_submit():
            run(service.update_project, db.session, current_user, project_id, _draft(form))
            flash(_("Project saved."), "success")
            return redirect(url_for("charity.admin_project", project_id=project_id), code=303)
    return _edit_page(item, form)


@charity.route("/admin/charity/<int:project_id>/image", methods=["POST"])
@operator_only
@on_refusal(back_to("charity.admin_project"))
def admin_image(project_id):
    """Upload the project's cover image."""
    form = ImageForm()
    if not form.validate_on_submit():
        flash(_("Choose an image file."), "error")
    else:
        run(service.add_project_image, db.session, current_user, project_id,
            form.image.data.read(service.MAX_IMAGE_BYTES + 1), current_app.config["MEDIA_ROOT"])
        flash(_("Image saved."), "success")
    return redirect(url_for("charity.admin_project", project_id=project_id), code=303)


@charity.route("/admin/charity/<int:project_id>/campaigns", methods=["POST"])
@operator_only
@on_refusal(back_to("charity.admin_project"))
def admin_campaign(project_id):
    """Start a matching campaign funded by a merchant or the programme."""
    form = CampaignForm()
    form.sponsor.choices = []
    if not form.validate_on_submit():
        flash(_("Check the campaign: match, cap and dates are required."), "error")
    else:
        run(service.create_match_campaign, db.session, current_user, project_id,
            merchant_id=form.sponsor.data,  # None: the programme
            match_percent=form.match_percent.data, cap_points=form.cap_points.data,
            starts_at=_local_start(form.starts_on.data), ends_at=_local_start(form.ends_on.data + timedelta(days=1)))
        flash(_("Matching campaign saved."), "success")
    return redirect(url_for("charity.admin_project", project_id=project_id), code=303)


@charity.route("/admin/charity/<int:project_id>/payouts", methods=["POST"])
@operator_only
@on_refusal(back_to("charity.admin_project"))
def admin_payout(project_id):
    """Record a payout to the organisation."""
    form = PayoutForm()
    if not form.validate_on_submit():
        flash(_("Enter the points and the payment reference."), "error")
    else:
        run(service.pay_out, db.session, current_user, project_id, form.points.data, form.reference.data,
            form.note.data or "")
        flash(_("Payout recorded."), "success")
    return redirect(url_for("charity.admin_project", project_id=project_id), code=303)


@charity.route("/admin/charity/<int:project_id>/close", methods=["POST"])
@operator_only
@on_refusal(back_to("charity.admin_project"))
def admin_close(project_id):
    """Close the project; the remainder is paid out to the same organisation."""
    form = CloseForm()
    if not form.validate_on_submit():
        flash(_("Enter the reference of the final payout."), "error")
    else:
        run(service.close_project, db.session, current_user, project_id, form.reference.data)
        flash(_("Project closed."), "success")
    return redirect(url_for("charity.admin_project", project_id=project_id), code=303)


# ---------------------------------------------------------------- merchant back office

def _matching_page(shop, form):
    """The merchant's matching campaigns, and the form to fund a new one."""
    form.sponsor.label.text = _("Project")
    projects = service.matchable_projects(db.session, utcnow())
    form.sponsor.choices = [(str(p.id), p.title(str(get_locale()))) for p in projects]
    return render_template("charity/merchant.html", form=form, shop=shop, projects=projects,
                           campaigns=service.sponsored_campaigns(db.session, current_user),
                           committed=service.committed_matching(db.session, shop.id)), 422 if form.errors else 200


def _matching_refused(err, **_view_args):
    flash(message_of(err), "error")
    return _matching_page(staff_merchant(db.session, current_user), CampaignForm())


@charity.route("/merchant/charity", methods=["GET", "POST"])
@managers_only
@on_refusal(_matching_refused)
def merchant_matching(shop):
    """The merchant's matching campaigns, and a form to fund a new one from its own account."""
    form = CampaignForm()
    if form.validate_on_submit():
        if service.find_project(db.session, form.sponsor.data or 0) is None:
            flash(_("Choose a project."), "error")
        else:
            run(service.create_match_campaign, db.session, current_user, form.sponsor.data, merchant_id=shop.id,
                match_percent=form.match_percent.data, cap_points=form.cap_points.data,
                starts_at=_local_start(form.starts_on.data), ends_at=_local_start(form.ends_on.data + timedelta(days=1)))
            flash(_("Matching campaign saved."), "success")
            return redirect(url_for("charity.merchant_matching"), code=303)
    return _matching_page(shop, form)

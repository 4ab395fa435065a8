"""Operator console: merchants, members, fraud cases, the audit trail and reports."""
from datetime import datetime, time, timedelta

from flask import flash, g, redirect, render_template, request, send_file, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from mall.account import service as accounts
from mall.account.forms import EmptyForm
from mall.admin.blueprint import admin
from mall.admin.forms import (ActionForm, AuditFilterForm, CaseForm, EvidenceForm, MemberSearchForm,
                              MerchantStatusForm, ResolveForm, SuspendCampaignForm)
from mall.audit import service as audit
from mall.clock import SHANGHAI, utcnow
from mall.edge import answer_refusal, back_to, flash_and_redirect, message_of, on_refusal, run, submitted, transaction
from mall.errors import DomainError
from mall.extensions import db
from mall.forms import database_id
from mall.fraud import service as fraud
from mall.guards import operator_only
from mall.ledger import service as ledger
from mall.coalition import service as merchants
from mall.api import service as api_keys
from mall.coalition.forms import ReviewForm, TermsForm
from mall.rules import channels as earning_channels
from mall.rules import merchant_campaigns as own_campaigns
from mall.rules.forms import ChannelForm
from mall.points.describe import describe
from mall.reports import service as reports
from mall.settings import settings_of
from mall.web import csv_response


def _user():
    return current_user._get_current_object()


# --- refused attempts ----------------------------------------------------------------------------

def attempt(target: tuple[str, object], use_case, /, *args, **kwargs):
    """Run a console use case on ``target`` (type, id); should it be refused, the refused attempt is
    recorded in the audit trail too (``record_refusal``)."""
    g.console_target = target
    return run(use_case, *args, **kwargs)


@admin.errorhandler(DomainError)
def record_refusal(err: DomainError):
    """A refused attempt changes nothing, so it is recorded in its own transaction (it is still an
    action, not-found ones included); then the edge answers as usual."""
    target = g.pop("console_target", None)
    if target is not None:
        db.session.rollback()
        run(audit.record, db.session, request.endpoint or "", *target, note=f"refused: {err.code}",
            after={"message": str(err.message)})
    return answer_refusal(err)


def _with_error(field, err: DomainError) -> None:
    """Show the refusal's message on the form field it concerns."""
    field.errors = [*field.errors, message_of(err)]


# --- dashboard -----------------------------------------------------------------------------------

@admin.route("/")
@operator_only
def index():
    """What needs an operator: pending merchants, actions awaiting a second operator, appeals."""
    return render_template("admin/index.html",
                           pending_merchants=merchants.merchants(db.session, "pending"),
                           pending_actions=fraud.pending_actions(db.session),
                           appeals=fraud.cases(db.session, "appealed"),
                           open_cases=fraud.count_cases(db.session, "open"),
                           threshold=settings_of(db.session).fraud_approval_threshold)


# --- merchants -----------------------------------------------------------------------------------

@admin.route("/merchants")
@operator_only
def merchant_list():
    status = request.args.get("status")
    status = status if status in ("pending", "approved", "suspended") else None
    return render_template("admin/merchants.html", merchants=merchants.merchants(db.session, status),
                           status=status, form=MerchantStatusForm())


@admin.route("/merchants/<int:merchant_id>/terms", methods=["GET", "POST"])
@operator_only
@on_refusal(back_to("admin.merchant_terms"))
def merchant_terms(merchant_id):
    """A merchant's terms: what it pays per point issued, is paid per point redeemed, what it accepts."""
    shop = merchants.get_for_operator(db.session, _user(), merchant_id)
    form = TermsForm(data={"issuance_fee": shop.issuance_fee_fen_per_point, "reimbursement": shop.reimbursement_fen_per_point,
                           "bill_share": shop.bill_max_share_percent, "accepts_game_coupons": shop.accepts_game_coupons,
                           "settlement_cycle": shop.settlement_cycle} if request.method == "GET" else None)
    if form.validate_on_submit():
        attempt(("merchant", merchant_id), merchants.set_terms, db.session, _user(), merchant_id,
                issuance_fee=form.issuance_fee.data, reimbursement=form.reimbursement.data,
                bill_share=form.bill_share.data, accepts_game_coupons=form.accepts_game_coupons.data,
                settlement_cycle=form.settlement_cycle.data)
        flash(_("%(name)s: terms saved.", name=shop.name(str(get_locale()))), "success")
        return redirect(url_for("admin.merchant_terms", merchant_id=merchant_id), code=303)
    return render_template("admin/merchant_terms.html", shop=shop, form=form,
                           terms=merchants.terms_of(db.session, shop)), 422 if form.errors else 200


@admin.route("/merchants/<int:merchant_id>/statements")
@operator_only
def merchant_statements(merchant_id):
    """A merchant's monthly statements, as the merchant sees them."""
    shop = merchants.get_for_operator(db.session, _user(), merchant_id)
    return render_template("merchant/statements.html", shop=shop,
                           rows=reports.merchant_statements(db.session, shop), terms=merchants.terms_of(db.session, shop),
                           csv_url=url_for("admin.merchant_statements_csv", merchant_id=merchant_id))


@admin.route("/merchants/<int:merchant_id>/statements.csv")
@operator_only
def merchant_statements_csv(merchant_id):
    shop = merchants.get_for_operator(db.session, _user(), merchant_id)
    return csv_response(f"statements-{shop.slug}.csv",
                        reports.merchant_statement_rows(reports.merchant_statements(db.session, shop)))


@admin.route("/merchants/<int:merchant_id>/status", methods=["POST"])
@operator_only
@on_refusal(back_to("admin.merchant_list"))
def merchant_status(merchant_id):
    form = submitted(MerchantStatusForm())
    merchant = attempt(("merchant", merchant_id), merchants.set_status, db.session, _user(), merchant_id,
                       form.action.data, form.reason.data)
    flash(_("%(name)s: done.", name=merchant.name(str(get_locale()))), "success")
    return redirect(url_for("admin.merchant_list"), code=303)


# --- members -------------------------------------------------------------------------------------

@admin.route("/members")
@operator_only
def members():
    form = MemberSearchForm(request.args)
    found = accounts.search_members(db.session, form.q.data or "") if form.validate() else []
    return render_template("admin/members.html", form=form, found=found)


@admin.route("/members/<int:member_id>")
@operator_only
def member(member_id):
    """A member's profile, balance and statement. Viewing personal data is itself audited."""
    member = accounts.get_member(db.session, member_id)
    run(audit.record, db.session, "admin.member_view", "user", member.id)
    return _member_page(member, CaseForm())


def _member_page(member, case_form: CaseForm, status: int = 200):
    account = ledger.find_account(db.session, "member", member.id)
    rows = ledger.statement(db.session, account, limit=50) if account else []
    return render_template("admin/member.html", member=member, account=account,
                           rows=list(zip(rows, describe(db.session, rows, str(get_locale()), member.id))),
                           cases=fraud.cases_of(db.session, member.id), case_form=case_form), status


# --- fraud cases ---------------------------------------------------------------------------------

def _upload(form) -> fraud.Upload | None:
    storage = form.file.data
    if not storage or not getattr(storage, "filename", ""):
        return None
    return fraud.Upload(storage.filename, storage.read(settings_of(db.session).evidence_max_bytes + 1))


def _case_refused(err: DomainError, member_id):
    form = CaseForm()
    _with_error(getattr(form, err.params.get("field", "reason"), form.reason), err)
    return _member_page(accounts.get_member(db.session, member_id), form, 422)


@admin.route("/members/<int:member_id>/cases", methods=["POST"])
@operator_only
@on_refusal(_case_refused)
def open_case(member_id):
    member = accounts.get_member(db.session, member_id)
    form = CaseForm()
    if not form.validate_on_submit():
        return _member_page(member, form, 422)
    case = attempt(("user", member.id), fraud.open_case, db.session, _user(), member.id, form.reason.data,
                   transfer_ids=form.parsed_ids, upload=_upload(form), private_root=settings_of(db.session).private_root)
    flash(_("Case #%(id)s opened.", id=case.id), "success")
    return redirect(url_for("admin.case", case_id=case.id), code=303)


@admin.route("/cases")
@operator_only
def case_list():
    status = request.args.get("status")
    status = status if status in ("open", "appealed", "upheld", "reversed") else None
    return render_template("admin/cases.html", cases=fraud.cases(db.session, status, limit=200), status=status)


def _case_page(case_id: int, status: int = 200, **forms):
    case = fraud.get_case(db.session, case_id)
    account = ledger.find_account(db.session, "member", case.member_id)
    context = dict(case=case, account=account, evidenced=fraud.evidenced_amount(case),
                   deducted=fraud.deducted_amount(case), threshold=settings_of(db.session).fraud_approval_threshold,
                   spendable=ledger.spendable(db.session, account) if account else 0,
                   evidence_form=forms.get("evidence_form") or EvidenceForm(),
                   action_form=forms.get("action_form") or ActionForm(),
                   resolve_form=forms.get("resolve_form") or ResolveForm(),
                   decide_form=EmptyForm())
    return render_template("admin/case.html", **context), status


@admin.route("/cases/<int:case_id>")
@operator_only
def case(case_id):
    return _case_page(case_id)


def _evidence_refused(err: DomainError, case_id):
    form = EvidenceForm()
    _with_error(getattr(form, err.params.get("field", "transfer_ids"), form.transfer_ids), err)
    return _case_page(case_id, 422, evidence_form=form)


@admin.route("/cases/<int:case_id>/evidence", methods=["POST"])
@operator_only
@on_refusal(_evidence_refused)
def add_evidence(case_id):
    form = EvidenceForm()
    if not form.validate_on_submit():
        return _case_page(case_id, 422, evidence_form=form)
    attempt(("fraud_case", case_id), fraud.add_evidence, db.session, _user(), case_id, transfer_ids=form.parsed_ids,
            upload=_upload(form), private_root=settings_of(db.session).private_root)
    flash(_("Evidence added."), "success")
    return redirect(url_for("admin.case", case_id=case_id), code=303)


@admin.route("/cases/<int:case_id>/evidence/<int:evidence_id>")
@operator_only
def evidence_file(case_id, evidence_id):
    evidence = fraud.get_evidence_file(db.session, case_id, evidence_id)
    return send_file(fraud.evidence_path(settings_of(db.session).private_root, evidence), as_attachment=True,
                     download_name=evidence.file_name, mimetype=evidence.content_type)


def _action_refused(err: DomainError, case_id):
    form = ActionForm()
    _with_error(form.amount if form.kind.data == "deduct" else form.note, err)
    return _case_page(case_id, err.status, action_form=form)


@admin.route("/cases/<int:case_id>/actions", methods=["POST"])
@operator_only
@on_refusal(_action_refused)
def case_action(case_id):
    """Request a freeze or a deduction (executed at once up to the four-eyes threshold), or lift a freeze."""
    form = ActionForm()
    if not form.validate_on_submit() or form.kind.data not in fraud.ACTION_KINDS:
        return _case_page(case_id, 422, action_form=form)
    status = attempt(("fraud_case", case_id), fraud.take_action, db.session, _user(), case_id, form.kind.data,
                     form.amount.data, form.note.data or "")
    flash(_("Waiting for a second operator's approval.") if status == "pending" else _("Done."),
          "info" if status == "pending" else "success")
    return redirect(url_for("admin.case", case_id=case_id), code=303)


def _decision_refused(err: DomainError, **_view_args):
    return flash_and_redirect(err, request.referrer or url_for("admin.index"))


@admin.route("/actions/<int:action_id>/<any(approve, reject):decision>", methods=["POST"])
@operator_only
@on_refusal(_decision_refused)
def decide_action(action_id, decision):
    submitted(EmptyForm())
    action = attempt(("fraud_action", action_id), fraud.approve if decision == "approve" else fraud.reject,
                     db.session, _user(), action_id)
    flash(_("Approved and carried out.") if decision == "approve" else _("Rejected."), "success")
    return redirect(url_for("admin.case", case_id=action.case_id), code=303)


def _resolution_refused(err: DomainError, case_id):
    form = ResolveForm()
    _with_error(form.note, err)
    return _case_page(case_id, 422, resolve_form=form)


@admin.route("/cases/<int:case_id>/resolve", methods=["POST"])
@operator_only
@on_refusal(_resolution_refused)
def resolve_case(case_id):
    form = ResolveForm()
    if not form.validate_on_submit():
        return _case_page(case_id, 422, resolve_form=form)
    attempt(("fraud_case", case_id), fraud.resolve, db.session, _user(), case_id, form.outcome.data, form.note.data)
    flash(_("Case resolved."), "success")
    return redirect(url_for("admin.case", case_id=case_id), code=303)


# --- audit trail ---------------------------------------------------------------------------------

def _audit_filters(form: AuditFilterForm) -> audit.Filters | None:
    if not form.validate():
        return audit.Filters()
    actor_id = None
    if form.actor.data:
        actor = accounts.find_by_email_or_code(db.session, form.actor.data)
        if actor is None:
            return None  # nobody by that name: nothing matches
        actor_id = actor.id

    def start(day):
        return datetime.combine(day, time.min, tzinfo=SHANGHAI) if day else None

    return audit.Filters(actor_id=actor_id, action=(form.action.data or "").strip(),
                         target_type=(form.target_type.data or "").strip(),
                         target_id=(form.target_id.data or "").strip(), since=start(form.since.data),
                         until=start(form.until.data + timedelta(days=1)) if form.until.data else None)


@admin.route("/audit")
@operator_only
def audit_log():
    form = AuditFilterForm(request.args)
    filters = _audit_filters(form)
    before = request.args.get("before", type=database_id)
    entries = audit.search(db.session, filters, before_id=before) if filters else []
    query = {k: v for k, v in request.args.items() if k != "before" and v}
    return render_template("admin/audit.html", form=form, entries=entries,
                           next_before=entries[-1].id if len(entries) == audit.PAGE else None, query=query)


@admin.route("/audit.csv")
@operator_only
def audit_csv():
    filters = _audit_filters(AuditFilterForm(request.args))
    rows = audit.csv_rows(db.session, filters) if filters else iter([audit.CSV_COLUMNS])
    return csv_response("audit-log.csv", rows)


# --- reports -------------------------------------------------------------------------------------

@admin.route("/reports")
@operator_only
def report():
    data = reports.programme_report(db.session)
    return render_template("admin/reports.html", report=data, report_charts=reports.charts(data))


@admin.route("/reports.csv")
@operator_only
def report_csv():
    data = reports.programme_report(db.session)
    return csv_response("points-report.csv", reports.csv_rows(data))


# --- merchant applications ----------------------------------------------------------------------

@admin.route("/applications")
@operator_only
def applications():
    """The review queue: applications waiting first, then the decided ones."""
    return render_template("admin/applications.html", rows=merchants.applications(db.session), form=ReviewForm())


@admin.route("/applications/<int:application_id>/<any(approve, refuse, ask):action>", methods=["POST"])
@operator_only
@on_refusal(back_to("admin.applications"))
def review_application(application_id, action):
    form = ReviewForm()
    if not form.validate_on_submit():
        flash(_("The form has expired; please try again."), "error")
        return redirect(url_for("admin.applications"), code=303)
    row = attempt(("merchant_application", application_id), merchants.review, db.session, _user(), application_id,
                  action, form.reason.data or "")
    flash({"approved": _("Approved: %(name)s has joined.", name=row.name_zh),
           "refused": _("Refused; the applicant is told why."),
           "needs_info": _("Sent back to the applicant with your question.")}[row.status], "success")
    return redirect(url_for("admin.applications"), code=303)


# --- earning channels ----------------------------------------------------------------------------

@admin.route("/channels", methods=["GET", "POST"])
@operator_only
@on_refusal(back_to("admin.channels"))
def channels():
    """Earning channels (card programmes, transit, charging networks): register one and give it a key."""
    form = ChannelForm()
    new_key = None
    if form.validate_on_submit():
        with transaction() as session:  # the channel, its merchant and its first key, or none of them
            row = earning_channels.create_channel(
                session, _user(), kind=form.kind.data, name_zh=form.name_zh.data, name_en=form.name_en.data,
                points_per_unit=form.points_per_unit.data or 0, rule_zh=form.rule_zh.data or "",
                rule_en=form.rule_en.data or "")
            new_key = api_keys.create_key(session, row.merchant, "channel events", current_user.id)[1]
        flash(_("The channel is registered. Give its system the key below: it is shown only now."), "success")
        form = ChannelForm(formdata=None)
    return render_template("admin/channels.html", form=form, rows=earning_channels.channels(db.session, False),
                           new_key=new_key), 422 if form.errors else 200


# --- merchants' own campaigns --------------------------------------------------------------------

@admin.route("/merchant-campaigns", methods=["GET", "POST"])
@operator_only
@on_refusal(back_to("admin.merchant_campaigns"))
def merchant_campaigns():
    """Merchants' own campaigns, running, coming up and recently over; an operator stops one with a reason
    the merchant sees (the limits themselves are in the rule set)."""
    now = utcnow()
    if request.method == "POST":
        form = SuspendCampaignForm()
        campaign_id = request.form.get("campaign", type=int) or 0
        if not form.validate_on_submit():
            flash(_("Give the reason (at most 300 characters)."), "error")
        else:
            attempt(("merchant_campaign", campaign_id), own_campaigns.suspend, db.session, _user(), campaign_id,
                    form.reason.data)
            flash(_("The campaign is stopped."), "success")
        return redirect(url_for("admin.merchant_campaigns"), code=303)
    return render_template("admin/merchant_campaigns.html", rows=own_campaigns.recent(db.session, now), now=now,
                           limits=own_campaigns.limits_at(db.session, now), form=SuspendCampaignForm(formdata=None))

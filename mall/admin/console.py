"""Operator console: merchants, members, fraud cases, the audit trail and reports."""
from datetime import datetime, time, timedelta

from flask import abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from mall.account import service as accounts
from mall.account.forms import EmptyForm
from mall.account.models import User
from mall.admin.forms import (ActionForm, AuditFilterForm, CaseForm, EvidenceForm, MemberSearchForm,
                              MerchantStatusForm, ResolveForm)
from mall.admin.views import admin
from mall.guards import operator_only
from mall.audit import service as audit
from mall.db import write
from mall.errors import DomainError
from mall.extensions import db
from mall.forms import database_id
from mall.fraud import service as fraud
from mall.fraud.models import CaseEvidence
from mall.ledger import service as ledger
from mall.merchant import service as merchants
from mall.points.describe import describe
from mall.reports import service as reports
from mall.web import SHANGHAI, csv_response


def _user():
    return current_user._get_current_object()


def _flash_error(err: DomainError) -> None:
    flash(str(err.message), "error")


def _refused(err: DomainError, target_type: str, target_id) -> None:
    """A refused attempt changes nothing, so record it in its own transaction: it is still an action."""
    with write(db.session):
        audit.record(db.session, request.endpoint or "", target_type, target_id, note=f"refused: {err.code}",
                     after={"message": str(err.message)})


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
                           threshold=fraud.settings["approval_threshold"])


# --- merchants -----------------------------------------------------------------------------------

@admin.route("/merchants")
@operator_only
def merchant_list():
    status = request.args.get("status")
    status = status if status in ("pending", "approved", "suspended") else None
    return render_template("admin/merchants.html", merchants=merchants.merchants(db.session, status),
                           status=status, form=MerchantStatusForm())


@admin.route("/merchants/<int:merchant_id>/status", methods=["POST"])
@operator_only
def merchant_status(merchant_id):
    form = MerchantStatusForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        with write(db.session):
            merchant = merchants.set_status(db.session, _user(), merchant_id, form.action.data, form.reason.data)
            name = merchant.name(str(get_locale()))
    except DomainError as err:
        _refused(err, "merchant", merchant_id)
        if err.status == 404:
            abort(404)
        _flash_error(err)
    else:
        flash(_("%(name)s: done.", name=name), "success")
    return redirect(url_for("admin.merchant_list"), code=303)


# --- members -------------------------------------------------------------------------------------

@admin.route("/members")
@operator_only
def members():
    form = MemberSearchForm(request.args)
    found = accounts.search_members(db.session, form.q.data or "") if form.validate() else []
    return render_template("admin/members.html", form=form, found=found)


def _member(member_id: int) -> User:
    member = db.session.get(User, member_id)
    if member is None or member.role != "member":
        abort(404)
    return member


@admin.route("/members/<int:member_id>")
@operator_only
def member(member_id):
    """A member's profile, balance and statement. Viewing personal data is itself audited."""
    member = _member(member_id)
    with write(db.session):
        audit.record(db.session, "admin.member_view", "user", member.id)
    return _member_page(member, CaseForm())


def _member_page(member: User, case_form: CaseForm, status: int = 200):
    account = ledger.find_account(db.session, "member", member.id)
    rows = ledger.statement(db.session, account, limit=50) if account else []
    return render_template("admin/member.html", member=member, account=account,
                           rows=list(zip(rows, describe(db.session, rows, str(get_locale())))),
                           cases=fraud.cases_of(db.session, member.id), case_form=case_form), status


# --- fraud cases ---------------------------------------------------------------------------------

def _upload(form) -> fraud.Upload | None:
    storage = form.file.data
    if not storage or not getattr(storage, "filename", ""):
        return None
    return fraud.Upload(storage.filename, storage.read(fraud.settings["max_file_bytes"] + 1))


@admin.route("/members/<int:member_id>/cases", methods=["POST"])
@operator_only
def open_case(member_id):
    member = _member(member_id)
    form = CaseForm()
    if form.validate_on_submit():
        try:
            with write(db.session):
                case = fraud.open_case(db.session, _user(), member.id, form.reason.data,
                                       transfer_ids=form.parsed_ids, upload=_upload(form),
                                       private_root=current_app.config["PRIVATE_ROOT"])
                case_id = case.id
        except DomainError as err:
            _refused(err, "user", member.id)
            getattr(form, err.params.get("field", "reason"), form.reason).errors.append(str(err.message))
        else:
            flash(_("Case #%(id)s opened.", id=case_id), "success")
            return redirect(url_for("admin.case", case_id=case_id), code=303)
    return _member_page(member, form, 422)


@admin.route("/cases")
@operator_only
def case_list():
    status = request.args.get("status")
    status = status if status in ("open", "appealed", "upheld", "reversed") else None
    return render_template("admin/cases.html", cases=fraud.cases(db.session, status, limit=200), status=status)


def _case_page(case_id: int, status: int = 200, **forms):
    try:
        case = fraud.get_case(db.session, case_id)
    except DomainError:
        abort(404)
    account = ledger.find_account(db.session, "member", case.member_id)
    context = dict(case=case, account=account, evidenced=fraud.evidenced_amount(case),
                   deducted=fraud.deducted_amount(case), threshold=fraud.settings["approval_threshold"],
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


@admin.route("/cases/<int:case_id>/evidence", methods=["POST"])
@operator_only
def add_evidence(case_id):
    form = EvidenceForm()
    if form.validate_on_submit():
        try:
            with write(db.session):
                fraud.add_evidence(db.session, _user(), case_id, transfer_ids=form.parsed_ids, upload=_upload(form),
                                   private_root=current_app.config["PRIVATE_ROOT"])
        except DomainError as err:
            _refused(err, "fraud_case", case_id)
            if err.status == 404:
                abort(404)
            getattr(form, err.params.get("field", "transfer_ids"), form.transfer_ids).errors.append(str(err.message))
        else:
            flash(_("Evidence added."), "success")
            return redirect(url_for("admin.case", case_id=case_id), code=303)
    return _case_page(case_id, 422, evidence_form=form)


@admin.route("/cases/<int:case_id>/evidence/<int:evidence_id>")
@operator_only
def evidence_file(case_id, evidence_id):
    evidence = db.session.get(CaseEvidence, evidence_id)
    if evidence is None or evidence.case_id != case_id or evidence.kind != "file":
        abort(404)
    return send_file(fraud.evidence_path(current_app.config["PRIVATE_ROOT"], evidence), as_attachment=True,
                     download_name=evidence.file_name, mimetype=evidence.content_type)


@admin.route("/cases/<int:case_id>/actions", methods=["POST"])
@operator_only
def case_action(case_id):
    """Request a freeze or a deduction (executed at once up to the four-eyes threshold), or lift a freeze."""
    form = ActionForm()
    if not form.validate_on_submit() or form.kind.data not in ("freeze", "deduct", "lift"):
        return _case_page(case_id, 422, action_form=form)
    try:
        with write(db.session):
            if form.kind.data == "freeze":
                action = fraud.request_freeze(db.session, _user(), case_id, form.note.data or "")
            elif form.kind.data == "lift":
                fraud.lift_freeze(db.session, _user(), case_id, form.note.data or "")
                action = None
            else:
                if form.amount.data is None:
                    raise DomainError(_("Give the number of points to deduct."), field="amount")
                action = fraud.request_deduction(db.session, _user(), case_id, form.amount.data, form.note.data or "")
            status = action.status if action else "lifted"
    except DomainError as err:
        _refused(err, "fraud_case", case_id)
        if err.status == 404:
            abort(404)
        form.amount.errors.append(str(err.message)) if form.kind.data == "deduct" else form.note.errors.append(
            str(err.message))
        return _case_page(case_id, err.status, action_form=form)
    flash(_("Waiting for a second operator's approval.") if status == "pending" else _("Done."),
          "info" if status == "pending" else "success")
    return redirect(url_for("admin.case", case_id=case_id), code=303)


@admin.route("/actions/<int:action_id>/<any(approve, reject):decision>", methods=["POST"])
@operator_only
def decide_action(action_id, decision):
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        with write(db.session):
            action = (fraud.approve if decision == "approve" else fraud.reject)(db.session, _user(), action_id)
            case_id = action.case_id
    except DomainError as err:
        _refused(err, "fraud_action", action_id)
        if err.status == 404:
            abort(404)
        _flash_error(err)
        return redirect(request.referrer or url_for("admin.index"), code=303)
    flash(_("Approved and carried out.") if decision == "approve" else _("Rejected."), "success")
    return redirect(url_for("admin.case", case_id=case_id), code=303)


@admin.route("/cases/<int:case_id>/resolve", methods=["POST"])
@operator_only
def resolve_case(case_id):
    form = ResolveForm()
    if form.validate_on_submit():
        try:
            with write(db.session):
                fraud.resolve(db.session, _user(), case_id, form.outcome.data, form.note.data)
        except DomainError as err:
            _refused(err, "fraud_case", case_id)
            if err.status == 404:
                abort(404)
            form.note.errors.append(str(err.message))
        else:
            flash(_("Case resolved."), "success")
            return redirect(url_for("admin.case", case_id=case_id), code=303)
    return _case_page(case_id, 422, resolve_form=form)


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
    data = reports.programme_report(db.session, current_app.config["REDEMPTION_VALUE_FEN_PER_POINT"])
    return render_template("admin/reports.html", report=data, report_charts=reports.charts(data))


@admin.route("/reports.csv")
@operator_only
def report_csv():
    data = reports.programme_report(db.session, current_app.config["REDEMPTION_VALUE_FEN_PER_POINT"])
    return csv_response("points-report.csv", reports.csv_rows(data))

"""A fraud case as its member sees it: the reason, what was done, and the appeal (under /account)."""
from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from mall.edge import message_of, on_refusal, run
from mall.errors import DomainError
from mall.extensions import db
from mall.fraud import service
from mall.fraud.forms import AppealForm

cases = Blueprint("fraud", __name__, url_prefix="/account")


def _page(case, form: AppealForm, status: int = 200):
    return render_template("account/case.html", case=case, form=form,
                           deducted=service.deducted_amount(case, include_pending=False)), status


def _appeal_refused(err: DomainError, case_id):
    form = AppealForm()
    form.statement.errors = [*form.statement.errors, message_of(err)]
    return _page(service.case_for_member(db.session, current_user, case_id), form, 422)


@cases.route("/cases/<int:case_id>", methods=["GET", "POST"])
@login_required
@on_refusal(_appeal_refused)
def case(case_id):
    """A case against the member: the reason, what was done, and the appeal."""
    case = service.case_for_member(db.session, current_user, case_id)
    form = AppealForm()
    if form.validate_on_submit():
        run(service.appeal, db.session, current_user._get_current_object(), case_id, form.statement.data)
        flash(_("Your appeal has been sent. An operator will review the case and tell you the outcome."), "success")
        return redirect(url_for("fraud.case", case_id=case_id), code=303)
    return _page(case, form, 422 if form.errors else 200)

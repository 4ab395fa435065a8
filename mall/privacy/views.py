"""Personal data pages: download everything, or delete the account."""
import secrets

from flask import Blueprint, Response, flash, redirect, render_template, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required, logout_user

from mall.account.forms import DeleteAccountForm
from mall.charity import service as charity
from mall.clock import utcnow
from mall.edge import message_of, on_refusal, run
from mall.errors import DomainError
from mall.extensions import db
from mall.privacy import service as privacy

privacy_pages = Blueprint("privacy", __name__, url_prefix="/account")


def _with_error(field, err: DomainError) -> None:
    """Show the refusal's message on the form field it concerns."""
    field.errors = [*field.errors, message_of(err)]


def _field(form, err: DomainError, default: str):
    """The form field a refusal names (``field``), else ``default``."""
    return getattr(form, err.params.get("field", default), getattr(form, default))


@privacy_pages.route("/data")
@login_required
def data():
    """Download all personal data, or delete the account."""
    return render_template("account/data.html", form=_delete_form(),
                           blockers=privacy.deletion_blockers(db.session, current_user))


def _delete_form() -> DeleteAccountForm:
    form = DeleteAccountForm()
    form.project.choices = [(p.id, p.title(str(get_locale())))
                            for p in charity.projects(db.session, utcnow(), status="open", per_page=50).items]
    if not form.token.data:
        form.token.data = secrets.token_hex(16)
    return form


def _data_page(form: DeleteAccountForm):
    return render_template("account/data.html", form=form,
                           blockers=privacy.deletion_blockers(db.session, current_user)), 422


@privacy_pages.route("/data/export.zip")
@login_required
def export_data():
    body = privacy.export_zip(db.session, current_user._get_current_object())
    return Response(body, mimetype="application/zip", headers={
        "Content-Disposition": f'attachment; filename="green-points-{current_user.member_code}.zip"'})


def _deletion_refused(err: DomainError):
    form = _delete_form()
    _with_error(_field(form, err, "password"), err)
    return _data_page(form)


@privacy_pages.route("/delete", methods=["POST"])
@login_required
@on_refusal(_deletion_refused)
def delete():
    """Delete the account: personal data erased, points forfeited or donated, ledger intact."""
    form = _delete_form()
    if not form.validate_on_submit():
        return _data_page(form)
    donate = form.project.data if form.remaining.data == "donate" else None
    if form.remaining.data == "donate" and not donate:
        form.project.errors.append(_("Choose a project to donate to."))
        return _data_page(form)
    run(privacy.delete_account, db.session, current_user._get_current_object(), form.password.data,
        donate_to=donate, token=form.token.data or "")
    logout_user()
    session.clear()
    flash(_("Your account has been deleted and your personal data erased. Thank you for every green choice."),
          "success")
    return redirect(url_for("catalog.home"), code=303)

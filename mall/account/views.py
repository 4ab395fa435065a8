"""Sign-up, sign-in, sign-out, the account page and preferences."""
import secrets

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from mall.account import service
from mall.account.qr import qr_svg
from mall.account.forms import (AppealForm, DeleteAccountForm, EmptyForm, LanguageForm, LoginForm, PasswordForm,
                                ProfileForm, RegisterForm)
from mall.db import write
from mall.errors import DomainError
from mall.extensions import db, limiter
from mall.web import render_page_or_fragment, safe_next

auth = Blueprint("auth", __name__, url_prefix="/auth")
account = Blueprint("account", __name__, url_prefix="/account")


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _login_email_key() -> str:
    return "login-email:" + service.normalise_email(request.form.get("email", ""))


@auth.route("/register", methods=["GET", "POST"])
def register():
    """Create a member account and sign in."""
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            with write(db.session):
                user = service.register(
                    db.session,
                    email=form.email.data,
                    password=form.password.data,
                    display_name=form.display_name.data,
                )
        except DomainError as err:
            form.email.errors.append(str(err.message))
        else:
            login_user(user)
            flash(_("Welcome! Your member code is %(code)s.", code=user.member_code), "success")
            return redirect(url_for("account.index"))
    return render_template("account/register.html", form=form), 422 if form.errors else 200


@auth.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@limiter.limit(_login_limit, methods=["POST"], key_func=_login_email_key)
def login():
    """Sign in, then follow ``next`` only if it is a path on this site."""
    form = LoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        with write(db.session):
            user = service.authenticate(db.session, form.email.data, form.password.data)
        if user is not None:
            login_user(user)
            session.permanent = True
            return redirect(safe_next(form.next.data, url_for("catalog.home")))
        form.password.errors.append(_("E-mail or password is not correct."))
    return render_template("account/login.html", form=form), 422 if form.errors else 200


@auth.route("/logout", methods=["GET", "POST"])
def logout():
    """Sign out everywhere: the user's session token is rotated, so copied cookies stop working."""
    form = EmptyForm()
    if request.method == "GET":
        if not current_user.is_authenticated:
            return redirect(url_for("catalog.home"))
        return render_template("account/logout.html", form=form)
    if not form.validate_on_submit():
        abort(400)
    if current_user.is_authenticated:
        with write(db.session):
            service.end_all_sessions(current_user._get_current_object())
        logout_user()
    session.clear()
    flash(_("You have signed out."), "info")
    return redirect(url_for("catalog.home"))


@account.route("")
@login_required
def index():
    """The member's account page with their member code."""
    from mall.fraud import service as fraud

    return render_template("account/index.html",
                           cases=fraud.member_cases(db.session, current_user))


@account.route("/member-code")
@login_required
def member_code():
    """The member code as a large QR code to show at a till (HTMX fragment or full page)."""
    return render_page_or_fragment(
        "account/member_code.html", "account/_member_code.html",
        qr_svg=qr_svg(current_user.member_code),
    )


@account.route("/password", methods=["GET", "POST"])
@login_required
def password():
    """Change the password; every other session of this user ends."""
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            with write(db.session):
                user = current_user._get_current_object()
                service.change_password(db.session, user, form.current.data, form.password.data)
        except DomainError as err:
            form.current.errors.append(str(err.message))
        else:
            login_user(user)  # this browser keeps going with the new token
            flash(_("Your password has been changed. Other sessions have been signed out."), "success")
            return redirect(url_for("account.index"))
    return render_template("account/password.html", form=form), 422 if form.errors else 200


@account.route("/profile", methods=["GET", "POST"])
@login_required
def profile():
    """The member's own profile: display name, optional mobile number and birthday."""
    user = current_user._get_current_object()
    form = ProfileForm(obj=user)
    if form.validate_on_submit():
        try:
            with write(db.session):
                service.update_profile(db.session, user, display_name=form.display_name.data,
                                       phone=form.phone.data, birthday=form.birthday.data)
        except DomainError as err:
            getattr(form, err.params.get("field", "display_name")).errors.append(str(err.message))
        else:
            flash(_("Your profile has been saved."), "success")
            return redirect(url_for("account.index"), code=303)
    return render_template("account/profile.html", form=form), 422 if form.errors else 200


@account.route("/language/<lang>", methods=["POST"])
def language(lang):
    """Switch the interface language, remembered in the session and on the account."""
    form = LanguageForm()
    if not form.validate_on_submit() or lang not in current_app.config["LANGUAGES"]:
        abort(400)
    session["lang"] = lang
    if current_user.is_authenticated:
        with write(db.session):
            service.set_locale(current_user._get_current_object(), lang)
    return redirect(safe_next(form.next.data, url_for("catalog.home")), code=303)



# --- fraud cases, as the member sees them ---------------------------------------------------------

@account.route("/cases/<int:case_id>", methods=["GET", "POST"])
@login_required
def case(case_id):
    """A case against the member: the reason, what was done, and the appeal."""
    from mall.fraud import service as fraud

    try:
        case = fraud.case_for_member(db.session, current_user, case_id)
    except DomainError:
        abort(404)
    form = AppealForm()
    if form.validate_on_submit():
        try:
            with write(db.session):
                fraud.appeal(db.session, current_user._get_current_object(), case_id, form.statement.data)
        except DomainError as err:
            if err.status == 404:
                abort(404)
            form.statement.errors.append(str(err.message))
        else:
            flash(_("Your appeal has been sent. An operator will review the case and tell you the outcome."), "success")
            return redirect(url_for("account.case", case_id=case_id), code=303)
        case = fraud.case_for_member(db.session, current_user, case_id)
    return render_template("account/case.html", case=case, form=form,
                           deducted=fraud.deducted_amount(case, include_pending=False)), 422 if form.errors else 200


# --- personal data: download and deletion -----------------------------------------------------------

@account.route("/data")
@login_required
def data():
    """Download all personal data, or delete the account."""
    from mall.account import privacy

    return render_template("account/data.html", form=_delete_form(),
                           blockers=privacy.deletion_blockers(db.session, current_user))


def _delete_form() -> DeleteAccountForm:
    from mall.charity import service as charity
    from mall.models import utcnow

    form = DeleteAccountForm()
    form.project.choices = [(p.id, p.title(str(get_locale()))) for p in charity.projects(db.session, utcnow(), status="open", per_page=50).items]
    if not form.token.data:
        form.token.data = secrets.token_hex(16)
    return form


@account.route("/data/export.zip")
@login_required
def export_data():
    from flask import Response

    from mall.account import privacy

    body = privacy.export_zip(db.session, current_user._get_current_object())
    return Response(body, mimetype="application/zip", headers={
        "Content-Disposition": f'attachment; filename="green-points-{current_user.member_code}.zip"'})


@account.route("/delete", methods=["POST"])
@login_required
def delete():
    """Delete the account: personal data erased, points forfeited or donated, ledger intact."""
    from mall.account import privacy

    form = _delete_form()
    if form.validate_on_submit():
        donate = form.project.data if form.remaining.data == "donate" else None
        if form.remaining.data == "donate" and not donate:
            form.project.errors.append(_("Choose a project to donate to."))
        else:
            try:
                with write(db.session):
                    privacy.delete_account(db.session, current_user._get_current_object(), form.password.data,
                                           donate_to=donate, token=form.token.data or "")
            except DomainError as err:
                getattr(form, err.params.get("field", "password"), form.password).errors.append(str(err.message))
            else:
                logout_user()
                session.clear()
                flash(_("Your account has been deleted and your personal data erased. Thank you for every green choice."),
                      "success")
                return redirect(url_for("catalog.home"), code=303)
    return render_template("account/data.html", form=form,
                           blockers=privacy.deletion_blockers(db.session, current_user)), 422

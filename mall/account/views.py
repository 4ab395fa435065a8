"""Sign-up, sign-in, sign-out, the account page, preferences and the member's personal data."""

from flask import (Blueprint, abort, current_app, flash, redirect, render_template, request, session,
                   url_for)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from mall.account import service
from mall.account.forms import (EmptyForm, LanguageForm, LoginForm, PasswordForm, ProfileForm,
                                RegisterForm)
from mall.account.qr import qr_svg
from mall.coalition import service as merchants
from mall.edge import back_to, message_of, on_refusal, page_or_fragment, run, submitted
from mall.errors import DomainError
from mall.extensions import csrf, db, limiter
from mall.web import safe_next

auth = Blueprint("auth", __name__, url_prefix="/auth")
account = Blueprint("account", __name__, url_prefix="/account")


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _login_email_key() -> str:
    return "login-email:" + service.normalise_email(request.form.get("email", ""))


def _with_error(field, err: DomainError) -> None:
    """Show the refusal's message on the form field it concerns."""
    field.errors = [*field.errors, message_of(err)]


def _field(form, err: DomainError, default: str):
    """The form field a refusal names (``field``), else ``default``."""
    return getattr(form, err.params.get("field", default), getattr(form, default))


def _registration_refused(err: DomainError):
    form = RegisterForm()
    _with_error(_field(form, err, "email"), err)
    return render_template("account/register.html", form=form), 422


@auth.route("/register", methods=["GET", "POST"])
@on_refusal(_registration_refused)
def register():
    """Create a member account and sign in."""
    form = RegisterForm()
    if form.validate_on_submit():
        password_hash = service.hash_password(db.session, form.password.data)  # before the write, not in it
        user = run(service.register, db.session, email=form.email.data, password_hash=password_hash,
                   display_name=form.display_name.data, phone=form.phone.data, accepted_terms=True)
        login_user(user)
        flash(_("Welcome! Your member code is %(code)s.", code=user.member_code), "success")
        return redirect(url_for("points.home"))
    return render_template("account/register.html", form=form), 422 if form.errors else 200


@auth.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@limiter.limit(_login_limit, methods=["POST"], key_func=_login_email_key)
def login():
    """Sign in, then follow ``next`` only if it is a path on this site. The password is checked on a
    read; a write happens only to store an upgraded hash, briefly."""
    form = LoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        found = service.verify_sign_in(db.session, form.email.data, form.password.data)
        db.session.rollback()  # end the read: nothing of it is held while the page is answered
        if found is not None:
            user = found.user
            if found.rehash:
                run(service.store_rehash, db.session, user, found.rehash, found.verified_hash)
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
    submitted(form)
    if current_user.is_authenticated:
        run(service.end_all_sessions, current_user._get_current_object())
        logout_user()
    session.clear()
    flash(_("You have signed out."), "info")
    return redirect(url_for("catalog.home"))


@account.route("/staff-invitations", methods=["GET", "POST"])
@login_required
@on_refusal(back_to("account.staff_invitations"))
def staff_invitations():
    """Invitations to work on a merchant's staff, waiting for the member's answer."""
    if request.method == "POST":
        submitted(EmptyForm())
        accept = request.form.get("answer") == "accept"
        run(service.answer_invitation, db.session, current_user, request.form.get("invitation", type=int) or 0,
            accept)
        if accept:
            flash(_("Welcome to the staff. The back office is open to you."), "success")
            return redirect(url_for("merchant.dashboard"), code=303)
        flash(_("Invitation declined."), "success")
        return redirect(url_for("account.staff_invitations"), code=303)
    rows = service.invitations_for(db.session, current_user)
    return render_template("account/staff_invitations.html", invitations=rows, form=EmptyForm(),
                           names=merchants.names_of(db.session, {r.merchant_id for r in rows}, str(get_locale())))


@account.route("/member-code")
@login_required
def member_code():
    """The member code as a large QR code to show at a till (HTMX fragment or full page)."""
    return page_or_fragment("account/member_code.html", "account/_member_code.html",
                            qr_svg=qr_svg(current_user.member_code))


def _password_refused(err: DomainError):
    form = PasswordForm()
    _with_error(form.current, err)
    return render_template("account/password.html", form=form), 422


@account.route("/password", methods=["GET", "POST"])
@login_required
@on_refusal(_password_refused)
def password():
    """Change the password; every other session of this user ends."""
    form = PasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        change = service.check_password_change(db.session, user, form.current.data, form.password.data)
        run(service.change_password, db.session, user, change)
        login_user(user)  # this browser keeps going with the new token
        flash(_("Your password has been changed. Other sessions have been signed out."), "success")
        return redirect(url_for("points.home"))
    return render_template("account/password.html", form=form), 422 if form.errors else 200


def _profile_refused(err: DomainError):
    form = ProfileForm(obj=current_user._get_current_object())
    _with_error(_field(form, err, "display_name"), err)
    return render_template("account/profile.html", form=form), 422


@account.route("/profile", methods=["GET", "POST"])
@login_required
@on_refusal(_profile_refused)
def profile():
    """The member's own profile: display name, optional mobile number and birthday."""
    user = current_user._get_current_object()
    form = ProfileForm(obj=user)
    if form.validate_on_submit():
        run(service.update_profile, db.session, user, display_name=form.display_name.data,
            phone=form.phone.data, birthday=form.birthday.data)
        flash(_("Your profile has been saved."), "success")
        return redirect(url_for("points.home"), code=303)
    return render_template("account/profile.html", form=form), 422 if form.errors else 200


@account.route("/language/<lang>", methods=["POST"])
@csrf.exempt  # checked below for a signed-in member; signed out, only the visitor's own session changes
def language(lang):
    """Switch the interface language, remembered in the session and on the account. A signed-in member's
    choice is stored on the account, so it needs the form's CSRF token; a visitor's switch needs none
    (a forged one could only change the language of the page they see), so public pages carry no token."""
    if current_user.is_authenticated:
        csrf.protect()
    form = LanguageForm(meta={"csrf": False})
    if lang not in current_app.config["LANGUAGES"]:
        abort(400)
    session["lang"] = lang
    if current_user.is_authenticated:
        run(service.set_locale, current_user._get_current_object(), lang)
    return redirect(safe_next(form.next.data, url_for("catalog.home")), code=303)

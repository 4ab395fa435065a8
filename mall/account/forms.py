from flask_babel import lazy_gettext as _l
from wtforms import (BooleanField, DateField, EmailField, HiddenField, PasswordField, RadioField, SelectField,
                     StringField, SubmitField)
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional

from mall.forms import MallForm, database_id, drop_control_characters

PASSWORD_RULES = [DataRequired(), Length(min=10, max=128, message=_l("Use 10 to 128 characters."))]


class RegisterForm(MallForm):
    display_name = StringField(_l("Display name"), validators=[DataRequired(), Length(max=60)])
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Email(check_deliverability=False), Length(max=254)])
    password = PasswordField(_l("Password"), validators=PASSWORD_RULES)
    confirm = PasswordField(
        _l("Repeat password"),
        validators=[DataRequired(), EqualTo("password", message=_l("The passwords do not match."))],
    )
    phone = StringField(_l("Mobile number (optional)"), validators=[Optional(), Length(max=20)])
    consent = BooleanField(_l("I agree to the programme's earning rules and its privacy page."),
                           validators=[DataRequired(message=_l("Agree to the earning rules and the privacy page to join."))])
    submit = SubmitField(_l("Create account"))


class LoginForm(MallForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=128)])
    next = HiddenField(filters=[drop_control_characters])  # safe_next() falls back to the home page
    submit = SubmitField(_l("Sign in"))


class PasswordForm(MallForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=128)])
    password = PasswordField(_l("New password"), validators=PASSWORD_RULES)
    confirm = PasswordField(
        _l("Repeat new password"),
        validators=[DataRequired(), EqualTo("password", message=_l("The passwords do not match."))],
    )
    submit = SubmitField(_l("Change password"))


class LanguageForm(MallForm):
    next = HiddenField(filters=[drop_control_characters])


class EmptyForm(MallForm):
    """A button-only POST still carries its CSRF token."""


class ProfileForm(MallForm):
    display_name = StringField(_l("Display name"), validators=[DataRequired(), Length(max=60)])
    phone = StringField(_l("Mobile number (optional)"), validators=[Optional(), Length(max=20)])
    birthday = DateField(_l("Date of birth (optional)"), validators=[Optional()])
    submit = SubmitField(_l("Save profile"))


class DeleteAccountForm(MallForm):
    password = PasswordField(_l("Your password"), validators=[DataRequired(), Length(max=128)])
    remaining = RadioField(_l("Your remaining points"), default="forfeit", choices=[
        ("forfeit", _l("Forfeit them to the programme's published forfeiture account")),
        ("donate", _l("Donate them to the charity project chosen below"))])
    project = SelectField(_l("Charity project"), coerce=database_id, validate_choice=False, validators=[Optional()])
    confirm = BooleanField(_l("I understand that this cannot be undone."), validators=[DataRequired()])
    token = HiddenField()
    submit = SubmitField(_l("Delete my account"))

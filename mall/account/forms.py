from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (BooleanField, DateField, EmailField, HiddenField, PasswordField, RadioField, SelectField,
                     StringField, SubmitField, TextAreaField)
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional

PASSWORD_RULES = [DataRequired(), Length(min=10, max=128, message=_l("Use 10 to 128 characters."))]


class RegisterForm(FlaskForm):
    display_name = StringField(_l("Display name"), validators=[DataRequired(), Length(max=60)])
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Email(check_deliverability=False), Length(max=254)])
    password = PasswordField(_l("Password"), validators=PASSWORD_RULES)
    confirm = PasswordField(
        _l("Repeat password"),
        validators=[DataRequired(), EqualTo("password", message=_l("The passwords do not match."))],
    )
    submit = SubmitField(_l("Create account"))


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=128)])
    next = HiddenField()
    submit = SubmitField(_l("Sign in"))


class PasswordForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=128)])
    password = PasswordField(_l("New password"), validators=PASSWORD_RULES)
    confirm = PasswordField(
        _l("Repeat new password"),
        validators=[DataRequired(), EqualTo("password", message=_l("The passwords do not match."))],
    )
    submit = SubmitField(_l("Change password"))


class LanguageForm(FlaskForm):
    next = HiddenField()


class EmptyForm(FlaskForm):
    """A button-only POST still carries its CSRF token."""


class ProfileForm(FlaskForm):
    display_name = StringField(_l("Display name"), validators=[DataRequired(), Length(max=60)])
    phone = StringField(_l("Mobile number (optional)"), validators=[Optional(), Length(max=20)])
    birthday = DateField(_l("Date of birth (optional)"), validators=[Optional()])
    submit = SubmitField(_l("Save profile"))


class AppealForm(FlaskForm):
    statement = TextAreaField(_l("Your appeal: why is this wrong? Add anything that shows the points were earned honestly."),
                              validators=[DataRequired(), Length(min=10, max=4000)])
    submit = SubmitField(_l("Send appeal"))


class DeleteAccountForm(FlaskForm):
    password = PasswordField(_l("Your password"), validators=[DataRequired(), Length(max=128)])
    remaining = RadioField(_l("Your remaining points"), default="forfeit", choices=[
        ("forfeit", _l("Forfeit them to the programme's published forfeiture account")),
        ("donate", _l("Donate them to the charity project chosen below"))])
    project = SelectField(_l("Charity project"), coerce=int, validate_choice=False, validators=[Optional()])
    confirm = BooleanField(_l("I understand that this cannot be undone."), validators=[DataRequired()])
    token = HiddenField()
    submit = SubmitField(_l("Delete my account"))

"""Family forms: every one carries a CSRF token; only the fields a use case names are bound."""
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from mall.forms import MallForm, database_id


class CreateFamilyForm(MallForm):
    name = StringField(_l("Family name"), validators=[DataRequired(), Length(max=60)])


class InviteForm(MallForm):
    member_code = StringField(_l("Member code (optional)"), validators=[Optional(), Length(max=12)])


class ContributeForm(MallForm):
    token = HiddenField()
    points = IntegerField(_l("Points to move into the pool"), validators=[DataRequired(), NumberRange(1, 10**9)])
    consent = BooleanField(_l("I agree to move these points into the family pool under the policy below."))


class PercentForm(MallForm):
    percent = IntegerField(_l("Share of what I earn (%)"), validators=[Optional(), NumberRange(0, 100)], default=0)
    consent = BooleanField(_l("I agree that this share of every future award goes to the family pool."))


class RightsForm(MallForm):
    can_redeem = BooleanField(_l("May redeem from the pool"))
    monthly_limit = IntegerField(_l("Monthly limit (points, empty for none)"),
                                 validators=[Optional(), NumberRange(0, 10**9)])


class GoalForm(MallForm):
    goal_name = StringField(_l("Goal"), validators=[Optional(), Length(max=80)])
    goal_points = IntegerField(_l("Points needed"), validators=[Optional(), NumberRange(1, 10**9)])


class MemberForm(MallForm):
    member = SelectField(_l("Member"), coerce=database_id, validate_choice=False)


class GiftForm(MallForm):
    token = HiddenField()
    recipient = StringField(_l("Recipient's member code"), validators=[DataRequired(), Length(max=12)])
    points = IntegerField(_l("Points"), validators=[DataRequired(), NumberRange(1, 10**9)])
    note = StringField(_l("A note for them (optional)"), validators=[Optional(), Length(max=140)])

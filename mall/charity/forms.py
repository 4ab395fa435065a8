"""Forms of the charity pages. Every one carries a CSRF token; amounts are strict whole numbers."""
from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, DateField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from mall.charity.service import MAX_POINTS
from mall.forms import MallForm, database_id

POINTS = [DataRequired(message=_l("Enter a whole number of points.")),
          NumberRange(min=1, max=MAX_POINTS, message=_l("Enter a whole number of points, at least 1."))]


class DonateForm(MallForm):
    """The amount typed, or a quick-amount button (``quick``), or "my points expiring this month"."""

    points = IntegerField(_l("Points to donate"), validators=[
        Optional(), NumberRange(min=1, max=MAX_POINTS, message=_l("Enter a whole number of points, at least 1."))])
    quick = IntegerField(validators=[Optional(), NumberRange(min=1, max=MAX_POINTS)])
    use_expiring = HiddenField()
    anonymous = BooleanField(_l("Donate anonymously (your name is not shown on the donor wall)"))
    from_pool = BooleanField(_l("Donate from the family pool"))
    token = HiddenField()

    def amount(self, expiring: int) -> int | None:
        if self.use_expiring.data == "1":
            return expiring or None
        return self.quick.data or self.points.data


class PledgeForm(MallForm):
    points = IntegerField(_l("Points each month"), validators=POINTS)
    anonymous = BooleanField(_l("Anonymously"))


class ProjectForm(MallForm):
    cause = SelectField(_l("Cause"), validate_choice=False)
    organisation_zh = StringField(_l("Organisation (Chinese)"), validators=[DataRequired(), Length(max=120)])
    organisation_en = StringField(_l("Organisation (English)"), validators=[DataRequired(), Length(max=120)])
    title_zh = StringField(_l("Title (Chinese)"), validators=[DataRequired(), Length(max=120)])
    title_en = StringField(_l("Title (English)"), validators=[DataRequired(), Length(max=120)])
    story_zh = TextAreaField(_l("Story (Chinese)"), validators=[Optional(), Length(max=8000)])
    story_en = TextAreaField(_l("Story (English)"), validators=[Optional(), Length(max=8000)])
    goal_points = IntegerField(_l("Goal (points)"), validators=POINTS)
    fen_per_100_points = IntegerField(_l("Paid out per 100 points (fen)"), default=100, validators=[
        DataRequired(), NumberRange(min=1, max=100000)])
    starts_on = DateField(_l("Opens on"), validators=[DataRequired()])
    ends_on = DateField(_l("Closes after"), validators=[DataRequired()])


class ImageForm(MallForm):
    image = FileField(_l("Image (JPEG, PNG or WebP, up to 5 MB)"), validators=[FileRequired()])


class CampaignForm(MallForm):
    sponsor = SelectField(_l("Sponsor"), coerce=database_id, validate_choice=False)  # blank: the programme
    match_percent = IntegerField(_l("Match, % per donation (100 = 1:1)"), default=100,
                                 validators=[DataRequired(), NumberRange(min=1, max=1000)])
    cap_points = IntegerField(_l("Cap (points)"), validators=POINTS)
    starts_on = DateField(_l("From"), validators=[DataRequired()])
    ends_on = DateField(_l("To (inclusive)"), validators=[DataRequired()])


class PayoutForm(MallForm):
    points = IntegerField(_l("Points to pay out"), validators=POINTS)
    reference = StringField(_l("Payment reference"), validators=[DataRequired(), Length(min=3, max=64)])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=200)])


class CloseForm(MallForm):
    reference = StringField(_l("Reference for the final payout"), validators=[DataRequired(), Length(min=3, max=64)])

"""Engagement forms: every one carries a CSRF token; only the fields a use case names are bound."""
from flask_babel import lazy_gettext as _l
from wtforms import (BooleanField, FieldList, FormField, HiddenField, IntegerField, RadioField,
                     SelectField, StringField, TextAreaField)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from mall.forms import MallForm, MallSubForm


class PlayForm(MallForm):
    token = HiddenField()
    free = HiddenField(default="")


class SurveyForm(MallForm):
    score = RadioField(
        _l("How likely are you to recommend the Green Points Mall to a friend? (0 = not at all, 10 = certainly)"),
        choices=[(str(n), str(n)) for n in range(11)], validators=[InputRequired()])
    comment = TextAreaField(_l("Anything we could do better? (optional)"), validators=[Optional(), Length(max=500)])


class ReviewForm(MallForm):
    rating = RadioField(_l("Rating"), choices=[(str(n), "★" * n) for n in range(5, 0, -1)],
                        validators=[InputRequired()])
    body = TextAreaField(_l("Your review"), validators=[DataRequired(), Length(min=5, max=1000)])


class FundForm(MallForm):
    token = HiddenField()
    points = IntegerField(_l("Points to move from the issuance account"),
                          validators=[InputRequired(), NumberRange(1, 10**9)])
    memo = StringField(_l("Memo (why)"), validators=[DataRequired(), Length(min=3, max=200)])


class TaskForm(MallForm):
    points = IntegerField(_l("Points"), validators=[InputRequired(), NumberRange(0, 10**7)])
    free_plays = IntegerField(_l("Free plays"), validators=[InputRequired(), NumberRange(0, 10)])
    member_limit = IntegerField(_l("Limit per member (empty: none)"), validators=[Optional(), NumberRange(1, 100000)])
    active = BooleanField(_l("Running"))


class CouponForm(MallForm):
    code = StringField(_l("Coupon code"), validators=[DataRequired(), Length(min=4, max=16)])


class PrizeForm(MallSubForm):
    """One outcome row (no CSRF of its own: it lives inside GameForm). An empty weight skips the row."""

    kind = SelectField(_l("Outcome"), choices=[("points", _l("Points")), ("coupon", _l("Coupon")),
                                               ("none", _l("No prize"))],
                       validate_choice=False)  # rows without a weight are skipped; the service checks the rest
    weight = IntegerField(_l("Weight"), validators=[Optional(), NumberRange(1, 10**6)])
    points = IntegerField(_l("Points"), validators=[Optional(), NumberRange(0, 10**6)], default=0)
    coupon_yuan = IntegerField(_l("Coupon value (yuan)"), validators=[Optional(), NumberRange(0, 100000)], default=0)
    label_zh = StringField(_l("Label (Chinese)"), validators=[Optional(), Length(max=60)])
    label_en = StringField(_l("Label (English)"), validators=[Optional(), Length(max=60)])


class GameForm(MallForm):
    slug = StringField(_l("Short name (for the address)"), validators=[DataRequired(), Length(max=39)])
    kind = SelectField(_l("Kind"), choices=[("wheel", _l("Spin wheel")), ("scratch", _l("Scratch card"))])
    name_zh = StringField(_l("Name (Chinese)"), validators=[DataRequired(), Length(max=60)])
    name_en = StringField(_l("Name (English)"), validators=[DataRequired(), Length(max=60)])
    cost_points = IntegerField(_l("Points a play costs"), validators=[InputRequired(), NumberRange(0, 10**6)])
    daily_limit = IntegerField(_l("Plays per member per day"), validators=[InputRequired(), NumberRange(1, 100)])
    prizes = FieldList(FormField(PrizeForm), min_entries=8, max_entries=12)

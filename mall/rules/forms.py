from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from mall.forms import MallForm, database_id
from mall.forms import ITEM_CATEGORIES, valid_yuan

TIERS = [("normal", _l("Normal")), ("silver", _l("Silver")), ("gold", _l("Gold"))]


class CalculatorForm(MallForm):
    class Meta:
        csrf = False  # a read-only GET form

    category = SelectField(_l("Category"), choices=ITEM_CATEGORIES, default="grocery")
    amount = StringField(_l("Amount (¥)"), validators=[DataRequired(), valid_yuan], default="100")
    green = BooleanField(_l("Green item"))
    tier = SelectField(_l("Tier"), choices=TIERS, default="normal")
    good_credit = BooleanField(_l("Good credit standing"))


class DiffForm(MallForm):
    class Meta:
        csrf = False

    a = SelectField(_l("From version"), coerce=database_id, validators=[Optional()])
    b = SelectField(_l("To version"), coerce=database_id, validators=[Optional()])


class LinkForm(MallForm):
    channel = SelectField(_l("Card programme or transit operator"), coerce=int, choices=[],
                          validate_choice=True)
    number = StringField(_l("Card or account number"), validators=[DataRequired(), Length(max=40)])


class ChannelForm(MallForm):
    kind = SelectField(_l("Kind"), choices=[("bank_card", _l("Bank card programme")), ("transit", _l("Public transport")),
                                            ("ev_charging", _l("EV charging network"))])
    name_zh = StringField(_l("Name in Chinese"), validators=[DataRequired(), Length(max=120)])
    name_en = StringField(_l("Name in English"), validators=[DataRequired(), Length(max=120)])
    points_per_unit = IntegerField(_l("Points per ride or kWh (besides the rules on what is paid)"),
                                   validators=[Optional(), NumberRange(0, 1000)], default=0)
    rule_zh = StringField(_l("The earning rule in Chinese, for the rules page"), validators=[Length(max=300)])
    rule_en = StringField(_l("The earning rule in English, for the rules page"), validators=[Length(max=300)])

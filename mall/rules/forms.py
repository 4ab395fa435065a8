from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import DataRequired, Optional

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

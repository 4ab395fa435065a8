"""Impact forms: a certificate's chosen parts, and an operator's factor."""
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, IntegerField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from mall.forms import MallForm


class ShareForm(MallForm):
    show_name = BooleanField(_l("Show my display name"))
    show_trees = BooleanField(_l("Show the tree equivalence"), default=True)
    show_categories = BooleanField(_l("Show the breakdown by category"))
    show_chart = BooleanField(_l("Show the monthly chart"))


class FactorForm(MallForm):
    key = StringField(_l("Category (or \"tree\")"), validators=[DataRequired(), Length(max=40)])
    grams = IntegerField(_l("Grams CO2e per yuan (per year for a tree)"),
                         validators=[InputRequired(), NumberRange(0, 10**7)])
    source = StringField(_l("Source"), validators=[DataRequired(), Length(min=5, max=300)])

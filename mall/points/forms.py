from flask_babel import lazy_gettext as _l
from wtforms import DateField, SelectField
from wtforms.validators import Optional

from mall.forms import MallForm
from mall.points.describe import KIND_LABELS


class StatementFilterForm(MallForm):
    class Meta:
        csrf = False  # a GET filter: shareable, bookmarkable, changes nothing

    kind = SelectField(_l("Kind"), choices=[("", _l("All"))] + list(KIND_LABELS.items()),
                       validators=[Optional()], default="")
    start = DateField(_l("From"), validators=[Optional()])
    end = DateField(_l("To"), validators=[Optional()])

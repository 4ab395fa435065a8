from flask_babel import lazy_gettext as _l
from wtforms import SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length

from mall.forms import MallForm


class AppealForm(MallForm):
    statement = TextAreaField(_l("Your appeal: why is this wrong? Add anything that shows the points were earned honestly."),
                              validators=[DataRequired(), Length(min=10, max=4000)])
    submit = SubmitField(_l("Send appeal"))

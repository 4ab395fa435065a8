from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, IntegerField, SelectField, SelectMultipleField, URLField
from wtforms.validators import DataRequired, Length, NumberRange
from wtforms.widgets import CheckboxInput, ListWidget

from mall.forms import MallForm
from mall.messages.topics import WEBHOOK_EVENTS

EVENT_LABELS = {"order.placed": _l("An order is placed"), "order.cancelled": _l("An order is cancelled"),
                "order.refunded": _l("An order is refunded"), "purchase.refunded": _l("A purchase is refunded"),
                "voucher.redeemed": _l("A voucher is redeemed")}


class PreferencesForm(MallForm):
    """The topic × channel checkboxes are read straight from the posted names ``<topic>:<channel>``."""

    language = SelectField(_l("Language of messages and pages"), choices=[("zh_Hans_CN", "中文"), ("en", "English")])
    quiet_hours = BooleanField(_l("Quiet hours: e-mail and SMS wait until morning"))
    quiet_start = IntegerField(_l("From (hour, Beijing time)"), validators=[NumberRange(0, 23)], default=22)
    quiet_end = IntegerField(_l("Until (hour, Beijing time)"), validators=[NumberRange(0, 23)], default=8)


class WebhookForm(MallForm):
    url = URLField(_l("Endpoint URL (https://)"), validators=[DataRequired(), Length(max=500)])
    events = SelectMultipleField(_l("Events (none chosen: every event)"), choices=[(e, EVENT_LABELS.get(e, e))
                                                                                   for e in WEBHOOK_EVENTS],
                                 option_widget=CheckboxInput(), widget=ListWidget(prefix_label=False))

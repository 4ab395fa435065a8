from datetime import date

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import Length, NumberRange, Optional

from mall.checkout.service import Delivery, LineRequest
from mall.forms import MallForm

PAY_TOKENS = [("tok_approve", _l("Test card: approves")), ("tok_decline", _l("Test card: declines")),
              ("tok_timeout", _l("Test card: times out"))]


class AddToCartForm(MallForm):
    option = SelectField(choices=[("points", _l("Points")), ("mix", _l("Points + cash"))], default="points")
    quantity = IntegerField(_l("Quantity"), default=1, validators=[NumberRange(1, 99)])


class CheckoutForm(MallForm):
    """Delivery details and payment; the lines' own choices (slot, nights) are read per listing."""

    token = HiddenField()
    name = StringField(_l("Recipient"), validators=[Optional(), Length(max=60)])
    phone = StringField(_l("Mobile number"), validators=[Optional(), Length(max=20)])
    address = TextAreaField(_l("Delivery address"), validators=[Optional(), Length(max=300)])
    guest_name = StringField(_l("Guest name"), validators=[Optional(), Length(max=60)])
    source = RadioField(_l("Pay the points from"), choices=[("own", _l("My points")), ("family", _l("Family pool"))],
                        default="own", validators=[Optional()])
    pay_token = RadioField(_l("Pay the cash part with"), choices=PAY_TOKENS, default="tok_approve",
                           validators=[Optional()])

    def delivery(self) -> Delivery:
        return Delivery(self.name.data or "", self.phone.data or "", self.address.data or "", self.guest_name.data or "")


def _int(value, low, high):
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if low <= number <= high else None


def line_requests(items, values) -> list[LineRequest]:
    """Lines from cart items (or one "redeem now" item) with each line's own choices from ``values``."""
    requests = []
    for item in items:
        key = item.listing_id
        first = values.get(f"first_night-{key}")
        try:
            first_night = date.fromisoformat(first) if first else None
        except ValueError:
            first_night = None
        requests.append(LineRequest(
            listing_id=item.listing_id, option=item.option, quantity=item.quantity,
            slot_id=_int(values.get(f"slot-{key}"), 1, 2**31 - 1), first_night=first_night,
            nights=_int(values.get(f"nights-{key}"), 1, 14) or (1 if first_night else None)))
    return requests

"""The base of every form: no text field accepts control characters, and ids typed or sent in forms
and query strings stay within the range of the database's ids."""
import re
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import Form, StringField, TextAreaField
from wtforms.validators import StopValidation, ValidationError

from mall.labels import CATEGORIES
from mall.validation import MAX_PURCHASE_FEN as MAX_FEN, has_control_characters
from mall.web import format_fen

MAX_ID = 2**31 - 1  # the largest INTEGER on PostgreSQL, as every route's <int:…> (mall.DatabaseId)


def database_id(value) -> int | None:
    """An id from a form field or query string: None when blank, else 1 to MAX_ID in plain digits; anything
    else raises ValueError, so ``request.args.get(name, type=database_id)`` gives None for it."""
    text = "" if value is None else str(value).strip()
    if not text:
        return None
    if len(text) > 10 or not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_ID:
        raise ValueError(f"not an id: {text[:20]!r}")
    return int(text)


def plain_text(form, field):
    """Refuse control characters in text as the field holds it (after its filters; a multi-line field
    keeps its newlines and tabs): the first check of every field, before Optional could wave a
    blank-looking "\\r\\n" through."""
    multiline = isinstance(field, TextAreaField)
    if isinstance(field.data, str) and has_control_characters(field.data, multiline):
        raise StopValidation(_l("Remove the control characters from this text.") if not multiline else
                             _l("Remove the control characters from this text (line breaks are fine)."))


def drop_control_characters(value):
    """A filter for a field whose text is never shown nor stored as typed (a return address): text
    with control characters becomes blank instead of refusing the whole form."""
    return "" if isinstance(value, str) and has_control_characters(value) else value


class PlainTextMeta:
    def bind_field(self, form, unbound_field, options):
        field = super().bind_field(form, unbound_field, options)
        field.validators = [plain_text, *field.validators]
        return field


class MallForm(FlaskForm):
    """Every page's form (with its CSRF token)."""

    class Meta(PlainTextMeta):
        pass


class MallSubForm(Form):
    """A row inside another form (FormField / FieldList), without a CSRF token of its own."""

    class Meta(PlainTextMeta):
        pass


# Amounts in yuan, as typed into forms (till purchases, listing cash, bills).
YUAN = re.compile(r"[0-9]{1,8}(\.[0-9]{1,2})?")

ITEM_CATEGORIES = [(key, label) for key, label in CATEGORIES.items() if key != "convenience"]


def yuan_to_fen(text: str) -> int:
    """"128.5" → 12850, exactly (no floats); ``text`` has passed ``valid_yuan``."""
    return int(Decimal(text.strip()) * 100)


def valid_yuan(form, field):
    """Plain digits, at most two decimals, at most ``field.max_fen`` when the field sets one."""
    text = (field.data or "").strip()
    if text and not YUAN.fullmatch(text):
        raise ValidationError(_l("Enter an amount in yuan, e.g. 128 or 128.50."))
    if text and yuan_to_fen(text) > getattr(field, "max_fen", MAX_FEN):
        raise ValidationError(_l("Enter an amount of at most %(amount)s.",
                                 amount=format_fen(getattr(field, "max_fen", MAX_FEN))))


class YuanField(StringField):
    """An amount in yuan as typed ("128.5"), stripped, so a blank one is "" and never reaches
    ``yuan_to_fen``; refused unless ``valid_yuan``."""

    def __init__(self, label=None, validators=None, max_fen=MAX_FEN, **kwargs):
        self.max_fen = max_fen
        super().__init__(label, [*(validators or ()), valid_yuan],
                         filters=[lambda v: v.strip() if isinstance(v, str) else v], **kwargs)

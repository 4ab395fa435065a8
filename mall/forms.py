"""The base of every form: no text field accepts control characters, and ids typed or sent in forms
and query strings stay within the range of the database's ids."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import Form, TextAreaField
from wtforms.validators import StopValidation

from mall.validation import has_control_characters

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

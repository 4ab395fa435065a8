import re
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, FieldList, Form, FormField, HiddenField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from mall.labels import CATEGORIES

YUAN = re.compile(r"^\d{1,8}(\.\d{1,2})?$")

ITEM_CATEGORIES = [(key, label) for key, label in CATEGORIES.items() if key != "convenience"]


def yuan_to_fen(text: str) -> int:
    """"128.5" → 12850, exactly (no floats)."""
    return int(Decimal(text) * 100)


def valid_yuan(form, field):
    if field.data and not YUAN.match(field.data.strip()):
        raise ValidationError(_l("Enter an amount in yuan, e.g. 128 or 128.50."))


def known_category(form, field):
    if form.amount.data and field.data not in CATEGORIES:
        raise ValidationError(_l("Choose a category."))


class ItemForm(Form):
    name = StringField(_l("Item"), validators=[Optional(), Length(max=200)])
    category = SelectField(_l("Category"), choices=ITEM_CATEGORIES, default="grocery",
                           validate_choice=False, validators=[known_category])
    amount = StringField(_l("Amount (¥)"), validators=[Optional(), valid_yuan])
    green = BooleanField(_l("Green"))


class PurchaseForm(FlaskForm):
    member_code = StringField(_l("Member code"), validators=[DataRequired(), Length(min=4, max=16)])
    items = FieldList(FormField(ItemForm), min_entries=3, max_entries=20)
    token = HiddenField()

    def validate_items(self, field):
        if not any(entry.form.amount.data for entry in field.entries):
            raise ValidationError(_l("Enter the amount of at least one item."))

    def to_document(self) -> dict:
        """The same document the JSON API takes, so both doors share one validation."""
        items = [{"name": e.form.name.data or "", "category": e.form.category.data,
                  "green": bool(e.form.green.data), "quantity": 1, "amount_fen": yuan_to_fen(e.form.amount.data)}
                 for e in self.items.entries if e.form.amount.data]
        return {"member_code": (self.member_code.data or "").strip().upper(),
                "total_fen": sum(i["amount_fen"] for i in items), "items": items}


class ApiKeyForm(FlaskForm):
    name = StringField(_l("Key name"), validators=[DataRequired(), Length(max=60)])

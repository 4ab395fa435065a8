from datetime import datetime, time, timedelta

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import (BooleanField, DateField, DateTimeLocalField, EmailField, FieldList, FormField, HiddenField,
                     IntegerField, SelectField, StringField, TextAreaField)
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional, ValidationError

from mall.catalog.service import MAX_FEN as CASH_MAX_FEN
from mall.checkout.bills import MAX_BILL_FEN
from mall.clock import SHANGHAI
from mall.forms import ITEM_CATEGORIES, MallForm, MallSubForm, YuanField, yuan_to_fen
from mall.labels import CATEGORIES, LISTING_KINDS, PERIODS

def known_category(form, field):
    if form.amount.data and field.data not in CATEGORIES:
        raise ValidationError(_l("Choose a category."))


class ItemForm(MallSubForm):
    name = StringField(_l("Item"), validators=[Optional(), Length(max=200)])
    category = SelectField(_l("Category"), choices=ITEM_CATEGORIES, default="grocery",
                           validate_choice=False, validators=[known_category])
    amount = YuanField(_l("Amount (¥)"), validators=[Optional()])
    green = BooleanField(_l("Green"))


class PurchaseForm(MallForm):
    member_code = StringField(_l("Member code"), validators=[DataRequired(), Length(min=4, max=16)])
    items = FieldList(FormField(ItemForm), min_entries=3, max_entries=20)
    token = HiddenField(validators=[Length(max=64, message=_l("This form has expired. Please try again."))])

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


class ApiKeyForm(MallForm):
    name = StringField(_l("Key name"), validators=[DataRequired(), Length(max=60)])


class ListingForm(MallForm):
    """The back-office listing editor; turned into the same document the JSON API takes."""

    kind = SelectField(_l("Kind"), choices=[], validators=[DataRequired()])
    category = SelectField(_l("Category"), choices=ITEM_CATEGORIES, validators=[DataRequired()])
    title_zh = StringField(_l("Title (Chinese)"), validators=[DataRequired(), Length(max=160)])
    title_en = StringField(_l("Title (English)"), validators=[DataRequired(), Length(max=160)])
    description_zh = TextAreaField(_l("Description (Chinese)"), validators=[Optional(), Length(max=4000)])
    description_en = TextAreaField(_l("Description (English)"), validators=[Optional(), Length(max=4000)])
    points_price = IntegerField(_l("Points price"), validators=[Optional(), NumberRange(1, 10**8)])
    mix_points = IntegerField(_l("Points + cash: points"), validators=[Optional(), NumberRange(1, 10**8)])
    cash = YuanField(_l("Points + cash: cash (¥)"), validators=[Optional()], max_fen=CASH_MAX_FEN)
    sale_points_price = IntegerField(_l("Sale points price"), validators=[Optional(), NumberRange(1, 10**8)])
    sale_starts_at = DateTimeLocalField(_l("Sale starts"), format="%Y-%m-%dT%H:%M", validators=[Optional()])
    sale_ends_at = DateTimeLocalField(_l("Sale ends"), format="%Y-%m-%dT%H:%M", validators=[Optional()])
    stock = IntegerField(_l("Stock (empty for unlimited)"), validators=[Optional(), NumberRange(0, 10**7)])
    limit_per_member = IntegerField(_l("Limit per member"), validators=[Optional(), NumberRange(1, 1000)])
    limit_period = SelectField(_l("Per"), choices=[], default="month")
    available_from = DateTimeLocalField(_l("Opens to everyone at"), format="%Y-%m-%dT%H:%M", validators=[Optional()])
    early_access_from = DateTimeLocalField(_l("Early access (good credit) from"), format="%Y-%m-%dT%H:%M",
                                           validators=[Optional()])
    coupon_valid_days = IntegerField(_l("Coupon valid for (days)"), validators=[Optional(), NumberRange(1, 3650)])
    cancel_hours = IntegerField(_l("Member may cancel within (hours)"), validators=[Optional(), NumberRange(0, 8760)])
    green = BooleanField(_l("Green"))
    co2e_g = IntegerField(_l("CO₂e saved per unit (grams)"), validators=[Optional(), NumberRange(0, 10**9)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind.choices = list(LISTING_KINDS.items())
        self.limit_period.choices = list(PERIODS.items())

    def to_document(self) -> dict:
        def instant(value):
            return value.replace(tzinfo=SHANGHAI).isoformat() if value else None

        return {
            "kind": self.kind.data, "category": self.category.data, "title_zh": self.title_zh.data,
            "title_en": self.title_en.data, "description_zh": self.description_zh.data or "",
            "description_en": self.description_en.data or "", "points_price": self.points_price.data,
            "mix_points": self.mix_points.data, "cash_fen": yuan_to_fen(self.cash.data) if self.cash.data else 0,
            "sale_points_price": self.sale_points_price.data, "sale_starts_at": instant(self.sale_starts_at.data),
            "sale_ends_at": instant(self.sale_ends_at.data), "stock": self.stock.data,
            "limit_per_member": self.limit_per_member.data, "limit_period": self.limit_period.data,
            "available_from": instant(self.available_from.data),
            "early_access_from": instant(self.early_access_from.data),
            "coupon_valid_days": self.coupon_valid_days.data, "cancel_hours": self.cancel_hours.data or 0,
            "green": bool(self.green.data), "co2e_g": self.co2e_g.data or 0,
        }

    def fill_from(self, listing) -> None:
        for name in ("kind", "category", "title_zh", "title_en", "description_zh", "description_en", "points_price",
                     "mix_points", "sale_points_price", "stock", "limit_per_member", "limit_period",
                     "coupon_valid_days", "cancel_hours", "green", "co2e_g"):
            getattr(self, name).data = getattr(listing, name)
        self.cash.data = f"{listing.cash_fen / 100:.2f}" if listing.cash_fen else ""
        for name in ("sale_starts_at", "sale_ends_at", "available_from", "early_access_from"):
            value = getattr(listing, name)
            getattr(self, name).data = value.astimezone(SHANGHAI).replace(tzinfo=None) if value else None


class ImageForm(MallForm):
    image = FileField(_l("Image (JPEG, PNG or WebP, up to 5 MB)"), validators=[FileRequired()])


class SlotsForm(MallForm):
    first_day = DateField(_l("From"), validators=[DataRequired()])
    last_day = DateField(_l("To"), validators=[DataRequired()])
    times = StringField(_l("Times each day (e.g. 09:00, 14:00)"), validators=[DataRequired(), Length(max=200)])
    capacity = IntegerField(_l("Places per slot"), validators=[DataRequired(), NumberRange(1, 10000)])

    def instants(self) -> list[datetime] | None:
        """Every day of the range at every time typed (Asia/Shanghai); None unless the times look like
        09:00, 14:30 and the range spans at most 90 days."""
        first, last = self.first_day.data, self.last_day.data
        if last < first or (last - first).days > 90:
            return None
        try:
            clock = [time.fromisoformat(t.strip()) for t in self.times.data.replace("，", ",").split(",") if t.strip()]
        except ValueError:
            return None
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        return [datetime.combine(day, t, tzinfo=SHANGHAI) for day in days for t in clock] or None


class NightsForm(MallForm):
    first = DateField(_l("First night"), validators=[DataRequired()])
    last = DateField(_l("Last night"), validators=[DataRequired()])
    points_price = IntegerField(_l("Points per night"), validators=[DataRequired(), NumberRange(1, 10**8)])
    rooms = IntegerField(_l("Rooms"), validators=[DataRequired(), NumberRange(0, 10000)])


class VoucherForm(MallForm):
    code = StringField(_l("Voucher code"), validators=[DataRequired(), Length(min=4, max=16)])


class BillForm(MallForm):
    member_code = StringField(_l("Member code"), validators=[DataRequired(), Length(min=4, max=16)])
    bill = YuanField(_l("Bill (¥)"), validators=[DataRequired()], max_fen=MAX_BILL_FEN)
    points_part = YuanField(_l("Part to pay with points (¥, empty for the maximum)"), validators=[Optional()],
                            max_fen=MAX_BILL_FEN)
    reference = StringField(_l("Receipt number"), validators=[Optional(), Length(max=64)])


class BillConfirmForm(MallForm):
    code = StringField(_l("One-time code"))  # judged by the service, which counts every try


STAFF_ROLES = [("cashier", _l("Cashier: records purchases, accepts vouchers, coupons and till bills")),
               ("manager", _l("Manager: also listings, orders, refunds, API keys, webhooks and statements"))]


class StaffForm(MallForm):
    email = EmailField(_l("Their e-mail address"), validators=[DataRequired(), Email(check_deliverability=False),
                                                               Length(max=254)])
    display_name = StringField(_l("Their name"), validators=[DataRequired(), Length(max=60)])
    role = SelectField(_l("Role"), choices=STAFF_ROLES, default="cashier")


class InviteForm(MallForm):
    member_code = StringField(_l("Their member code"), validators=[DataRequired(), Length(min=4, max=16)])
    role = SelectField(_l("Role"), choices=STAFF_ROLES, default="cashier")


class StaffRoleForm(MallForm):
    role = SelectField(_l("Role"), choices=[("owner", _l("Owner")), ("manager", _l("Manager")),
                                            ("cashier", _l("Cashier"))], validate_choice=False)


class CampaignForm(MallForm):
    """A merchant's own campaign; the limits are the programme's (checked by the service)."""

    kind = SelectField(_l("Kind"), choices=[("multiplier", _l("Multiplied points (e.g. double points)")),
                                            ("bonus", _l("Bonus points per purchase"))], default="multiplier")
    name_zh = StringField(_l("Name in Chinese"), validators=[DataRequired(), Length(max=60)])
    name_en = StringField(_l("Name in English"), validators=[DataRequired(), Length(max=60)])
    multiplier = StringField(_l("Multiplier (e.g. 2 for double points)"), validators=[Optional(), Length(max=8)])
    points = IntegerField(_l("Bonus points per purchase"), validators=[Optional(), NumberRange(1, 10**6)])
    categories = StringField(_l("Only these item categories (optional, separated by commas)"),
                             validators=[Optional(), Length(max=200)])
    starts_at = DateTimeLocalField(_l("Starts (China Standard Time)"), format="%Y-%m-%dT%H:%M",
                                   validators=[DataRequired()])
    ends_at = DateTimeLocalField(_l("Ends (China Standard Time)"), format="%Y-%m-%dT%H:%M",
                                 validators=[DataRequired()])

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if self.kind.data == "multiplier" and not (self.multiplier.data or "").strip():
            self.multiplier.errors = list(self.multiplier.errors) + [_l("Give the multiplier.")]
            valid = False
        if self.kind.data == "bonus" and not self.points.data and not self.points.errors:
            self.points.errors = list(self.points.errors) + [_l("Give the bonus points.")]
            valid = False
        return valid

    def to_kwargs(self) -> dict:
        return {"kind": self.kind.data, "name_zh": self.name_zh.data, "name_en": self.name_en.data,
                "multiplier": self.multiplier.data if self.kind.data == "multiplier" else None,
                "points": self.points.data if self.kind.data == "bonus" else None,
                "categories": self.categories.data or "",
                "starts_at": self.starts_at.data.replace(tzinfo=SHANGHAI),
                "ends_at": self.ends_at.data.replace(tzinfo=SHANGHAI)}


class LogoForm(MallForm):
    image = FileField(_l("Logo (JPEG, PNG or WebP, up to 5 MB)"), validators=[FileRequired()])

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import BooleanField, EmailField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional, Regexp

from mall.forms import MallForm
from mall.labels import CATEGORIES


class ApplicationForm(MallForm):
    name_zh = StringField(_l("Business name in Chinese"), validators=[DataRequired(), Length(max=120)])
    name_en = StringField(_l("Business name in English"), validators=[DataRequired(), Length(max=120)])
    category = SelectField(_l("Category"), choices=[(k, v) for k, v in CATEGORIES.items()])
    credit_code = StringField(_l("Unified social credit code (统一社会信用代码)"),
                              validators=[DataRequired(), Length(min=18, max=18, message=_l("18 characters."))])
    contact_name = StringField(_l("Contact person"), validators=[DataRequired(), Length(max=60)])
    phone = StringField(_l("Contact phone"), validators=[DataRequired(), Length(max=20),
                                                          Regexp(r"^[0-9+\- ]{7,20}$", message=_l("Digits only, please."))])
    email = EmailField(_l("Contact e-mail"), validators=[DataRequired(), Email(), Length(max=254)])
    address = StringField(_l("Address"), validators=[DataRequired(), Length(max=300)])
    opening_hours = StringField(_l("Opening hours"), validators=[DataRequired(), Length(max=120)])
    green_statement = TextAreaField(_l("What makes your business green (shown on your page)"),
                                    validators=[DataRequired(), Length(min=20, max=1000)])
    logo = FileField(_l("Logo (JPEG, PNG or WebP, up to 5 MB; optional)"))


class ReviewForm(MallForm):
    reason = TextAreaField(_l("Reason (for refusing, or what is missing)"), validators=[Length(max=500)])


class TermsForm(MallForm):
    issuance_fee = IntegerField(_l("Issuance fee, fen per point issued (blank: the programme's)"),
                                validators=[Optional(), NumberRange(0, 100)])
    reimbursement = IntegerField(_l("Reimbursement, fen per point redeemed (blank: the programme's)"),
                                 validators=[Optional(), NumberRange(0, 100)])
    bill_share = IntegerField(_l("Share of a till bill payable with points, % (blank: the programme's)"),
                              validators=[Optional(), NumberRange(0, 100)])
    accepts_game_coupons = BooleanField(_l("Accepts game coupons"))
    settlement_cycle = SelectField(_l("Settlement cycle"), choices=[("monthly", _l("Monthly")), ("weekly", _l("Weekly"))])

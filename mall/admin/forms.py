import json

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import (DateField, DateTimeLocalField, HiddenField, IntegerField, SelectField, StringField,
                     TextAreaField)
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError

from mall.forms import MallForm, database_id
from mall.rules.engine import RuleConfigError, parse_config


class RuleSetForm(MallForm):
    document = TextAreaField(_l("Rule set (JSON)"), validators=[DataRequired(), Length(max=100_000)])
    note = StringField(_l("What changes"), validators=[Optional(), Length(max=200)])

    def validate_document(self, field):
        try:
            doc = json.loads(field.data)
        except ValueError as err:
            raise ValidationError(_l("Not valid JSON: %(error)s", error=str(err)))
        try:
            parse_config(doc)
        except RuleConfigError as err:
            raise ValidationError(str(err))
        self.parsed = doc


class PublishForm(MallForm):
    effective_from = DateTimeLocalField(_l("Takes effect at (China Standard Time)"),
                                        format="%Y-%m-%dT%H:%M", validators=[DataRequired()])


class MerchantStatusForm(MallForm):
    action = HiddenField(validators=[DataRequired()])
    reason = StringField(_l("Reason (shown to the merchant; required to suspend)"), validators=[Optional(), Length(max=500)])


class SuspendCampaignForm(MallForm):
    reason = StringField(_l("Reason (shown to the merchant)"), validators=[DataRequired(), Length(max=300)])


class MemberSearchForm(MallForm):
    class Meta:
        csrf = False

    q = StringField(_l("Member code, mobile number or e-mail"), validators=[Optional(), Length(max=254)])


def _transfer_ids(text: str) -> list[int]:
    ids = []
    for part in (text or "").replace(",", " ").split():
        try:
            ids.append(database_id(part))
        except ValueError:
            raise ValidationError(_l("Transfer numbers are whole numbers separated by spaces or commas."))
    return ids


class CaseForm(MallForm):
    reason = TextAreaField(_l("Reason (the member will read it if an action is taken)"),
                           validators=[DataRequired(), Length(min=10, max=2000)])
    transfer_ids = StringField(_l("Evidenced transfers (entry numbers from the statement)"),
                               validators=[Optional(), Length(max=2000)])
    file = FileField(_l("Evidence file (PDF, PNG, JPEG, text or CSV, up to 5 MB)"))

    @property
    def parsed_ids(self) -> list[int]:
        """The evidenced transfers, once the form is valid (none when the field is left blank)."""
        return _transfer_ids(self.transfer_ids.data)

    def validate_transfer_ids(self, field):
        _transfer_ids(field.data)


class EvidenceForm(CaseForm):
    reason = None


class ActionForm(MallForm):
    kind = HiddenField(validators=[DataRequired()])
    amount = IntegerField(_l("Points to deduct"), validators=[Optional(), NumberRange(min=1, max=10**9)])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])


class ResolveForm(MallForm):
    outcome = SelectField(_l("Outcome"), choices=[("upheld", _l("Upheld: the actions stand")),
                                                  ("reversed", _l("Reversed: restore every deducted point"))])
    note = TextAreaField(_l("Decision (the member reads it)"), validators=[DataRequired(), Length(min=5, max=2000)])


class AuditFilterForm(MallForm):
    class Meta:
        csrf = False

    actor = StringField(_l("Actor (e-mail or member code)"), validators=[Optional(), Length(max=254)])
    action = StringField(_l("Action"), validators=[Optional(), Length(max=80)])
    target_type = StringField(_l("Target type"), validators=[Optional(), Length(max=40)])
    target_id = StringField(_l("Target id"), validators=[Optional(), Length(max=40)])
    since = DateField(_l("From (China Standard Time)"), validators=[Optional()])
    until = DateField(_l("Until (inclusive)"), validators=[Optional()])

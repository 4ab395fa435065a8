import json

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from mall.rules.engine import RuleConfigError, parse_config


class RuleSetForm(FlaskForm):
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


class PublishForm(FlaskForm):
    effective_from = DateTimeLocalField(_l("Takes effect at (China Standard Time)"),
                                        format="%Y-%m-%dT%H:%M", validators=[DataRequired()])

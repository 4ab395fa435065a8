"""Operator console: rule-set drafts, preview and publication."""
import json
from functools import wraps

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from mall.admin.forms import PublishForm, RuleSetForm
from mall.db import write
from mall.errors import DomainError
from mall.extensions import db
from mall.models import utcnow
from mall.rules import service as rules
from mall.rules.views import rules_context
from mall.web import SHANGHAI

from mall.guards import operator_only

admin = Blueprint("admin", __name__, url_prefix="/admin")


@admin.route("/rules")
@operator_only
def rule_sets():
    """Published versions and drafts."""
    now = utcnow()
    current = rules.rule_set_at(db.session, now)
    return render_template("admin/rule_sets.html", published=rules.published(db.session),
                           drafts=rules.drafts(db.session), current=current, now=now)


@admin.route("/rules/new", methods=["GET", "POST"])
@operator_only
def new_rule_set():
    """Draft a new version, starting from the rules in force."""
    form = RuleSetForm()
    if not form.is_submitted():
        form.document.data = json.dumps(rules.rule_set_at(db.session, utcnow()).document,
                                        ensure_ascii=False, indent=2)
    if form.validate_on_submit():
        with write(db.session):
            draft = rules.save_draft(db.session, current_user, form.parsed, form.note.data or "")
            draft_id = draft.id
        flash(_("Draft saved. Preview it below, then publish it for a future date."), "success")
        return redirect(url_for("admin.edit_rule_set", rule_set_id=draft_id), code=303)
    return render_template("admin/rule_set_edit.html", form=form, draft=None), 422 if form.errors else 200


@admin.route("/rules/<int:rule_set_id>", methods=["GET", "POST"])
@operator_only
def edit_rule_set(rule_set_id):
    """Edit a draft and preview it exactly as the public rules page will show it."""
    try:
        draft = rules.get_rule_set(db.session, rule_set_id)
    except DomainError:
        abort(404)
    form = RuleSetForm()
    if not form.is_submitted():
        form.document.data = json.dumps(draft.document, ensure_ascii=False, indent=2)
        form.note.data = draft.note
    if draft.status == "draft" and form.validate_on_submit():
        with write(db.session):
            rules.save_draft(db.session, current_user, form.parsed, form.note.data or "", draft_id=draft.id)
        flash(_("Draft saved."), "success")
        return redirect(url_for("admin.edit_rule_set", rule_set_id=rule_set_id), code=303)
    preview = rules_context(draft) if not form.errors else None
    return render_template("admin/rule_set_edit.html", form=form, draft=draft, preview=preview,
                           publish_form=PublishForm()), 422 if form.errors else 200


@admin.route("/rules/<int:rule_set_id>/publish", methods=["POST"])
@operator_only
def publish_rule_set(rule_set_id):
    """Publish a draft as the next version, effective at a future instant."""
    form = PublishForm()
    if form.validate_on_submit():
        effective = form.effective_from.data.replace(tzinfo=SHANGHAI)
        try:
            with write(db.session):
                published = rules.publish(db.session, current_user, rule_set_id, effective)
                version = published.version
        except DomainError as err:
            flash(str(err.message) if err.code != "retroactive" else
                  _("A rule set can only take effect in the future."), "error")
        else:
            flash(_("Published as version %(version)s.", version=version), "success")
            return redirect(url_for("admin.rule_sets"), code=303)
    else:
        flash(_("Choose when the rules take effect."), "error")
    return redirect(url_for("admin.edit_rule_set", rule_set_id=rule_set_id), code=303)


from mall.admin import console  # noqa: E402,F401  (the console's other pages, on this blueprint)

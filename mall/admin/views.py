"""Operator console: rule-set drafts, preview and publication."""
import json

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from mall.admin.blueprint import admin
from mall.admin.forms import PublishForm, RuleSetForm
from mall.clock import SHANGHAI, utcnow
from mall.edge import back_to, on_refusal, run
from mall.extensions import db
from mall.guards import operator_only
from mall.rules import present
from mall.rules import service as rules
from mall.settings import settings_of


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
        draft = run(rules.save_draft, db.session, current_user, form.parsed, form.note.data or "")
        flash(_("Draft saved. Preview it below, then publish it for a future date."), "success")
        return redirect(url_for("admin.edit_rule_set", rule_set_id=draft.id), code=303)
    return render_template("admin/rule_set_edit.html", form=form, draft=None), 422 if form.errors else 200


@admin.route("/rules/<int:rule_set_id>", methods=["GET", "POST"])
@operator_only
def edit_rule_set(rule_set_id):
    """Edit a draft and preview it exactly as the public rules page will show it."""
    draft = rules.get_rule_set(db.session, rule_set_id)
    form = RuleSetForm()
    if not form.is_submitted():
        form.document.data = json.dumps(draft.document, ensure_ascii=False, indent=2)
        form.note.data = draft.note
    if draft.status == "draft" and form.validate_on_submit():
        run(rules.save_draft, db.session, current_user, form.parsed, form.note.data or "", draft_id=draft.id)
        flash(_("Draft saved."), "success")
        return redirect(url_for("admin.edit_rule_set", rule_set_id=rule_set_id), code=303)
    preview = present.page(draft, settings_of(db.session).expiry_policy, utcnow()) if not form.errors else None
    return render_template("admin/rule_set_edit.html", form=form, draft=draft, preview=preview,
                           publish_form=PublishForm()), 422 if form.errors else 200


@admin.route("/rules/<int:rule_set_id>/publish", methods=["POST"])
@operator_only
@on_refusal(back_to("admin.edit_rule_set"))
def publish_rule_set(rule_set_id):
    """Publish a draft as the next version, effective at a future instant."""
    form = PublishForm()
    if not form.validate_on_submit():
        flash(_("Choose when the rules take effect."), "error")
        return redirect(url_for("admin.edit_rule_set", rule_set_id=rule_set_id), code=303)
    effective = form.effective_from.data.replace(tzinfo=SHANGHAI)
    published = run(rules.publish, db.session, current_user, rule_set_id, effective)
    flash(_("Published as version %(version)s.", version=published.version), "success")
    return redirect(url_for("admin.rule_sets"), code=303)

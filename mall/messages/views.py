"""Doors of the messages area: a member's message settings, the signed unsubscribe and confirmation
links, the merchant's webhook endpoints, and the console's outbox (metrics and dead letters)."""
from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup

from mall.account.forms import EmptyForm
from mall.audit import service as audit
from mall.edge import back_to, message_of, on_refusal, run, submitted, transaction
from mall.extensions import csrf, db
from mall.forms import database_id
from mall.guards import managers_only, operator_only
from mall.messages import service, tokens
from mall.messages.compose import compose
from mall.messages.forms import PreferencesForm, WebhookForm
from mall.messages.topics import TOPICS, member_topics

messages = Blueprint("messages", __name__)


def notice_text(notice) -> Markup:
    """An in-app notice of a messages topic (kind ``msg:<topic>``), in the reader's words, with its link."""
    spec = TOPICS.get(notice.kind[4:])
    if spec is None:
        return Markup.escape(notice.kind)
    composed = compose(notice.kind[4:], notice.data)
    english = str(get_locale() or "").startswith("en")
    text = Markup(" " if english else "").join(composed.lines)  # Chinese sentences need no space between
    if composed.action_url:
        text += Markup(' <a href="{}">{}</a>').format(composed.action_url, composed.action_label)
    return text


@messages.record_once
def _template_helpers(state) -> None:
    state.app.jinja_env.globals["notice_text"] = notice_text


# ---------------------------------------------------------------- a member's settings

def _members_only():
    if current_user.role != "member":
        abort(404)


@messages.route("/account/messages", methods=["GET", "POST"])
@login_required
@on_refusal(back_to("messages.preferences"))
def preferences():
    """Which topics reach the member on which channel, their quiet hours, their confirmed address."""
    _members_only()
    profile = service.profile_for(db.session, current_user.id)
    form = PreferencesForm(obj=profile if request.method == "GET" else None)
    if request.method == "GET":
        form.language.data = current_user.locale or "zh_Hans_CN"
    if form.validate_on_submit():
        chosen = {tuple(name.split(":", 1)) for name in request.form if ":" in name}
        run(service.set_choices, db.session, current_user, chosen, form.quiet_hours.data,
            form.quiet_start.data, form.quiet_end.data, language=form.language.data)
        flash(_("Your message settings are saved."), "success")
        return redirect(url_for("messages.preferences"), code=303)
    return render_template("messages/preferences.html", form=form, topics=member_topics(),
                           choices=service.choices_for(db.session, current_user.id),
                           confirmed=service.email_confirmed(db.session, current_user), confirm_form=EmptyForm()), 422 if form.errors else 200


@messages.route("/account/messages/confirm-email", methods=["POST"])
@login_required
@on_refusal(back_to("messages.preferences"))
def request_confirmation():
    """Send a confirmation link to the member's address."""
    _members_only()
    submitted(EmptyForm())
    run(service.request_confirmation, db.session, current_user, tokens.confirm_url(current_user.id, current_user.email))
    flash(_("We sent a confirmation link to %(email)s.", email=current_user.email), "success")
    return redirect(url_for("messages.preferences"), code=303)


@messages.route("/messages/confirm/<token>")
def confirm(token):
    """The confirmation link: the address it was sent to is confirmed (no sign-in needed)."""
    found = tokens.read_confirmation(token[:400])
    if found is None:
        return render_template("messages/link.html", ok=False,
                               message=_("This confirmation link is not valid or has expired. Ask for a new one on "
                                         "your message settings page.")), 400
    run(service.confirm_email, db.session, *found)
    return render_template("messages/link.html", ok=True,
                           message=_("Thank you: your e-mail address is confirmed. The mall's messages will reach "
                                     "you there."))


@messages.route("/messages/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt  # the signed token is the proof; mail clients post here in one click (RFC 8058)
def unsubscribe(token):
    """One-click unsubscribe from one topic's e-mails, without signing in. GET asks; POST does it."""
    found = tokens.read_unsubscribe(token[:400])
    if found is None:
        return render_template("messages/link.html", ok=False,
                               message=_("This unsubscribe link is not valid.")), 400
    user_id, topic = found
    spec = next((t for t in member_topics() if t.key == topic), None)
    label = str(spec.label) if spec else _("all messages")
    if request.method == "POST":
        run(service.unsubscribe, db.session, user_id, topic)
        return render_template("messages/link.html", ok=True,
                               message=_("Done: you will get no more e-mails about “%(topic)s”. You can change this "
                                         "on your message settings page.", topic=label))
    return render_template("messages/unsubscribe.html", topic=label, token=token)


# ---------------------------------------------------------------- a merchant's webhooks

def _webhook_page(shop, form, new_secret=None, status=200):
    return render_template("messages/webhooks.html", shop=shop, form=form, endpoints=service.endpoints_for(
        db.session, shop.id), new_secret=new_secret, action_form=EmptyForm()), status


def _webhook_refused(err, **_):
    flash(message_of(err), "error")
    return _webhook_page(g.webhook_shop, g.webhook_form, status=422)


@messages.route("/merchant/webhooks", methods=["GET", "POST"])
@managers_only
@on_refusal(_webhook_refused)
def webhooks(shop):
    """The merchant's webhook endpoints; a new one shows its signing secret."""
    form = WebhookForm()
    g.webhook_shop, g.webhook_form = shop, form
    if form.validate_on_submit():
        endpoint = run(service.add_endpoint, db.session, shop.id, current_user.id, form.url.data, form.events.data,
                       allow_http=current_app.config.get("WEBHOOK_ALLOW_LOCAL_HTTP", False))
        flash(_("The endpoint is registered. Keep its signing secret safe."), "success")
        return redirect(url_for("messages.webhook", endpoint_id=endpoint.id), code=303)
    return _webhook_page(shop, form, status=422 if form.errors else 200)


@messages.route("/merchant/webhooks/<int:endpoint_id>")
@managers_only
def webhook(shop, endpoint_id):
    """One endpoint: its secret, its delivery log, and a test event."""
    endpoint = service.get_endpoint_for(db.session, shop.id, endpoint_id)
    rows = service.deliveries_for(db.session, shop.id, endpoint_id)
    return render_template("messages/webhook.html", shop=shop, endpoint=endpoint, rows=rows,
                           attempts=service.attempts_of(db.session, [r.id for r in rows]), action_form=EmptyForm())


@messages.route("/merchant/webhooks/<int:endpoint_id>/<any(test, rotate, enable, disable, delete):action>",
                methods=["POST"])
@managers_only
@on_refusal(back_to("messages.webhook"))
def webhook_action(shop, endpoint_id, action):
    submitted(EmptyForm())
    if action == "test":
        run(service.send_test_event, db.session, shop.id, endpoint_id)
        flash(_("A test event is on its way. Refresh to see its delivery."), "success")
    elif action == "rotate":
        run(service.rotate_secret, db.session, shop.id, endpoint_id)
        flash(_("The endpoint has a new signing secret; the old one no longer signs."), "success")
    elif action == "delete":
        run(service.delete_endpoint, db.session, shop.id, endpoint_id)
        flash(_("The endpoint is deleted."), "success")
        return redirect(url_for("messages.webhooks"), code=303)
    else:
        run(service.set_endpoint_active, db.session, shop.id, endpoint_id, action == "enable")
        flash(_("The endpoint is on.") if action == "enable" else _("The endpoint is off."), "success")
    return redirect(url_for("messages.webhook", endpoint_id=endpoint_id), code=303)


# ---------------------------------------------------------------- the console

@messages.route("/admin/messages")
@operator_only
def console():
    """Delivery metrics and the dead-letter list."""
    before = request.args.get("before", type=database_id)
    rows = service.dead_letters(db.session, before_id=before)
    return render_template("messages/console.html", metrics=service.metrics(db.session), rows=rows,
                           attempts=service.attempts_of(db.session, [r.id for r in rows]), form=EmptyForm(),
                           next_before=rows[-1].id if len(rows) == 100 else None)


@messages.route("/admin/messages/<int:message_id>/<any(retry, discard):action>", methods=["POST"])
@operator_only
@on_refusal(back_to("messages.console"))
def dead_letter(message_id, action):
    submitted(EmptyForm())
    with transaction() as session:  # the operator's action is in the audit trail with it
        (service.retry_dead if action == "retry" else service.discard_dead)(session, message_id)
        audit.record(session, f"messages.{action}", "outbox_message", message_id)
    if action == "retry":
        flash(_("Message %(id)s is queued again.", id=message_id), "success")
    else:
        flash(_("Message %(id)s is discarded.", id=message_id), "success")
    return redirect(url_for("messages.console"), code=303)

"""The words of each topic's message, composed from the data its outbox row holds (a snapshot taken
when the change happened: the figures in a message are those of that moment). ``compose`` runs in the
recipient's language (``flask_babel.force_locale``) inside a request context, so links are absolute
URLs to the mall."""
from dataclasses import dataclass, field
from datetime import datetime

from flask import url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from mall.web import format_datetime_local, format_fen, format_points


@dataclass(frozen=True)
class Composed:
    subject: str
    lines: list[str]
    action_label: str = ""
    action_url: str = ""
    more: list[tuple[str, str]] = field(default_factory=list)  # further (label, url) links


def _when(value: str) -> str:
    return format_datetime_local(datetime.fromisoformat(value))


def _named(data, key: str) -> str:
    """A name kept in both languages (``<key>_zh``, ``<key>_en``), in the reader's."""
    english = str(get_locale() or "").startswith("en")
    return data.get(f"{key}_en" if english else f"{key}_zh") or data.get(f"{key}_zh") or ""


def _link(endpoint: str, **values) -> str:
    return url_for(endpoint, _external=True, **values)


def _expiring(data) -> Composed:
    points, when = format_points(data["points"]), _when(data["expires_at"])
    return Composed(
        _("%(points)s points expire on %(date)s", points=points, date=when),
        [_("%(points)s of your points expire on %(date)s, in %(days)s days.", points=points, date=when,
           days=data.get("days_left", data.get("days", 30))),
         _("Redeem them in the mall, or donate them to a green project, before then.")],
        _("Redeem points"), _link("catalog.index"), [(_("Donate them"), _link("charity.index"))])


def _gift(data) -> Composed:
    lines = [_("%(name)s gave you %(points)s points.", name=data["sender_name"], points=format_points(data["points"]))]
    if data.get("note"):
        lines.append(_("Their note: “%(note)s”", note=data["note"]))
    return Composed(_("A gift of %(points)s points from %(name)s", points=format_points(data["points"]),
                      name=data["sender_name"]), lines, _("See your statement"), _link("points.statement"))


def _invitation(data) -> Composed:
    return Composed(_("%(name)s invites you to the family “%(family)s”", name=data["inviter_name"], family=data["family"]),
                    [_("%(name)s invites you to join the family “%(family)s” and pool points together. The "
                       "invitation is open until %(date)s.", name=data["inviter_name"], family=data["family"],
                       date=_when(data["expires_at"]))],
                    _("See the invitation"), _link("family.index"))


def _order_link(data):
    return _("See the order"), _link("checkout.order", order_id=data["order_id"])


def _fulfilled(data) -> Composed:
    return Composed(_("Order %(number)s is fulfilled", number=data["order_id"]),
                    [_("%(merchant)s has fulfilled your order %(number)s.", merchant=_named(data, "merchant"),
                       number=data["order_id"])], *_order_link(data))


def _cancelled(data) -> Composed:
    lines = [_("%(merchant)s cancelled your order %(number)s.", merchant=_named(data, "merchant"), number=data["order_id"])]
    if data.get("points_returned"):
        lines.append(_("%(points)s points are back in your account.", points=format_points(data["points_returned"])))
    if data.get("compensation"):
        lines.append(_("For the trouble, you also get %(points)s points of compensation.",
                       points=format_points(data["compensation"])))
    return Composed(_("Order %(number)s was cancelled", number=data["order_id"]), lines, *_order_link(data))


def _refunded(data) -> Composed:
    lines = [_("%(merchant)s refunded your order %(number)s.", merchant=_named(data, "merchant"), number=data["order_id"])]
    if data.get("points"):
        lines.append(_("%(points)s points are back in your account.", points=format_points(data["points"])))
    return Composed(_("Order %(number)s was refunded", number=data["order_id"]), lines, *_order_link(data))


def _voucher(data) -> Composed:
    return Composed(_("Your voucher for %(title)s expires on %(date)s", title=_named(data, "title"), date=_when(data["expires_at"])),
                    [_("Your voucher for %(title)s expires on %(date)s. Use it before then.", title=_named(data, "title"),
                       date=_when(data["expires_at"]))], *_order_link(data))


def _donation(data) -> Composed:
    return Composed(_("Thank you: your donation of %(points)s points", points=format_points(data["points"])),
                    [_("You donated %(points)s points to %(project)s. Receipt number: %(number)s.",
                       points=format_points(data["points"]), project=_named(data, "project"), number=data["receipt"])],
                    _("See the receipt"), _link("charity.receipt", number=data["receipt"]))


def _pledge_collected(data) -> Composed:
    return Composed(_("Your monthly pledge to %(project)s", project=_named(data, "project")),
                    [_("Your monthly pledge for %(month)s gave %(points)s points to %(project)s.",
                       month=data["month"], points=format_points(data["points"]), project=_named(data, "project"))],
                    _("See your donations"), _link("charity.donations"))


def _pledge_skipped(data) -> Composed:
    reason = (_("your account is frozen while a case is reviewed") if data.get("reason") == "frozen"
              else _("you did not have enough points"))
    return Composed(_("Your monthly pledge to %(project)s was skipped", project=_named(data, "project")),
                    [_("Your monthly pledge to %(project)s was skipped for %(month)s: %(reason)s.",
                       project=_named(data, "project"), month=data["month"], reason=reason)],
                    _("See your donations"), _link("charity.donations"))


def _fraud_opened(data) -> Composed:
    return Composed(_("We are reviewing activity on your account"),
                    [_("We opened case %(number)s to review recent activity on your account. You can read it and "
                       "answer on its page.", number=data["case_id"])],
                    _("See the case"), _link("fraud.case", case_id=data["case_id"]))


def _fraud_resolved(data) -> Composed:
    outcome = (_("the points in question were reversed") if data.get("outcome") == "reversed"
               else _("nothing on your account changes"))
    return Composed(_("Case %(number)s is resolved", number=data["case_id"]),
                    [_("Case %(number)s is resolved: %(outcome)s.", number=data["case_id"], outcome=outcome)],
                    _("See the case"), _link("fraud.case", case_id=data["case_id"]))


def _birthday(data) -> Composed:
    return Composed(_("Happy birthday, %(name)s!", name=data["name"]),
                    [_("Happy birthday from Green Points Mall! Purchases today earn your birthday bonus.")],
                    _("Visit the mall"), _link("catalog.home"))


def _confirm(data) -> Composed:
    return Composed(_("Confirm your e-mail address"),
                    [_("Open this link to confirm that %(email)s is yours and receive the mall's messages there. "
                       "If you did not ask for it, ignore this message.", email=data["email"])],
                    _("Confirm my address"), data["url"])


def _application(data) -> Composed:
    name = _named(data, "name")
    if data["outcome"] == "approved":
        return Composed(_("Welcome to the coalition, %(name)s", name=name),
                        [_("Your application for %(name)s is approved. Your account is now its owner account: list "
                           "what members can redeem, report purchases and set up your API keys in the back office.",
                           name=name)], _("Open the back office"), _link("merchant.dashboard"))
    if data["outcome"] == "needs_info":
        return Composed(_("Your application for %(name)s needs more information", name=name),
                        [_("We need more information to review your application for %(name)s: %(reason)s",
                           name=name, reason=data["reason"]), _("Change the application and send it again.")],
                        _("See the application"), _link("merchant.apply"))
    return Composed(_("Your application for %(name)s was not accepted", name=name),
                    [_("We could not accept your application for %(name)s: %(reason)s", name=name,
                       reason=data["reason"])], _("See the application"), _link("merchant.apply"))


def _staff_invitation(data) -> Composed:
    merchant = _named(data, "merchant")
    role = _("manager") if data["role"] == "manager" else _("cashier")
    return Composed(_("%(merchant)s invites you to its staff", merchant=merchant),
                    [_("%(merchant)s invites you to work in its back office as %(role)s. If you accept, this "
                       "account works for the merchant; your points stay yours.", merchant=merchant, role=role)],
                    _("Answer the invitation"), _link("account.staff_invitations"))


def _bill_code(data) -> Composed:
    return Composed(_("Your code %(code)s: %(merchant)s asks to take %(points)s points (%(amount)s) for your bill. "
                      "Give it to the cashier only if you are paying there. Valid until %(time)s.",
                      code=data["code"], merchant=_named(data, "merchant"), points=format_points(data["points"]),
                      amount=format_fen(data["points_fen"]), time=_when(data["expires_at"])[-5:]),
                    [], _("See the request"), _link("checkout.bills"))


COMPOSERS = {
    "bill_code": _bill_code,
    "merchant_application": _application, "staff_invitation": _staff_invitation,
    "points_expiring": _expiring, "gift_received": _gift, "family_invitation": _invitation,
    "order_fulfilled": _fulfilled, "order_cancelled": _cancelled, "order_refunded": _refunded,
    "voucher_expiring": _voucher, "donation_receipt": _donation, "pledge_collected": _pledge_collected,
    "pledge_skipped": _pledge_skipped, "fraud_case_opened": _fraud_opened, "fraud_case_resolved": _fraud_resolved,
    "birthday": _birthday, "email_confirm": _confirm,
}


def compose(topic: str, data: dict) -> Composed:
    return COMPOSERS[topic](data)

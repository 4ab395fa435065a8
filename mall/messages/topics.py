"""What the mall tells members, on which channels, and in which words.

A topic names one kind of message. Each says which channels it may use and which are on by default (a
member changes them on their message settings page). Their words are in ``mall.messages.compose``.

SMS is only for what must reach a phone: points about to expire within 7 days, an order the merchant
cancelled, one-time codes.
"""
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l


@dataclass(frozen=True)
class Topic:
    key: str
    label: object  # lazy string
    channels: tuple[str, ...]  # what the member may choose among: inapp, email, sms
    defaults: tuple[str, ...]  # on unless the member turns them off
    transactional: bool = False  # sent whatever the preferences (a confirmation link the member asked for)
    urgent: bool = False  # a one-time code: never held for quiet hours, never sent once it has expired


TOPICS = {t.key: t for t in (
    Topic("points_expiring", _l("Points about to expire"), ("inapp", "email", "sms"), ("inapp", "email", "sms")),
    Topic("gift_received", _l("Gifts of points"), ("inapp", "email"), ("inapp", "email")),
    Topic("family_invitation", _l("Family invitations"), ("inapp", "email"), ("inapp", "email")),
    Topic("order_fulfilled", _l("Order fulfilled"), ("inapp", "email"), ("inapp", "email")),
    Topic("order_cancelled", _l("Order cancelled by the merchant"), ("inapp", "email", "sms"),
          ("inapp", "email", "sms")),
    Topic("order_refunded", _l("Order refunded"), ("inapp", "email"), ("inapp", "email")),
    Topic("voucher_expiring", _l("Vouchers about to expire"), ("inapp", "email"), ("inapp", "email")),
    Topic("donation_receipt", _l("Donation receipts"), ("inapp", "email"), ("inapp", "email")),
    Topic("pledge_collected", _l("Monthly pledge collected"), ("inapp", "email"), ("inapp",)),
    Topic("pledge_skipped", _l("Monthly pledge skipped"), ("inapp", "email"), ("inapp", "email")),
    Topic("fraud_case_opened", _l("Account reviews opened"), ("inapp", "email"), ("inapp", "email")),
    Topic("fraud_case_resolved", _l("Account reviews resolved"), ("inapp", "email"), ("inapp", "email")),
    Topic("birthday", _l("Birthday greeting"), ("inapp", "email"), ("inapp", "email")),
    Topic("bill_code", _l("One-time codes for paying at a till"), ("sms",), ("sms",), urgent=True),
    Topic("email_confirm", _l("E-mail confirmation"), ("email",), ("email",), transactional=True),
    # the answer to a business's application, to the account that applied (whatever its role by then)
    Topic("merchant_application", _l("Your merchant application"), ("inapp", "email"), ("inapp", "email"),
          transactional=True),
    # an owner's invitation to work on a merchant's staff: the member's answer is asked for
    Topic("staff_invitation", _l("Invitations to a merchant's staff"), ("inapp", "email"), ("inapp", "email"),
          transactional=True),
)}

# Topics whose in-app notice another area writes itself (the fraud, charity and points areas' own wording):
# the messages area adds only the other channels for them.
INAPP_ELSEWHERE = {"fraud_case_opened", "fraud_case_resolved", "pledge_skipped", "points_expiring"}

# SMS goes only to these (and only for the 7-day expiry reminder among the expiry ones).
SMS_TOPICS = {"points_expiring", "order_cancelled", "bill_code"}

# What merchants' webhooks carry.
WEBHOOK_EVENTS = ("order.placed", "order.cancelled", "order.refunded", "purchase.refunded", "voucher.redeemed")


def member_topics() -> list[Topic]:
    return [t for t in TOPICS.values() if not t.transactional]

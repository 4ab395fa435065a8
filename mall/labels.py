"""Translated names of the fixed vocabularies shown in templates."""
import re

from flask_babel import lazy_gettext as _l

BILINGUAL = re.compile(r"^(?P<zh>.+?) / (?P<en>.+)$")  # a text kept as "中文 / English", split at the first " / "


def in_language(text: str | None, locale: str) -> str:
    """A text kept in both languages as "中文 / English" (a task's memo, a factor's source): the half in
    the page's language; any other text as written."""
    found = BILINGUAL.match((text or "").strip())
    if not found:
        return text or ""
    return found.group("en").strip() if locale.startswith("en") else found.group("zh").strip()

LISTING_KINDS = {"goods": _l("Goods"), "service": _l("Services"), "topup": _l("Top-ups"),
                 "stay": _l("Hotel stays"), "coupon": _l("Coupons")}
ROLES = {"member": _l("Member"), "merchant": _l("Merchant staff"), "operator": _l("Operator")}


def kind_label(kind: str) -> str:
    return str(LISTING_KINDS.get(kind, kind))


def role_label(role: str) -> str:
    return str(ROLES.get(role, role))

TIERS = {"normal": _l("Normal"), "silver": _l("Silver"), "gold": _l("Gold")}
RULES = {"base": _l("Base points"), "green": _l("Green bonus"), "tier": _l("Tier bonus"),
         "credit": _l("Good-credit bonus"), "birthday": _l("Birthday bonus"),
         "channel": _l("Channel points per ride or kWh"), "merchant_campaign": _l("Merchant's campaign")}
CAMPAIGN_KINDS = {"multiplier": _l("Points multiplier"), "bonus": _l("Fixed bonus"),
                  "cross_category": _l("Cross-category bonus"), "first_purchase": _l("First purchase at a merchant")}
NOTES = {"below_minimum": _l("Below the minimum purchase: no points."),
         "per_purchase_cap": _l("Capped at the per-purchase maximum."),
         "daily_cap": _l("Capped at the daily maximum.")}


def tier_label(name: str) -> str:
    return str(TIERS.get(name, name))


def rule_label(rule: str, config=None, locale: str = "zh", detail=None) -> str:
    """A breakdown line's name; campaign lines are named after their campaign (a merchant's own
    campaign carries its names in the line, since no rule set holds it)."""
    if rule == "merchant_campaign" and detail:
        return detail.get("name_en" if locale.startswith("en") else "name_zh") or str(RULES[rule])
    if rule.startswith("campaign:"):
        campaign_id = rule.split(":", 1)[1]
        for c in getattr(config, "campaigns", ()):
            if c.id == campaign_id:
                return c.name_en if locale.startswith("en") else c.name_zh
        return campaign_id
    return str(RULES.get(rule, rule))


def note_label(note: str) -> str:
    return str(NOTES.get(note, note))


def campaign_kind_label(kind: str) -> str:
    return str(CAMPAIGN_KINDS.get(kind, kind))

CATEGORIES = {
    "grocery": _l("Groceries"), "appliances": _l("Energy-saving appliances"),
    "public_transport": _l("Public transport"), "second_hand": _l("Second-hand"), "refills": _l("Refills"),
    "textiles": _l("Home textiles"), "hotel": _l("Hotels"), "telecom": _l("Telecom"),
    "services": _l("Services"), "ev_charging": _l("EV charging"), "dining": _l("Dining"),
    "convenience": _l("Convenience stores"), "bank_card": _l("Bank cards"),
}


def category_label(category: str) -> str:
    return str(CATEGORIES.get(category, category))

PERIODS = {"day": _l("day"), "week": _l("week"), "month": _l("month"), "year": _l("year"), "ever": _l("lifetime")}


def period_label(period: str) -> str:
    return str(PERIODS.get(period, period))

STATUSES = {"draft": _l("Draft"), "active": _l("Active"), "paused": _l("Paused"), "archived": _l("Archived")}


def status_label(status: str) -> str:
    return str(STATUSES.get(status, status))

ORDER_STATUSES = {"placed": _l("Placed"), "fulfilled": _l("Fulfilled"), "cancelled": _l("Cancelled")}
VOUCHER_STATUSES = {"active": _l("Ready to use"), "redeemed": _l("Used"), "cancelled": _l("Cancelled")}


def order_status_label(status: str) -> str:
    return str(ORDER_STATUSES.get(status, status))


def voucher_status_label(status: str) -> str:
    return str(VOUCHER_STATUSES.get(status, status))

BILL_STATUSES = {"pending": _l("Waiting for the member"), "approved": _l("Paid"), "declined": _l("Declined"),
                 "expired": _l("Expired"), "voided": _l("Void (too many wrong codes)")}


def bill_status_label(status: str) -> str:
    return str(BILL_STATUSES.get(status, status))

CAUSES = {"education": _l("Education"), "environment": _l("Environment"), "disaster_relief": _l("Disaster relief"),
          "health": _l("Health"), "elderly": _l("Elderly care")}
PROJECT_STATUSES = {"upcoming": _l("Upcoming"), "open": _l("Open"), "funded": _l("Funded"), "closed": _l("Closed")}
PLEDGE_STATUSES = {"active": _l("Active"), "paused": _l("Paused"), "cancelled": _l("Cancelled"), "ended": _l("Ended")}


def cause_label(cause: str) -> str:
    return str(CAUSES.get(cause, cause))


def project_status_label(status: str) -> str:
    return str(PROJECT_STATUSES.get(status, status))


def pledge_status_label(status: str) -> str:
    return str(PLEDGE_STATUSES.get(status, status))


FAMILY_EVENTS = {"created": _l("created the family"), "invited": _l("sent an invitation"),
                 "joined": _l("joined"), "declined": _l("declined an invitation"), "left": _l("left"),
                 "removed": _l("removed a member"), "head": _l("handed over the head role"),
                 "rights": _l("changed pool rights"), "goal": _l("set the goal"),
                 "contributed": _l("contributed to the pool"), "percent": _l("changed their share of earnings"),
                 "gift": _l("sent a gift"), "dissolved": _l("dissolved the family")}


def family_event_label(kind: str) -> str:
    return str(FAMILY_EVENTS.get(kind, kind))


def mask_code(code: str | None) -> str:
    """A member code shown partly hidden, e.g. M7****9P."""
    code = code or ""
    return code[:2] + "*" * (len(code) - 4) + code[-2:] if len(code) > 4 else "*" * len(code)


MERCHANT_STATUSES = {"pending": _l("Awaiting approval"), "approved": _l("Approved"), "suspended": _l("Suspended")}
CASE_STATUSES = {"open": _l("Open"), "appealed": _l("Under appeal"), "upheld": _l("Upheld"),
                 "reversed": _l("Reversed")}
FRAUD_ACTIONS = {"freeze": _l("Freeze spending"), "deduct": _l("Deduct points")}
FRAUD_ACTION_STATUSES = {"pending": _l("Awaiting a second operator"), "executed": _l("Carried out"),
                         "rejected": _l("Rejected"), "cancelled": _l("Cancelled")}


def merchant_status_label(status: str) -> str:
    return str(MERCHANT_STATUSES.get(status, status))


def case_status_label(status: str) -> str:
    return str(CASE_STATUSES.get(status, status))


def fraud_action_label(kind: str) -> str:
    return str(FRAUD_ACTIONS.get(kind, kind))


def fraud_action_status_label(status: str) -> str:
    return str(FRAUD_ACTION_STATUSES.get(status, status))


DELIVERY_STATUSES = {"pending": _l("Waiting"), "sending": _l("Sending"), "sent": _l("Delivered"),
                     "dead": _l("Failed (dead letter)"), "discarded": _l("Discarded"), "skipped": _l("Not sent")}
CHANNELS = {"inapp": _l("In the mall"), "email": _l("E-mail"), "sms": _l("SMS"), "webhook": _l("Webhook")}


def delivery_status_label(status: str) -> str:
    return str(DELIVERY_STATUSES.get(status, status))


def channel_label(channel: str) -> str:
    return str(CHANNELS.get(channel, channel))


APPLICATION_STATUSES = {"pending": _l("Waiting for review"), "needs_info": _l("More information needed"),
                        "approved": _l("Approved"), "refused": _l("Not accepted")}


def application_status_label(status: str) -> str:
    return str(APPLICATION_STATUSES.get(status, status))


CHANNEL_KINDS = {"bank_card": _l("Bank card programme"), "transit": _l("Public transport"),
                 "ev_charging": _l("EV charging network")}


def channel_kind_label(kind: str) -> str:
    return str(CHANNEL_KINDS.get(kind, kind))


STAFF_ROLES = {"owner": _l("Owner"), "manager": _l("Manager"), "cashier": _l("Cashier")}


def staff_role_label(role: str | None) -> str:
    return str(STAFF_ROLES.get(role or "", role or ""))


CAMPAIGN_STATES = {"scheduled": _l("Starts later"), "running": _l("Running"), "ended": _l("Over"),
                   "withdrawn": _l("Withdrawn"), "suspended": _l("Stopped by the programme")}


def campaign_state_label(state: str) -> str:
    return str(CAMPAIGN_STATES.get(state, state))


INVITATION_STATES = {"pending": _l("Waiting for their answer"), "accepted": _l("Joined the staff"),
                     "declined": _l("Declined"), "withdrawn": _l("Withdrawn"), "ended": _l("Left the staff")}


def invitation_state_label(state: str) -> str:
    return str(INVITATION_STATES.get(state, state))


AUDIT_ACTIONS = {
    "merchant.record_purchase": _l("Recorded a purchase"), "api.create_purchase": _l("Reported a purchase (API)"),
    "api.refund_purchase": _l("Refunded a purchase (API)"), "merchant.new_listing": _l("Created a listing"),
    "merchant.edit_listing": _l("Edited a listing"), "api.create_listing": _l("Created a listing (API)"),
    "api.update_listing": _l("Edited a listing (API)"), "merchant.listing_status": _l("Published, paused or archived a listing"),
    "merchant.upload_image": _l("Added a listing image"), "merchant.add_slots": _l("Opened booking times"),
    "merchant.set_nights": _l("Set hotel nights"), "merchant.order_action": _l("Fulfilled or cancelled an order"),
    "api.fulfil_order": _l("Fulfilled an order (API)"), "api.cancel_order": _l("Cancelled an order (API)"),
    "merchant.refund_line": _l("Refunded an order line"), "api.refund_order": _l("Refunded an order (API)"),
    "merchant.vouchers": _l("Accepted a voucher or coupon"), "merchant.bills": _l("Asked for points at the till"),
    "merchant.confirm_bill": _l("Confirmed a till payment"), "api.create_bill_payment": _l("Asked for points at the till (API)"),
    "api.confirm_bill_payment": _l("Confirmed a till payment (API)"), "merchant.api_keys": _l("Created an API key"),
    "merchant.revoke_key": _l("Revoked an API key"), "messages.webhooks": _l("Added a webhook"),
    "messages.webhook_action": _l("Changed a webhook"), "merchant.staff": _l("Added a member of staff"),
    "merchant.staff_action": _l("Changed or removed a member of staff"), "merchant.invite_staff": _l("Invited a member to the staff"),
    "merchant.withdraw_invitation": _l("Withdrew a staff invitation"), "merchant.campaigns": _l("Set up a campaign"),
    "merchant.end_campaign": _l("Ended a campaign"), "merchant.logo": _l("Changed the logo"),
    "charity.merchant_matching": _l("Changed charity matching"),
}


def audit_action_label(action: str) -> str:
    return str(AUDIT_ACTIONS.get(action, action))


AUDIT_TARGETS = {
    "listing": _l("Listing"), "listing_image": _l("Listing image"), "api_key": _l("API key"),
    "purchase": _l("Purchase"), "purchase_refund": _l("Refund"), "order": _l("Order"), "order_line": _l("Order line"),
    "voucher": _l("Voucher"), "bill_payment": _l("Till payment"), "user": _l("Account"),
    "staff_invitation": _l("Staff invitation"), "merchant_campaign": _l("Campaign"), "merchant": _l("Merchant"),
    "webhook_endpoint": _l("Webhook"), "service_slot": _l("Booking time"), "stay_night": _l("Hotel night"),
    "ledger_transfer": _l("Points transfer"), "payment": _l("Payment"), "points_debt": _l("Points owed"),
    "engage_coupon": _l("Game coupon"), "charity_match_campaign": _l("Charity matching"),
}


def audit_target_label(table: str) -> str:
    return str(AUDIT_TARGETS.get(table, table))

"""Domain events: how one area reacts to what happened in another without importing it.

A service sends an event after its flush, inside the same transaction, with the session as sender
and plain data (ids, amounts, codes) as keywords:

    events.purchase_awarded.send(session, purchase_id=row.id, member_id=…, merchant_id=…, points=…)

Subscribers live in the reacting area's ``subscribers.py`` and are connected when the app is created
(``mall.register_subscribers``). A subscriber works in the sender's transaction: what it writes
commits or rolls back with the change that caused it, and a refusal it raises refuses the use case.
Nothing here imports an area; blinker is Flask's own signalling library.

The events, with what each carries:

=========================  ==========================================================================
``purchase_awarded``       purchase_id, member_id, merchant_id, points, green (a green item or amount),
                           items (list of {category, amount_fen, quantity, green}), occurred_at,
                           green_categories (the rule set's green category codes, a list)
``purchase_refunded``      purchase_id, refund_id, member_id, merchant_id, amount_fen, points_clawed,
                           total_fen, refunded_fen (refunded so far, this refund included)
``order_placed``           order_id, member_id, merchant_id, points, cash_fen
``order_fulfilled``        order_id, member_id, merchant_id
``order_cancelled``        order_id, member_id, merchant_id, by ("member"/"merchant"/"system"),
                           points_returned, compensation
``order_refunded``         order_id, member_id, merchant_id, points (given back; 0 for cash-only
                           units), cash_fen, refund_key (the refund's own key, unique per order) — refunding every unit left cancels the order, with no order_cancelled
``voucher_redeemed``       voucher_id, order_id, member_id, merchant_id
``profile_updated``        user_id
``member_deleting``        user_id, occurred_at — sent first when a member deletes their account: areas
                           release what the member shares (the family is left, its policy applied), so
                           that member_deleted finds every point the member holds in their own wallet
``member_deleted``         user_id, donate_to (project id or None), donation_token (the form's token,
                           or ""), occurred_at — every area erases its own data (charity first donates
                           the member's spendable points to donate_to); sent before the forfeit
``gift_sent``              gift_id, sender_id, recipient_id, points, sender_name, note (not sent again
                           for a replayed form)
``family_invitation_sent`` invitation_id, family_id, invitee_id (None for a link), family_name,
                           inviter_name, expires_at
``donation_made``          donation_id, donor_id, project_id, points, receipt_number, project_zh,
                           project_en, pledge (True for a pledge's) — every donation, a pledge's too
``pledge_collected``       pledge_id, donor_id, project_id, points, donation_id, month ("YYYY-MM"),
                           project_zh, project_en
``pledge_skipped``         pledge_id, donor_id, project_id, month, reason ("insufficient-points" or
                           "frozen"), project_zh, project_en; the pledge runner run again in the month
                           sends it again
``fraud_case_opened``      case_id, member_id
``fraud_case_resolved``    case_id, member_id, outcome ("upheld"/"reversed")
``points_expiring``        member_id, points, expires_at, days (the reminder's window: 30, 7…),
                           days_left — once per member, expiry instant and window (``flask points remind``)
``voucher_expiring``       voucher_id, order_id, member_id, title_zh, title_en, expires_at (once per voucher)
``birthday``               member_id, name, date ("YYYY-MM-DD", the day in Shanghai; once a year)
``bill_requested``         bill_id, member_id, merchant_id, points, bill_fen, points_fen, code (the
                           one-time code the member gives the till), expires_at
``merchant_application_decided`` application_id, applicant_id, outcome ("approved", "refused",
                           "needs_info"), reason, name_zh, name_en, merchant_id (None unless approved)
``staff_invitation_sent``  invitation_id, member_id, merchant_id, role ("manager"/"cashier") — an owner
                           invited a member by member code to the staff
=========================  ==========================================================================
"""
from blinker import Namespace

_events = Namespace()

purchase_awarded = _events.signal("purchase-awarded")
purchase_refunded = _events.signal("purchase-refunded")
order_placed = _events.signal("order-placed")
order_fulfilled = _events.signal("order-fulfilled")
order_cancelled = _events.signal("order-cancelled")
order_refunded = _events.signal("order-refunded")
voucher_redeemed = _events.signal("voucher-redeemed")
profile_updated = _events.signal("profile-updated")
member_deleting = _events.signal("member-deleting")
member_deleted = _events.signal("member-deleted")
gift_sent = _events.signal("gift-sent")
family_invitation_sent = _events.signal("family-invitation-sent")
donation_made = _events.signal("donation-made")
pledge_collected = _events.signal("pledge-collected")
pledge_skipped = _events.signal("pledge-skipped")
fraud_case_opened = _events.signal("fraud-case-opened")
fraud_case_resolved = _events.signal("fraud-case-resolved")
points_expiring = _events.signal("points-expiring")
voucher_expiring = _events.signal("voucher-expiring")
birthday = _events.signal("birthday")
merchant_application_decided = _events.signal("merchant-application-decided")
bill_requested = _events.signal("bill-requested")
staff_invitation_sent = _events.signal("staff-invitation-sent")

ALL = (purchase_awarded, purchase_refunded, order_placed, order_fulfilled, order_cancelled, order_refunded,
       voucher_redeemed, profile_updated, member_deleting, member_deleted, gift_sent, family_invitation_sent,
       donation_made, pledge_collected, pledge_skipped, fraud_case_opened, fraud_case_resolved, points_expiring,
       voucher_expiring, birthday, merchant_application_decided, bill_requested)

"""What the messages area sends when other areas' domain events happen (see mall.events).

Every subscriber runs in the transaction of the change: the in-app notice and the outbox rows commit
or roll back with it. Names are kept in both languages; the message is written in the reader's."""
from mall import events
from mall.clock import utcnow
from mall.coalition import service as coalition
from mall.messages import service


def _iso(value) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _merchant(session, merchant_id) -> dict:
    zh, en = coalition.get_names_for(session, merchant_id)
    return {"merchant_zh": zh, "merchant_en": en}


def on_points_expiring(session, *, member_id, points, expires_at, days, days_left, **_):
    if days > 7 >= days_left:  # first seen within a week: the 7-day reminder says it, once
        return
    service.post(session, "points_expiring", member_id,
                 {"points": points, "expires_at": _iso(expires_at), "days": days, "days_left": days_left},
                 cause=f"expiring:{days}:{_iso(expires_at)}")


def on_gift_sent(session, *, gift_id, recipient_id, points, sender_name="", note="", **_):
    service.post(session, "gift_received", recipient_id, {"points": points, "sender_name": sender_name, "note": note},
                 cause=f"gift:{gift_id}")


def on_family_invitation_sent(session, *, invitation_id, invitee_id=None, family_name="", inviter_name="",
                              expires_at=None, **_):
    if invitee_id is None:  # a link the head hands on themselves
        return
    service.post(session, "family_invitation", invitee_id,
                 {"family": family_name, "inviter_name": inviter_name, "expires_at": _iso(expires_at)},
                 cause=f"invitation:{invitation_id}")


def on_order_placed(session, *, order_id, merchant_id, points, cash_fen, member_id=None, **_):
    service.post_webhook(session, merchant_id, "order.placed",
                         {"order_id": order_id, "points": points, "cash_fen": cash_fen}, cause=f"order:{order_id}")


def on_order_fulfilled(session, *, order_id, member_id, merchant_id, **_):
    service.post(session, "order_fulfilled", member_id, {"order_id": order_id, **_merchant(session, merchant_id)},
                 cause=f"order:{order_id}")


def on_order_cancelled(session, *, order_id, member_id, merchant_id, by, points_returned=0, compensation=0, **_):
    service.post_webhook(session, merchant_id, "order.cancelled",
                         {"order_id": order_id, "by": by, "points_returned": points_returned,
                          "compensation": compensation}, cause=f"order:{order_id}")
    if by == "member":  # they know: they did it
        return
    service.post(session, "order_cancelled", member_id,
                 {"order_id": order_id, "by": by, "points_returned": points_returned, "compensation": compensation,
                  **_merchant(session, merchant_id)}, cause=f"order:{order_id}")


def on_order_refunded(session, *, order_id, member_id, merchant_id, points=0, cash_fen=0, refund_key="", **_):
    cause = f"order:{order_id}:{refund_key}"[:100]  # each partial refund is news
    service.post_webhook(session, merchant_id, "order.refunded",
                         {"order_id": order_id, "points": points, "cash_fen": cash_fen}, cause=cause)
    service.post(session, "order_refunded", member_id,
                 {"order_id": order_id, "points": points, **_merchant(session, merchant_id)}, cause=cause)


def on_purchase_refunded(session, *, purchase_id, refund_id, merchant_id, amount_fen, points_clawed, **_):
    service.post_webhook(session, merchant_id, "purchase.refunded",
                         {"purchase_id": purchase_id, "refund_id": refund_id, "amount_fen": amount_fen,
                          "points_clawed": points_clawed}, cause=f"refund:{refund_id}")


def on_voucher_redeemed(session, *, voucher_id, order_id, merchant_id, **_):
    service.post_webhook(session, merchant_id, "voucher.redeemed", {"voucher_id": voucher_id, "order_id": order_id},
                         cause=f"voucher:{voucher_id}")


def on_voucher_expiring(session, *, voucher_id, order_id, member_id, title_zh, title_en, expires_at, **_):
    service.post(session, "voucher_expiring", member_id,
                 {"order_id": order_id, "title_zh": title_zh, "title_en": title_en, "expires_at": _iso(expires_at)},
                 cause=f"voucher:{voucher_id}")


def on_donation_made(session, *, donation_id, donor_id, points, receipt_number, project_zh, project_en,
                     pledge=False, **_):
    if pledge:  # the pledge's own message says it
        return
    service.post(session, "donation_receipt", donor_id,
                 {"points": points, "receipt": receipt_number, "project_zh": project_zh, "project_en": project_en},
                 cause=f"donation:{donation_id}")


def on_pledge_collected(session, *, pledge_id, donor_id, points, month, project_zh, project_en, donation_id=None, **_):
    service.post(session, "pledge_collected", donor_id,
                 {"points": points, "month": month, "project_zh": project_zh, "project_en": project_en},
                 cause=f"pledge:{pledge_id}:{month}")


def on_pledge_skipped(session, *, pledge_id, donor_id, month, reason, project_zh, project_en, **_):
    service.post(session, "pledge_skipped", donor_id,
                 {"month": month, "reason": reason, "project_zh": project_zh, "project_en": project_en},
                 cause=f"pledge:{pledge_id}:{month}")


def on_fraud_case_opened(session, *, case_id, member_id, **_):
    service.post(session, "fraud_case_opened", member_id, {"case_id": case_id}, cause=f"case:{case_id}")


def on_fraud_case_resolved(session, *, case_id, member_id, outcome, **_):
    service.post(session, "fraud_case_resolved", member_id, {"case_id": case_id, "outcome": outcome},
                 cause=f"case:{case_id}")


def on_birthday(session, *, member_id, name, date, **_):
    service.post(session, "birthday", member_id, {"name": name}, cause=f"birthday:{date[:4]}")


def on_merchant_application_decided(session, *, application_id, applicant_id, outcome, reason, name_zh, name_en,
                                    **_):
    service.post(session, "merchant_application", applicant_id,
                 {"outcome": outcome, "reason": reason, "name_zh": name_zh, "name_en": name_en},
                 cause=f"application:{application_id}:{outcome}:{utcnow().timestamp():.0f}")


def on_bill_requested(session, *, bill_id, member_id, merchant_id, points, points_fen, code, expires_at, **_):
    service.post(session, "bill_code", member_id,
                 {"code": code, "points": points, "points_fen": points_fen, "expires_at": _iso(expires_at),
                  **_merchant(session, merchant_id)}, cause=f"bill:{bill_id}")


def on_staff_invitation_sent(session, *, invitation_id, member_id, merchant_id, role, **_):
    service.post(session, "staff_invitation", member_id, {"role": role, **_merchant(session, merchant_id)},
                 cause=f"staff-invitation:{invitation_id}")


def on_member_deleted(session, *, user_id, **_):
    service.erase_for(session, user_id)


def connect() -> None:
    """Connect this area's subscribers (called once by create_app; connecting twice is harmless)."""
    for signal, receiver in (
        (events.points_expiring, on_points_expiring), (events.gift_sent, on_gift_sent),
        (events.family_invitation_sent, on_family_invitation_sent), (events.order_placed, on_order_placed),
        (events.order_fulfilled, on_order_fulfilled), (events.order_cancelled, on_order_cancelled),
        (events.order_refunded, on_order_refunded), (events.purchase_refunded, on_purchase_refunded),
        (events.voucher_redeemed, on_voucher_redeemed), (events.voucher_expiring, on_voucher_expiring),
        (events.donation_made, on_donation_made), (events.pledge_collected, on_pledge_collected),
        (events.pledge_skipped, on_pledge_skipped), (events.fraud_case_opened, on_fraud_case_opened),
        (events.fraud_case_resolved, on_fraud_case_resolved), (events.birthday, on_birthday),
        (events.member_deleted, on_member_deleted),
        (events.merchant_application_decided, on_merchant_application_decided),
        (events.bill_requested, on_bill_requested),
        (events.staff_invitation_sent, on_staff_invitation_sent),
    ):
        signal.connect(receiver, weak=False)

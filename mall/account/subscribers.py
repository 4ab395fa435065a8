"""What the account area does when other areas' domain events happen (see mall.events)."""
from mall import events
from mall.account.models import User


def on_merchant_application_decided(session, *, applicant_id, outcome, merchant_id=None, **_):
    """An approved application's account becomes the new merchant's owner account (its staff)."""
    if outcome != "approved" or merchant_id is None:
        return
    user = session.get(User, applicant_id)
    user.role, user.merchant_id, user.merchant_role = "merchant", merchant_id, "owner"
    session.flush()


def connect() -> None:
    """Connect this area's subscribers (called once by create_app; connecting twice is harmless)."""
    events.merchant_application_decided.connect(on_merchant_application_decided, weak=False)

"""What the fraud area does when other areas' domain events happen (see mall.events)."""
from mall import events
from mall.fraud import service


def on_member_deleted(session, *, user_id, **_):
    """The deleted member's appeal statements are erased; the cases stay, as the ledger's do."""
    service.forget_member(session, user_id)


def connect() -> None:
    """Connect this area's subscribers (called once by create_app; connecting twice is harmless)."""
    events.member_deleted.connect(on_member_deleted, weak=False)

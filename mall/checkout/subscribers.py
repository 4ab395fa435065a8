"""What the checkout area does when other areas' domain events happen (see mall.events)."""
from mall import events
from mall.checkout import service


def on_member_deleted(session, user_id: int, **_) -> None:
    """The member's delivery details (names, phones, addresses on their orders) and cart go; the orders
    stay, nameless, because their points are ledger history."""
    service.forget(session, user_id)


def connect() -> None:
    """Connect this area's subscribers (called once by create_app; connecting twice is harmless)."""
    events.member_deleted.connect(on_member_deleted, weak=False)

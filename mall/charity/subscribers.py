"""What the charity area does when other areas' domain events happen (see mall.events)."""
from mall import events
from mall.charity import service


def on_member_deleted(session, *, user_id, donate_to=None, donation_token="", occurred_at=None, **_):
    """A deleted member's remaining points go to the project they chose; their pledges end and their
    name leaves the donor walls."""
    service.forget_donor(session, user_id, donate_to=donate_to, token=donation_token, now=occurred_at)


def connect() -> None:
    """Connect this area's subscribers (called once by create_app; connecting twice is harmless)."""
    events.member_deleted.connect(on_member_deleted, weak=False)

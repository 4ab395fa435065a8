"""What the family area does when other areas' domain events happen (see mall.events)."""
from mall import events
from mall.family import service


def on_member_deleting(session, *, user_id, occurred_at=None, **_):
    """A member deleting their account leaves their family first (the last member dissolves it), so
    what the leaving policy gives back is theirs to donate or forfeit."""
    service.leave_for_good(session, user_id, occurred_at)


def connect() -> None:
    """Connect this area's subscribers (called once by create_app; connecting twice is harmless)."""
    events.member_deleting.connect(on_member_deleting, weak=False)

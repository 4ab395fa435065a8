"""What the rules area does when other areas' domain events happen (see mall.events)."""
from sqlalchemy import delete

from mall import events
from mall.rules.models import ChannelLink


def on_member_deleted(session, *, user_id, **_):
    """A deleted member's linked cards and accounts are forgotten: their spending earns nothing more."""
    session.execute(delete(ChannelLink).where(ChannelLink.member_id == user_id))


def connect() -> None:
    """Connect this area's subscribers (called once by create_app; connecting twice is harmless)."""
    events.member_deleted.connect(on_member_deleted, weak=False)

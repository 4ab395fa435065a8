"""What the engage area does when other areas' domain events happen (see mall.events)."""
from mall import events
from mall.account.models import User
from mall.account.service import profile_complete
from mall.engage import games, reviews
from mall.engage.tasks import try_complete


def on_profile_updated(session, user_id: int, **_) -> None:
    """A profile with every optional field filled in completes the "profile" task, once."""
    user = session.get(User, user_id)
    if profile_complete(user):
        try_complete(session, user, "profile", "once")


def on_purchase_awarded(session, member_id: int, green: bool, **_) -> None:
    """A purchase with a green item or amount completes the "first green purchase" task, once."""
    if green:
        try_complete(session, session.get(User, member_id), "first_green_purchase", "once")


def on_member_deleted(session, user_id: int, **_) -> None:
    """The member's own words go (review texts, survey comments) and unused coupons are void; plays,
    completions and rewards stay, nameless, because they are ledger history."""
    reviews.forget(session, user_id)
    games.void_coupons(session, user_id)


def connect() -> None:
    """Connect this area's subscribers (called once by create_app; connecting twice is harmless)."""
    events.profile_updated.connect(on_profile_updated, weak=False)
    events.purchase_awarded.connect(on_purchase_awarded, weak=False)
    events.member_deleted.connect(on_member_deleted, weak=False)

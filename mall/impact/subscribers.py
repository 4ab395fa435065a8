"""What the impact area does when other areas' domain events happen (see mall.events)."""
from mall import events
from mall.checkout import service as checkout
from mall.impact import service as impact


def on_purchase_awarded(session, purchase_id: int, member_id: int, occurred_at, items, green_categories, **_) -> None:
    """Record the CO2e of the purchase's green lines at today's factors."""
    impact.record_purchase(session, purchase_id, member_id, occurred_at, items, green_categories)


def on_purchase_refunded(session, purchase_id: int, total_fen: int, refunded_fen: int, **_) -> None:
    """Keep the unrefunded share of the purchase's CO2e."""
    impact.purchase_refunded(session, purchase_id, total_fen, refunded_fen)


def on_order_changed(session, order_id: int, **_) -> None:
    """Record an order's green lines when placed; count refunded units and cancelled orders as nothing."""
    impact.sync_order(session, checkout.get_order(session, order_id))


def on_member_deleted(session, user_id: int, **_) -> None:
    """Every certificate link of the member stops working."""
    impact.forget(session, user_id)


def connect() -> None:
    """Connect this area's subscribers (called once by create_app; connecting twice is harmless)."""
    events.purchase_awarded.connect(on_purchase_awarded, weak=False)
    events.purchase_refunded.connect(on_purchase_refunded, weak=False)
    for event in (events.order_placed, events.order_cancelled, events.order_refunded):
        event.connect(on_order_changed, weak=False)
    events.member_deleted.connect(on_member_deleted, weak=False)

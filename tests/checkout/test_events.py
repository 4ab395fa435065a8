"""Checkout tells the other areas what happened through domain events (mall.events), with plain data."""
import pytest

from mall import events
from mall.checkout import service
from mall.errors import InsufficientPoints
from tests.builders import checkout_as, create_listing, make_merchant

LR = service.LineRequest


@pytest.fixture
def placed():
    """What a receiver of ``order_placed`` was sent: one dict of keywords per event."""
    received = []

    def receiver(_session, **data):
        received.append(data)

    events.order_placed.connect(receiver, weak=False)
    yield received
    events.order_placed.disconnect(receiver)


def test_a_receiver_gets_order_placed_once_per_order_with_plain_data(app, world, placed):
    member = world.member(points=5000)
    towel = world.listing(points_price=1000, stock=5)
    other = make_merchant(app, "other")
    soap = create_listing(app, other, points_price=None, mix_points=300, cash_fen=250, stock=5)
    order_ids, _ = checkout_as(app, member, [LR(towel), LR(soap, option="mix")], token="one-checkout")
    assert sorted(placed, key=lambda data: data["order_id"]) == [
        {"order_id": order_ids[0], "member_id": member, "merchant_id": world.merchant_id, "points": 1000, "cash_fen": 0},
        {"order_id": order_ids[1], "member_id": member, "merchant_id": other, "points": 300, "cash_fen": 250},
    ]
    checkout_as(app, member, [LR(towel), LR(soap, option="mix")], token="one-checkout")  # the same form again
    assert len(placed) == 2


def test_a_refused_checkout_sends_nothing(app, world, placed):
    member = world.member(points=500)
    item = world.listing(points_price=1700, stock=3)
    with pytest.raises(InsufficientPoints) as refused:
        checkout_as(app, member, [LR(item)])
    assert (refused.value.status, refused.value.params["needed"]) == (409, 1200)
    assert placed == []

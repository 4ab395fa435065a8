import secrets

import pytest

from mall.checkout import merchant_side
from mall.checkout import service as checkout
from mall.db import write
from mall.engage import budget, demo, games, tasks
from mall.engage.models import Game, GamePrize
from mall.extensions import db
from mall.coalition.models import Merchant
from tests.builders import World, checkout_as


class Rewards(World):
    """An operator, a funded game budget, the default tasks and games, and members with points."""

    def __init__(self, app):
        super().__init__(app, operator="op@example.com")
        with app.app_context(), write(db.session):
            tasks.ensure_default_tasks(db.session)
            demo.ensure_demo_games(db.session)

    def fund(self, points):
        with self.app.app_context(), write(db.session):
            budget.fund_budget(db.session, self.user(self.operator_id), points, "test funding", secrets.token_hex(6))

    def budget(self):
        with self.app.app_context():
            return budget.budget_balance(db.session)

    def game(self, slug="green-wheel"):
        with self.app.app_context():
            return next(g.id for g in games.games(db.session) if g.slug == slug)

    def make_game(self, prizes, cost=10, limit=100, slug="test"):
        """prizes: [(kind, weight, points)]"""
        with self.app.app_context(), write(db.session):
            game = Game(slug=slug, kind="wheel", name_zh="测试", name_en="Test", cost_points=cost, daily_limit=limit)
            db.session.add(game)
            db.session.flush()
            for i, (kind, weight, points) in enumerate(prizes):
                db.session.add(GamePrize(game_id=game.id, position=i, kind=kind, weight=weight, points=points,
                                         coupon_value_fen=500 if kind == "coupon" else 0,
                                         label_zh=f"奖{i}", label_en=f"Prize {i}"))
            return game.id

    def buy_groceries(self, user_id, green):
        """A reported 50-yuan grocery purchase, green or not."""
        return self.buy(user_id, [("grocery", green, 5000)])

    def fulfilled_order(self, user_id):
        """An order of a new 100-point listing, redeemed by the member and fulfilled by the merchant; its id."""
        listing = self.listing(points_price=100, title_en=f"Towel {secrets.token_hex(2)}")
        (order_id,), _ = checkout_as(self.app, user_id, [checkout.LineRequest(listing)])
        with self.app.app_context(), write(db.session):
            merchant_side.fulfil(db.session, db.session.get(Merchant, self.merchant_id), order_id)
        return order_id

    def play(self, user_id, game_id, free=False, token=None, rng=None):
        with self.app.app_context(), write(db.session):
            played = games.play(db.session, self.user(user_id), game_id, token=token or secrets.token_hex(8),
                                 free=free, rng=rng)
            return played.play.id


@pytest.fixture
def world(app):
    return Rewards(app)

import secrets

import pytest

from mall.account.models import User
from mall.db import write
from mall.engage import service as engage
from mall.engage.models import Game, GamePrize
from mall.extensions import db
from mall.ledger import service as ledger
from tests.conftest import assert_ledger_ok, make_merchant, make_user


class World:
    """An operator, a funded game budget, the default tasks and games, and members with points."""

    def __init__(self, app):
        self.app = app
        self.merchant_id = make_merchant(app, "shop")
        self.operator_id = make_user(app, "op@example.com", role="operator")
        with app.app_context(), write(db.session):
            engage.ensure_default_tasks(db.session)
            engage.ensure_demo_games(db.session)

    def user(self, user_id) -> User:
        return db.session.get(User, user_id)

    def member(self, email="m@example.com", points=10000, name=None):
        user_id = make_user(self.app, email, name=name)
        if points:
            with self.app.app_context(), write(db.session):
                issuance = ledger.open_account(db.session, "merchant", self.merchant_id, "issuance")
                ledger.transfer(db.session, issuance, ledger.member_account(db.session, user_id), points, "earn",
                                key=f"gift:{user_id}:{secrets.token_hex(4)}")
        return user_id

    def fund(self, points):
        with self.app.app_context(), write(db.session):
            engage.fund_budget(db.session, self.user(self.operator_id), points, "test funding", secrets.token_hex(6))

    def budget(self):
        with self.app.app_context():
            return engage.budget_balance(db.session)

    def balance(self, user_id):
        with self.app.app_context():
            return ledger.member_balance(db.session, user_id)

    def game(self, slug="green-wheel"):
        with self.app.app_context():
            return next(g.id for g in engage.games(db.session) if g.slug == slug)

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

    def play(self, user_id, game_id, free=False, token=None, rng=None):
        with self.app.app_context(), write(db.session):
            played = engage.play(db.session, self.user(user_id), game_id, token=token or secrets.token_hex(8),
                                 free=free, rng=rng)
            return played.play.id

    def verify(self):
        assert_ledger_ok(self.app)


@pytest.fixture
def world(app):
    return World(app)

import pytest

from mall.db import write
from mall.extensions import db
from mall.impact import service as impact
from tests.builders import World


class Impact(World):
    """A merchant that reports purchases, published CO2e factors, and members (with no points unless told)."""

    member_points = 0

    def __init__(self, app):
        super().__init__(app)
        with app.app_context(), write(db.session):
            impact.ensure_default_factors(db.session)

    def total(self, user_id):
        with self.app.app_context():
            return impact.member_total(db.session, user_id)

    def factor(self, key):
        with self.app.app_context():
            return impact.factors(db.session)[key].grams


@pytest.fixture
def world(app):
    return Impact(app)

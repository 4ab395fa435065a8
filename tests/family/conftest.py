import secrets

import pytest
from sqlalchemy import func, select

from mall.account.models import User
from mall.db import write
from mall.extensions import db
from mall.family import service as family
from mall.family.models import Family
from mall.ledger.models import Account
from tests.builders import World, checkout_as


class Household(World):
    """The shared World (a merchant, listings, members with points) plus family steps as services."""

    def run(self, user_id, action, *args, then=None, **kwargs):
        """Run one family use case as ``user_id`` in its own write transaction; return its result
        (or ``then(result)``, read while the session is still open)."""
        with self.app.app_context():
            with write(db.session):
                result = action(db.session, db.session.get(User, user_id), *args, **kwargs)
            return then(result) if then else result

    def family(self, head, *members, name="The Lins"):
        """A family with ``head`` and ``members`` who joined through code invitations."""
        family_id = self.run(head, family.create_family, name, then=lambda f: f.id)
        for user_id in members:
            self.join(head, user_id)
        return family_id

    def join(self, head, user_id):
        _invitation, token = self.run(head, family.invite, self.code(user_id))
        with self.app.app_context(), write(db.session):
            user = db.session.get(User, user_id)
            family.accept(db.session, user, family.invitation_by_token(db.session, user, token))

    def pay_from_pool(self, user_id, requests, token=None):
        """Redeem ``requests`` with points from the member's family pool; the order ids."""
        return checkout_as(self.app, user_id, requests, token, pay_token="", source="family")[0]

    def contribute(self, user_id, points, token=None):
        return self.run(user_id, family.contribute, points, token or secrets.token_hex(6), True, then=lambda t: t.id)

    def pool(self, family_id):
        with self.app.app_context():
            return family.pool_account(db.session, db.session.get(Family, family_id)).balance

    def supply(self):
        """Points held by all members and families: what gifts and pooling must never change."""
        with self.app.app_context():
            return int(db.session.scalar(select(func.sum(Account.balance)).where(
                Account.owner_kind.in_(("member", "family")))) or 0)


@pytest.fixture
def home(app):
    return Household(app)

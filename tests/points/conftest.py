"""Points for signed-in members: a merchant that awards them, and the mall that takes them."""
from datetime import datetime, timezone
from itertools import count

import pytest

from mall.db import write
from mall.extensions import db
from mall.ledger import service as ledger
from tests.conftest import make_merchant


def at(*parts) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


class Points:
    """Moves points for a user the way other areas will: through the ledger service, one use case each."""

    def __init__(self, app):
        self.app = app
        self.merchant_id = make_merchant(app, "lvlin")
        self.keys = count(1)

    def _post(self, debit, credit, points, kind, now, memo="", ref=None):
        with self.app.app_context(), write(db.session):
            posting = ledger.transfer(db.session, debit(db.session), credit(db.session), points, kind,
                                      key=f"test:{next(self.keys)}", memo=memo, ref=ref, now=now)
            return posting.transfer.id

    def earn(self, user_id, points, now, memo="", ref=None):
        return self._post(lambda s: ledger.find_account(s, "merchant", self.merchant_id, "issuance"),
                          lambda s: ledger.member_account(s, user_id), points, "earn", now, memo, ref)

    def redeem(self, user_id, points, now, memo=""):
        return self._post(lambda s: ledger.member_account(s, user_id),
                          lambda s: ledger.find_account(s, "merchant", self.merchant_id, "redemption"),
                          points, "redeem", now, memo)

    def balance(self, user_id):
        with self.app.app_context():
            return ledger.member_balance(db.session, user_id)


@pytest.fixture
def points(app):
    return Points(app)

import pytest

from mall.db import write
from mall.extensions import db
from mall.fraud import service as fraud
from tests.builders import World, make_user


class Console(World):
    """Two operators (the first is ``operator_id``), a merchant, and members who earned 500 and 300 there."""

    member_points = (500, 300)

    def __init__(self, app):
        super().__init__(app, operator="op1@example.com")
        self.op1 = self.operator_id
        self.op2 = make_user(app, "op2@example.com", role="operator")

    def call(self, fn, operator_id, *args, **kwargs):
        """Run a fraud service call as ``operator_id`` in one write transaction."""
        with self.app.app_context(), write(db.session):
            result = fn(db.session, self.user(operator_id), *args, **kwargs)
            return getattr(result, "id", result)

    def open_case(self, member_id, transfer_ids=(), upload=None, operator=None):
        return self.call(fraud.open_case, operator or self.op1, member_id, "Receipts reused at two tills.",
                         transfer_ids=transfer_ids, upload=upload, private_root=self.app.config["PRIVATE_ROOT"])


@pytest.fixture
def world(app):
    return Console(app)

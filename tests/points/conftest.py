"""Points for signed-in members: a merchant that awards them, and the mall that takes them."""
import pytest

from tests.builders import World


@pytest.fixture
def points(app):
    """Moves points for a user through the ledger service, one use case each (merchant "lvlin")."""
    return World(app, "lvlin")

"""Fixtures: a fresh, migrated database per test (SQLite by default, PostgreSQL when
MALL_TEST_DATABASE_URL is set), the app, a client, a CLI runner, signed-in roles and a ``world``.
The helpers they build with live in tests/builders.py."""
import os
import shutil

import pytest
from sqlalchemy import create_engine, text

from mall import create_app
from mall.config import TestingConfig
from mall.db import write
from mall.extensions import db
from tests.builders import Auth, World, make_merchant, make_user

PG_URL = os.environ.get("MALL_TEST_DATABASE_URL")
# Processes the tests start (gunicorn, the flask CLI) seal ledger rows with the tests' own key.
os.environ.setdefault("LEDGER_KEY", TestingConfig.LEDGER_KEY)


def _migrate(url: str) -> None:
    from flask_migrate import upgrade

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory):
    """Run the real Alembic migrations once; each test starts from a copy (SQLite) or a truncate (PG)."""
    if PG_URL:
        engine = create_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
        _migrate(PG_URL)
        return PG_URL
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    _migrate(f"sqlite:///{path}")
    return path


def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = [r[0] for r in conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname='public' AND tablename <> 'alembic_version'"))]
        conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def database_url(migrated_template, tmp_path):
    if PG_URL:
        _reset_postgres(PG_URL)
        return PG_URL
    target = tmp_path / "mall.sqlite3"
    shutil.copy(migrated_template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def app(database_url, tmp_path):
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url,
                      "RATELIMIT_ENABLED": False, "MEDIA_ROOT": str(tmp_path / "media"),
                      "PRIVATE_ROOT": str(tmp_path / "private"),
                      "LEDGER_CHECKPOINT_FILE": str(tmp_path / "ledger-checkpoints.jsonl"),
                      "PAYMENT_SANDBOX_URL": f"sqlite:///{tmp_path / 'payment-sandbox.sqlite3'}"})
    with app.app_context():
        from mall.ledger import service as ledger

        with write(db.session):
            ledger.ensure_system_accounts(db.session)
            _ensure_launch_rules()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    app.extensions["payment_gateway"].dispose()


def _ensure_launch_rules():
    """What migration 0002 seeds (a PostgreSQL reset truncates it): version 1 of the rules."""
    from datetime import datetime, timezone

    from sqlalchemy import select

    from mall.rules.engine import DEFAULT_RULES
    from mall.rules.models import RuleSet

    if db.session.scalar(select(RuleSet.id).where(RuleSet.version == 1)) is None:
        launch = datetime(2026, 1, 1, tzinfo=timezone.utc)
        db.session.add(RuleSet(version=1, status="published", effective_from=launch, document=DEFAULT_RULES,
                               note="Programme launch", created_at=launch, published_at=launch))


@pytest.fixture
def client(app):
    """A browser that prefers English, so assertions read in the source language; tests of the
    Chinese default use ``app.test_client()`` without the header."""
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def ctx(app):
    """An application context, for calling services directly."""
    with app.app_context():
        yield app


@pytest.fixture
def auth(client):
    return Auth(client)


@pytest.fixture
def world(app):
    """A merchant that awards points, and members who hold them (areas may override with a subclass)."""
    return World(app)


@pytest.fixture
def merchant_staff(app, auth):
    """A signed-in member of staff of the approved merchant "lvlin"; the merchant's id."""
    merchant_id = make_merchant(app, "lvlin")
    make_user(app, "staff@example.com", role="merchant", merchant_id=merchant_id)
    auth.login("staff@example.com")
    return merchant_id


@pytest.fixture
def member(app, auth):
    """A signed-in member."""
    user_id = make_user(app, "member@example.com", name="Lin")
    auth.login("member@example.com")
    return user_id


# --- Optional services: PostgreSQL, Redis, Chromium -------------------------------------------
# A test that needs one of them calls require_or_skip(...). Locally a missing service skips the
# test; with MALL_REQUIRE_ALL=1 (as .ci/run sets) the same test fails, so nothing is skipped silently.

REQUIRE_ALL = os.environ.get("MALL_REQUIRE_ALL") == "1"
POSTGRES_URL = PG_URL or os.environ.get("MALL_TEST_POSTGRES_URL",
                                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("MALL_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
CHROMIUM = os.environ.get("MALL_TEST_CHROMIUM", "/usr/bin/chromium")


def require_or_skip(condition, reason: str) -> None:
    """Skip the test unless ``condition`` holds; under MALL_REQUIRE_ALL=1 fail instead of skipping."""
    if condition:
        return
    if REQUIRE_ALL:
        pytest.fail(f"{reason} (MALL_REQUIRE_ALL=1: required services may not be missing)", pytrace=False)
    pytest.skip(reason)


def postgres_reachable(url: str = POSTGRES_URL) -> bool:
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


def redis_reachable(url: str = REDIS_URL) -> bool:
    try:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        client.ping()
        client.close()
        return True
    except Exception:
        return False


@pytest.fixture
def redis_db():
    """The test Redis database (MALL_TEST_REDIS_URL), flushed before and after the test."""
    require_or_skip(redis_reachable(REDIS_URL), f"Redis is not reachable at {REDIS_URL}")
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()


def chromium_available() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return os.access(CHROMIUM, os.X_OK)

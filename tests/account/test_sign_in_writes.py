"""Nothing slow inside a write (issue 16, item 5): argon2 runs before any write transaction, and
sign-in writes only when it must store something (an upgraded hash), briefly."""
from contextlib import contextmanager

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from mall import db as mall_db
from mall.account import service as accounts
from mall.account.models import User
from mall.extensions import db
from tests.builders import PASSWORD, Auth, csrf_token, make_user


@pytest.fixture
def writes(monkeypatch):
    """Every write transaction opened (``mall.db.write``), and a check that argon2 never runs inside one."""
    opened, inside = [], []
    real_write = mall_db.write

    @contextmanager
    def watched(session):
        opened.append(1)
        inside.append(1)
        try:
            with real_write(session) as s:
                yield s
        finally:
            inside.pop()

    def outside(method):
        def check(self, *args, **kwargs):
            assert not inside, f"argon2 {method.__name__} ran inside a write transaction"
            return method(self, *args, **kwargs)
        return check

    monkeypatch.setattr(mall_db, "write", watched)
    monkeypatch.setattr(PasswordHasher, "hash", outside(PasswordHasher.hash))
    monkeypatch.setattr(PasswordHasher, "verify", outside(PasswordHasher.verify))
    return opened


def stored_hash(app, email="ada@example.com") -> str:
    with app.app_context():
        return db.session.scalar(select(User.password_hash).where(User.email == email))


def test_sign_in_opens_no_write_when_nothing_changes(app, auth, writes):
    make_user(app, "ada@example.com")
    before = stored_hash(app)
    writes.clear()
    assert auth.login().status_code == 302
    assert auth.login(password="not-the-password").status_code == 422
    assert writes == []  # a read only, both times
    assert stored_hash(app) == before


def test_an_outdated_hash_is_upgraded_in_one_short_write(app, auth, writes):
    make_user(app, "ada@example.com")
    old = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1).hash(PASSWORD)
    with app.app_context(), mall_db.write(db.session):
        db.session.scalar(select(User).where(User.email == "ada@example.com")).password_hash = old
    writes.clear()
    assert auth.login().status_code == 302
    assert len(writes) == 1
    upgraded = stored_hash(app)
    assert upgraded != old and not accounts._hasher(True).check_needs_rehash(upgraded)
    assert Auth(app.test_client()).login().status_code == 302


def test_an_upgrade_never_overwrites_a_password_changed_meanwhile(app):
    user_id = make_user(app, "ada@example.com")
    with app.app_context(), mall_db.write(db.session):
        user = db.session.get(User, user_id)
        accounts.store_rehash(db.session, user, "$argon2id$stale", "$argon2id$not-the-stored-hash")
    assert stored_hash(app).startswith("$argon2id$v=")


def test_registration_and_password_change_hash_outside_the_write(app, auth, client, writes):
    assert auth.register().status_code == 302
    response = client.post("/account/password", data={
        "current": PASSWORD, "password": "a-brand-new-pass", "confirm": "a-brand-new-pass",
        "csrf_token": csrf_token(client, "/account/password")})
    assert response.status_code == 302
    assert Auth(app.test_client()).login(password="a-brand-new-pass").status_code == 302


def test_a_password_change_checked_against_a_stale_password_is_refused(app):
    user_id = make_user(app, "ada@example.com")
    with app.app_context():
        user = db.session.get(User, user_id)
        first = accounts.check_password_change(db.session, user, PASSWORD, "first-new-password")
        second = accounts.check_password_change(db.session, user, PASSWORD, "second-new-password")
        with mall_db.write(db.session):
            accounts.change_password(db.session, user, first)
        with pytest.raises(accounts.DomainError), mall_db.write(db.session):
            accounts.change_password(db.session, user, second)
    assert Auth(app.test_client()).login(password="first-new-password").status_code == 302

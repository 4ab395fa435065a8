"""Rule-set versions: drafted by an operator, published for a future instant, applied from then."""
import copy
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from mall.account.models import User
from mall.db import write
from mall.errors import DomainError
from mall.extensions import db
from mall.coalition.models import Merchant
from mall.rules import service as rules
from tests.builders import Auth, make_merchant, make_user


@pytest.fixture
def operator(app):
    return make_user(app, "op@example.com", role="operator")


def doubled_base():
    doc = copy.deepcopy(rules.rule_set_at(db.session, datetime.now(timezone.utc)).document)
    doc["base"]["points_per_yuan"] = "2"
    return doc


def test_publication_must_be_in_the_future(ctx, operator):
    now = datetime.now(timezone.utc)
    with write(db.session):
        op = db.session.get(User, operator)
        draft = rules.save_draft(db.session, op, doubled_base(), "double base")
        draft_id = draft.id
    with pytest.raises(DomainError, match="future"), write(db.session):
        rules.publish(db.session, db.session.get(User, operator), draft_id, now - timedelta(seconds=1), now=now)
    with pytest.raises(DomainError), write(db.session):
        rules.publish(db.session, db.session.get(User, operator), draft_id, now, now=now)
    assert rules.get_rule_set(db.session, draft_id).status == "draft"


def test_non_operator_cannot_draft(ctx):
    member = make_user(ctx, "m@example.com")
    with pytest.raises(DomainError), write(db.session):
        rules.save_draft(db.session, db.session.get(User, member), doubled_base())


def test_version_switches_exactly_at_the_effective_instant(ctx, operator):
    shop_id = make_merchant(ctx)
    member_id = make_user(ctx, "buyer@example.com")
    now = datetime(2026, 11, 20, 0, 0, tzinfo=timezone.utc)
    switch = now + timedelta(days=1)
    with write(db.session):
        op = db.session.get(User, operator)
        draft = rules.save_draft(db.session, op, doubled_base(), "double base")
        published = rules.publish(db.session, op, draft.id, switch, now=now)
        assert published.version == 2
    assert rules.rule_set_at(db.session, switch - timedelta(microseconds=1)).version == 1
    assert rules.rule_set_at(db.session, switch).version == 2
    code = db.session.get(User, member_id).member_code
    shop = db.session.get(Merchant, shop_id)

    def quote_at(at):
        doc = {"member_code": code, "total_fen": 10000, "occurred_at": at.isoformat(),
               "items": [{"category": "grocery", "amount_fen": 10000}]}
        return rules.quote(db.session, shop, rules.parse_purchase(doc, now=switch + timedelta(minutes=1)))

    before, after = quote_at(switch - timedelta(seconds=1)), quote_at(switch)
    assert (before.award.points, before.rule_set.version) == (100, 1)
    assert (after.award.points, after.rule_set.version) == (200, 2)


def test_published_versions_cannot_be_edited(ctx, operator):
    now = datetime.now(timezone.utc)
    with write(db.session):
        op = db.session.get(User, operator)
        draft = rules.save_draft(db.session, op, doubled_base())
        rules.publish(db.session, op, draft.id, now + timedelta(hours=1), now=now)
        draft_id = draft.id
    with pytest.raises(DomainError), write(db.session):
        rules.save_draft(db.session, db.session.get(User, operator), doubled_base(), draft_id=draft_id)


def test_birthday_bonus_once_a_year(ctx):
    from datetime import date

    shop = db.session.get(Merchant, make_merchant(ctx))
    member_id = make_user(ctx, "bday@example.com")
    now = datetime.now(timezone.utc)
    with write(db.session):
        member = db.session.get(User, member_id)
        member.birthday = date(1990, now.astimezone(rules.SHANGHAI).month, 1)
        code = member.member_code
    doc = {"member_code": code, "total_fen": 1000, "items": [{"category": "grocery", "amount_fen": 1000}]}
    with write(db.session):
        first = rules.award_purchase(db.session, db.session.merge(shop), rules.parse_purchase(doc))
        first_points = first.points
    with write(db.session):
        second = rules.award_purchase(db.session, db.session.merge(shop), rules.parse_purchase(doc))
        second_points = second.points
    assert first_points == 210
    assert second_points == 10


def test_no_points_for_signing_up(client, app):
    Auth(client).register(email="new@example.com")
    from mall.ledger import service as ledger

    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "new@example.com"))
        assert ledger.member_balance(db.session, user.id) == 0

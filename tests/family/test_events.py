"""The family area's domain events: sent once, with plain data, after the change and never for a
refusal; and what the area does when a member deletes their account (``member_deleting``)."""
import pytest

from mall import events
from mall.db import write
from mall.errors import DomainError, NotFound
from mall.extensions import db
from mall.family import service as family
from mall.models import utcnow


def test_a_gift_sends_gift_sent_once(app, home):
    a, b = home.member("a@example.com", 3000), home.member("b@example.com", 0)
    home.family(a, b)
    got = []
    with events.gift_sent.connected_to(lambda session, **data: got.append(data)):
        with pytest.raises(DomainError, match="that many points"):
            home.run(a, family.gift_points, home.code(b), 3001, "too-many")
        assert got == []
        gift_id = home.run(a, family.gift_points, home.code(b), 700, "g1", then=lambda gift: gift.id)
        home.run(a, family.gift_points, home.code(b), 700, "g1")  # a double submit: one gift, one event
    assert got == [{"gift_id": gift_id, "sender_id": a, "recipient_id": b, "points": 700, "sender_name": "a",
                    "note": ""}]


def test_an_invitation_sends_family_invitation_sent_once(app, home):
    head, kid = home.member("head@example.com", 0), home.member("kid@example.com", 0)
    family_id = home.family(head)
    got = []
    with events.family_invitation_sent.connected_to(lambda session, **data: got.append(data)):
        with pytest.raises(DomainError, match="No member has this member code"):
            home.run(head, family.invite, "NOSUCHCODE")
        with pytest.raises(NotFound):  # not in a family
            home.run(kid, family.invite, "")
        assert got == []
        by_code = home.run(head, family.invite, home.code(kid), then=lambda made: made[0].id)
        by_link = home.run(head, family.invite, "", then=lambda made: made[0].id)
    assert [{k: v for k, v in d.items() if k in ("invitation_id", "family_id", "invitee_id")} for d in got] == [
        {"invitation_id": by_code, "family_id": family_id, "invitee_id": kid},
        {"invitation_id": by_link, "family_id": family_id, "invitee_id": None}]
    assert {d["inviter_name"] for d in got} == {"head"} and all(d["expires_at"] and d["family_name"] for d in got)


def deleting(app, user_id):
    """What account deletion sends first, in one transaction."""
    with app.app_context(), write(db.session):
        events.member_deleting.send(db.session, user_id=user_id, occurred_at=utcnow())


def test_a_member_deleting_their_account_leaves_under_the_policy(app, home, monkeypatch):
    monkeypatch.setitem(app.config, "FAMILY_LEAVE_POLICY", "return")
    head, kid = home.member("head@example.com", 1000), home.member("kid@example.com", 1000)
    family_id = home.family(head, kid)
    home.contribute(kid, 700)
    home.contribute(head, 100)
    deleting(app, kid)
    assert home.balance(kid) == 1000 and home.pool(family_id) == 100  # the unspent contribution came back
    with pytest.raises(NotFound):
        home.run(kid, family.get_family_for)
    home.verify()


def test_the_last_member_deleting_their_account_dissolves_the_family(app, home):
    head = home.member("head@example.com", 1000)
    family_id = home.family(head)
    home.contribute(head, 600)
    deleting(app, head)
    assert home.balance(head) == 1000 and home.pool(family_id) == 0
    with pytest.raises(NotFound):
        home.run(head, family.get_family_for)
    deleting(app, home.member("loner@example.com", 0))  # no family: nothing to do
    home.verify()


def test_a_head_with_members_cannot_delete_their_account_yet(app, home):
    head, kid = home.member("head@example.com", 0), home.member("kid@example.com", 0)
    home.family(head, kid)
    with pytest.raises(DomainError, match="Hand over the head role"):
        deleting(app, head)
    assert home.run(head, family.get_family_for, then=lambda found: found[1].role) == "head"

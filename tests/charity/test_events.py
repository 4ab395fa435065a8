"""The charity area's domain events: sent once, with plain data, after the change and never for a
refusal; and what the area does when a member deletes their account (``member_deleted``)."""
import pytest

from mall import events
from mall.charity import service
from mall.charity.models import Pledge
from mall.db import write
from mall.errors import Conflict, InsufficientPoints
from mall.extensions import db
from mall.ledger import service as ledger
from mall.models import utcnow


def pledge(app, world, member, project, points, anonymous=False):
    with app.app_context(), write(db.session):
        return service.pledge_monthly(db.session, world.user(member), project, points, anonymous=anonymous).id


def test_a_donation_sends_donation_made_once(app, world):
    member = world.member(points=1000)
    project = world.project()
    got = []
    with events.donation_made.connected_to(lambda session, **data: got.append(data)):
        with pytest.raises(InsufficientPoints):
            world.donate(member, project, 1001)
        assert got == []
        donation_id = world.donate(member, project, 300, token="same")
        world.donate(member, project, 300, token="same")  # a double submit: one donation, one event
    assert [without_names(d) for d in got] == [{"donation_id": donation_id, "donor_id": member, "project_id": project,
                                                "points": 300, "pledge": False}]
    assert got[0]["receipt_number"] and got[0]["project_zh"] and got[0]["project_en"]


def without_names(data: dict) -> dict:
    """An event's ids and figures, without the names it carries for messages (and a receipt's number)."""
    return {k: v for k, v in data.items() if k not in ("project_zh", "project_en", "receipt_number")}


def test_a_collected_pledge_sends_pledge_collected_once(app, world):
    member = world.member(points=1000)
    project = world.project()
    pledge_id = pledge(app, world, member, project, 300)
    collected, donated = [], []
    with events.pledge_collected.connected_to(lambda session, **data: collected.append(data)), \
            events.donation_made.connected_to(lambda session, **data: donated.append(data)):
        for _ in range(2):  # the runner run twice in a month collects once
            with app.app_context(), write(db.session):
                service.collect_pledge(db.session, pledge_id, "2026-11")
    [donation] = world.donations(pledge_id=pledge_id)
    assert [without_names(d) for d in collected] == [{"pledge_id": pledge_id, "donor_id": member, "project_id": project, "points": 300,
                          "donation_id": donation.id, "month": "2026-11"}]
    assert [d["donation_id"] for d in donated] == [donation.id]


def test_a_skipped_pledge_sends_pledge_skipped_with_its_reason(app, world):
    short, frozen = world.member("s@example.com", points=100), world.member("f@example.com", points=1000)
    project = world.project()
    short_pledge, frozen_pledge = pledge(app, world, short, project, 300), pledge(app, world, frozen, project, 300)
    with app.app_context(), write(db.session):
        ledger.set_frozen(db.session, ledger.member_account(db.session, frozen), True)
    skipped, collected = [], []
    with events.pledge_skipped.connected_to(lambda session, **data: skipped.append(data)), \
            events.pledge_collected.connected_to(lambda session, **data: collected.append(data)):
        with app.app_context(), write(db.session):
            service.collect_pledge(db.session, short_pledge, "2026-11")
        with app.app_context(), write(db.session):
            service.collect_pledge(db.session, frozen_pledge, "2026-11")
    assert all(d["project_zh"] and d["project_en"] for d in skipped)
    assert [without_names(d) for d in skipped] == [
        {"pledge_id": short_pledge, "donor_id": short, "project_id": project, "month": "2026-11",
         "reason": "insufficient-points"},
        {"pledge_id": frozen_pledge, "donor_id": frozen, "project_id": project, "month": "2026-11",
         "reason": "frozen"}]
    assert collected == []


def deleted(app, user_id, donate_to=None, token=""):
    """What account deletion sends, in one transaction."""
    with app.app_context(), write(db.session):
        events.member_deleted.send(db.session, user_id=user_id, donate_to=donate_to, donation_token=token,
                                   occurred_at=utcnow())


def test_a_deleted_members_points_go_to_the_chosen_project_and_their_name_goes(app, world):
    member = world.member("me@example.com", points=800, name="林小绿")
    project = world.project()
    world.donate(member, project, 300)
    pledge_id = pledge(app, world, member, project, 100)
    deleted(app, member, donate_to=project, token="form-token")
    assert world.balance(member) == 0 and world.held(project) == 800
    donations = world.donations(donor_id=member)
    assert [(d.points, d.public_name) for d in donations] == [(300, None), (500, None)]
    assert donations[1].token == "form-token"
    with app.app_context():
        assert db.session.get(Pledge, pledge_id).status == "cancelled"
    world.verify()


def test_without_a_chosen_project_nothing_is_donated(app, world):
    member = world.member("me@example.com", points=800)
    project = world.project()
    pledge_id = pledge(app, world, member, project, 100)
    deleted(app, member)
    assert world.balance(member) == 800 and world.donations() == []
    with app.app_context():
        assert db.session.get(Pledge, pledge_id).status == "cancelled"


def test_a_project_that_no_longer_accepts_donations_refuses_the_deletion(app, world):
    member = world.member("me@example.com", points=800)
    project = world.project(starts=-30, ends=-1)
    with pytest.raises(Conflict, match="not accepting"):
        deleted(app, member, donate_to=project)
    assert world.balance(member) == 800 and world.donations() == []

"""Personal data rights: the export holds the member's data and no one else's; deletion erases
personal fields, forfeits or donates the points, and leaves the ledger verifiable."""
import io
import json
import zipfile

from mall.account import service as accounts
from mall.account.models import User
from mall.db import write
from mall.extensions import db
from mall.ledger import service as ledger
from mall.ledger.models import Transfer
from tests.builders import PASSWORD, Auth, csrf_token


def _profile(app, user_id, name, phone):
    with app.app_context(), write(db.session):
        user = db.session.get(User, user_id)
        accounts.update_profile(db.session, user, display_name=name, phone=phone, birthday=None)
        accounts.notify(db.session, user_id, "points_expiring", {"points": 10, "expires_at": "2027-01-01T00:00:00+00:00"})
        return user.member_code


def test_export_contains_the_members_data_and_no_one_elses(app, world):
    me = world.member("me@example.com", points=(500, 300))
    other = world.member("other@example.com", points=(777,))
    my_code = _profile(app, me, "林小绿", "13912345678")
    other_code = _profile(app, other, "王大明", "13800000000")
    client = world.client_for("me@example.com")
    response = client.get("/account/data/export.zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    names = set(archive.namelist())
    assert {"data.json", "csv/profile.csv", "csv/points_statement.csv", "csv/notification.csv"} <= names
    data = json.loads(archive.read("data.json"))
    assert data["profile"][0]["member_code"] == my_code and data["profile"][0]["phone"] == "13912345678"
    assert sorted(r["points"] for r in data["points_statement"]) == [300, 500]
    assert all(r["user_id"] == me for r in data["notification"])
    everything = b"".join(archive.read(n) for n in names).decode("utf-8")
    for foreign in (other_code, "王大明", "13800000000", "other@example.com"):
        assert foreign not in everything
    assert "password" not in everything and "session_token" not in everything


def test_deletion_erases_personal_fields_and_keeps_the_ledger_verifiable(app, world, runner):
    me = world.member("me@example.com", points=(500, 300))
    code = _profile(app, me, "林小绿", "13912345678")
    client = world.client_for("me@example.com")
    token = csrf_token(client, "/account/data")
    form = {"password": "wrong password", "remaining": "forfeit", "confirm": "y", "csrf_token": token}
    assert client.post("/account/delete", data=form).status_code == 422
    assert client.post("/account/delete", data={**form, "password": PASSWORD, "confirm": ""}).status_code == 422
    assert world.balance(me) == 800
    response = client.post("/account/delete", data={**form, "password": PASSWORD})
    assert response.status_code == 303
    assert client.get("/account").status_code == 302  # signed out everywhere

    with app.app_context():
        user = db.session.get(User, me)
        assert user.deleted_at is not None
        row = {k: getattr(user, k) for k in ("email", "display_name", "phone", "birthday", "member_code")}
        for value in row.values():
            assert value is None or not any(p in str(value) for p in ("me@example.com", "林小绿", "13912345678", code))
        assert accounts.search_members(db.session, "13912345678") == []
        assert accounts.authenticate(db.session, "me@example.com", PASSWORD) is None
        forfeit = db.session.scalars(db.select(Transfer).where(Transfer.kind == "forfeit")).one()
        assert forfeit.amount == 800 and ledger.member_balance(db.session, me) == 0
        assert ledger.system_account(db.session, "forfeit").balance == 800
    result = runner.invoke(args=["ledger", "verify"])
    assert result.exit_code == 0, result.output
    import re

    page = app.test_client().get("/transparency").get_data(as_text=True)  # the forfeiture account is public
    assert re.search(r'id="stat-forfeited">.*?<strong>800</strong>', page, re.S)
    # the same e-mail address can start afresh

    fresh = app.test_client()
    assert Auth(fresh).register("me@example.com").status_code == 302


def test_deletion_can_donate_the_points_first(app, world):
    from mall.charity.models import Donation

    world.member("me@example.com", points=(500,))
    project = world.project()
    client = world.client_for("me@example.com")
    page = client.get("/account/data").get_data(as_text=True)
    assert "Reading corners" in page
    response = client.post("/account/delete", data={"password": PASSWORD, "remaining": "donate", "project": project,
                                                    "confirm": "y", "csrf_token": csrf_token(client, "/account/data")})
    assert response.status_code == 303
    with app.app_context():
        donation = db.session.scalars(db.select(Donation)).one()
        assert (donation.points, donation.public_name) == (500, None)
        assert db.session.scalar(db.select(db.func.count(Transfer.id)).where(Transfer.kind == "forfeit")) == 0
    world.verify()


def test_a_family_head_with_members_must_hand_over_first(app, world):
    from mall.family import service as family

    head = world.member("head@example.com", points=(100,))
    kid = world.member("kid@example.com", points=())
    with app.app_context(), write(db.session):
        family.create_family(db.session, world.user(head), "林家")
        _, token = family.invite(db.session, world.user(head))
        family.accept(db.session, world.user(kid), family.invitation_by_token(db.session, world.user(kid), token))
    client = world.client_for("head@example.com")
    page = client.get("/account/data").get_data(as_text=True)
    assert "hand the role over" in page and 'action="/account/delete"' not in page
    response = client.post("/account/delete", data={"password": PASSWORD, "remaining": "forfeit", "confirm": "y",
                                                    "csrf_token": csrf_token(client, "/account/data")})
    assert response.status_code == 422 and world.balance(head) == 100


def test_privacy_page_lists_what_is_collected(client):
    page = client.get("/privacy").get_data(as_text=True)
    for item in ("E-mail address", "Mobile number", "Date of birth", "Delivery address", "Download", "Delete"):
        assert item in page

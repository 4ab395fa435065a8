"""Family pages over HTTP: what members see, what others cannot, HTMX fragments and plain posts."""
import re

from mall.family import service as family
from tests.builders import Auth, csrf_token

HX = {"HX-Request": "true"}


def token_in(html, name="token"):
    return re.search(rf'name="{name}" type="hidden" value="([^"]+)"', html).group(1)


def test_create_invite_accept_contribute_over_http(app, client, home):
    _head, kid = home.member("head@example.com", 5000), home.member("kid@example.com", 2000)
    auth = Auth(client)
    auth.login("head@example.com")
    page = client.get("/family/").get_data(as_text=True)
    assert "Start a family" in page and "stay in the pool" in page  # the policy is published up front
    response = client.post("/family/", data={"csrf_token": csrf_token(client, "/family/"), "name": "The Lins"})
    assert response.status_code == 303
    page = client.get("/family/").get_data(as_text=True)
    assert "The Lins" in page and 'id="pool"' in page
    # HTMX invite by code: the members fragment comes back with the one-time link
    fragment = client.post("/family/invitations", headers=HX,
                           data={"csrf_token": csrf_token(client, "/family/"), "member_code": home.code(kid)})
    assert fragment.status_code == 200 and "<html" not in fragment.get_data(as_text=True)
    link = re.search(r'id="invite-link">([^<]+)<', fragment.get_data(as_text=True)).group(1)
    path = link.split("localhost", 1)[1]
    auth.logout()
    auth.login("kid@example.com")
    page = client.get("/family/").get_data(as_text=True)
    assert "The Lins" in page and "Accept" in page  # the code invitation is listed for the invitee
    join = client.get(path)
    assert join.status_code == 200 and "invites you" in join.get_data(as_text=True)
    accepted = client.post(path + "/accept", data={"csrf_token": csrf_token(client, path)})
    assert accepted.status_code == 303
    again = client.get(path)
    assert again.status_code == 409  # the link works once
    # contribute with HTMX: the pool fragment shows the new balance in place
    page = client.get("/family/").get_data(as_text=True)
    fragment = client.post("/family/contribute", headers=HX, data={
        "csrf_token": csrf_token(client, "/family/"), "token": token_in(page), "points": "1500", "consent": "y"})
    html = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and 'id="pool-balance">1,500<' in html and "<html" not in html
    # without consent nothing moves and the fragment says why
    fragment = client.post("/family/contribute", headers=HX, data={
        "csrf_token": csrf_token(client, "/family/"), "token": "other", "points": "100"})
    assert "Tick the box" in fragment.get_data(as_text=True)
    assert home.balance(kid) == 500
    # goal progress
    fragment = client.post("/family/goal", headers=HX, data={
        "csrf_token": csrf_token(client, "/family/"), "goal_name": "Sanya hotel night", "goal_points": "3000"})
    html = fragment.get_data(as_text=True)
    assert "Sanya hotel night" in html and 'id="goal-progress" max="3000" value="1500"' in html
    pool = client.get("/family/pool", headers=HX)
    assert "HX-Request" in pool.headers["Vary"] and "<html" not in pool.get_data(as_text=True)
    home.verify()


def test_non_members_get_404_and_head_only_pages(app, client, home):
    head, kid = home.member("head@example.com", 1000), home.member("kid@example.com", 0)
    home.member("x@example.com", 0)
    home.family(head, kid)
    auth = Auth(client)
    auth.login("x@example.com")
    token = csrf_token(client, "/family/")
    for path in ("/family/pool", "/family/leave", "/family/dissolve", f"/family/members/{kid}/remove"):
        assert client.get(path).status_code == 404, path
    for path in ("/family/contribute", "/family/goal", "/family/invitations", f"/family/members/{kid}/rights",
                 "/family/leave"):
        assert client.post(path, data={"csrf_token": token, "points": "1", "consent": "y"}).status_code == 404, path
    auth.logout()
    auth.login("kid@example.com")
    assert client.get("/family/dissolve").status_code == 404
    assert client.get(f"/family/members/{head}/remove").status_code == 404
    response = client.post(f"/family/members/{kid}/rights", headers=HX,
                           data={"csrf_token": csrf_token(client, "/family/"), "can_redeem": "y"})
    assert "Only the head" in response.get_data(as_text=True)
    with app.app_context():
        from mall.extensions import db
        from mall.family.models import FamilyMember

        assert not db.session.query(FamilyMember).filter_by(user_id=kid).one().can_redeem


def test_forms_need_csrf(app, client, home):
    home.member("head@example.com", 1000)
    Auth(client).login("head@example.com")
    assert client.post("/family/", data={"name": "No token"}).status_code == 400


def test_removed_member_loses_access_at_once(app, client, home):
    head, kid = home.member("head@example.com", 0), home.member("kid@example.com", 0)
    home.family(head, kid)
    Auth(client).login("kid@example.com")
    assert "Family pool" in client.get("/family/").get_data(as_text=True)
    home.run(head, family.remove_member, kid)
    assert client.get("/family/pool").status_code == 404
    assert "Start a family" in client.get("/family/").get_data(as_text=True)


def test_leave_and_dissolve_show_the_policy_before_confirming(app, client, home):
    head, kid = home.member("head@example.com", 1000), home.member("kid@example.com", 1000)
    fid = home.family(head, kid)
    home.contribute(head, 600)
    home.contribute(kid, 200)
    auth = Auth(client)
    auth.login("kid@example.com")
    page = client.get("/family/leave").get_data(as_text=True)
    assert "stay in the pool" in page
    assert client.post("/family/leave", data={"csrf_token": csrf_token(client, "/family/leave")}).status_code == 303
    assert home.pool(fid) == 800
    auth.logout()
    auth.login("head@example.com")
    page = client.get("/family/dissolve").get_data(as_text=True)
    assert "pro rata" in page and "800" in page
    response = client.post("/family/dissolve", data={"csrf_token": csrf_token(client, "/family/dissolve")})
    assert response.status_code == 303
    assert home.balance(head) == 400 + 800 and home.pool(fid) == 0
    home.verify()


def test_gift_confirmation_shows_name_and_masked_code(app, client, home):
    a, b = home.member("a@example.com", 3000), home.member("b@example.com", 0)
    home.family(a, b)
    Auth(client).login("a@example.com")
    page = client.get("/family/gift").get_data(as_text=True)
    token = token_in(page)
    code = home.code(b)
    confirm = client.post("/family/gift", data={"csrf_token": csrf_token(client, "/family/gift"), "token": token,
                                                "recipient": code, "points": "700"})
    html = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and 'id="gift-recipient">b<' in html
    assert code[:2] + "****" + code[-2:] in html and home.balance(a) == 3000  # nothing moved yet
    data = {"csrf_token": csrf_token(client, "/family/gift"), "token": token, "recipient": code, "points": "700"}
    assert client.post("/family/gift/send", data=data).status_code == 303
    assert client.post("/family/gift/send", data=data).status_code == 303  # a double submit sends once
    assert home.balance(a) == 2300 and home.balance(b) == 700
    refused = client.post("/family/gift", data={"csrf_token": csrf_token(client, "/family/gift"), "token": "t",
                                                "recipient": home.code(a), "points": "5"}, follow_redirects=True)
    assert "yourself" in refused.get_data(as_text=True)
    home.verify()


def test_checkout_offers_the_pool_only_to_allowed_members(app, client, home):
    head, kid = home.member("head@example.com", 1000), home.member("kid@example.com", 50)
    fid = home.family(head, kid)
    home.contribute(head, 1000)
    item = home.listing(points_price=300, stock=5)
    auth = Auth(client)
    auth.login("kid@example.com")
    page = client.get(f"/checkout?listing={item}").get_data(as_text=True)
    assert 'name="source"' not in page
    data = {"csrf_token": csrf_token(client, f"/checkout?listing={item}"), "token": token_in(page),
            "name": "林", "phone": "13800138000", "address": "北京", "source": "family"}
    refused = client.post(f"/checkout?listing={item}", data=data)
    assert refused.status_code == 422 and "not allowed you" in refused.get_data(as_text=True)
    assert home.pool(fid) == 1000
    home.run(head, family.set_rights, kid, True, None)
    page = client.get(f"/checkout?listing={item}").get_data(as_text=True)
    assert 'name="source"' in page
    summary = client.post(f"/checkout/summary?listing={item}", headers=HX, data={**data, "token": token_in(page)})
    assert "Family pool (available to you)" in summary.get_data(as_text=True)
    assert "1,000" in summary.get_data(as_text=True)
    placed = client.post(f"/checkout?listing={item}", data={**data, "token": token_in(page)})
    assert placed.status_code == 303
    assert home.pool(fid) == 700 and home.balance(kid) == 50
    home.verify()

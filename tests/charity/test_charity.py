"""Charity: donating, refusals, matching, pledges, receipts, payouts, closing, the public pages."""
import io
import re
from datetime import timedelta
from functools import partial

import pytest
from sqlalchemy import func, select

from mall.account.models import Notification
from mall.charity import service
from mall.charity.models import Donation, Payout, Pledge
from mall.db import write
from mall.errors import Conflict, DomainError, NotFound
from mall.extensions import db
from mall.ledger import service as ledger
from tests.builders import NOW, Auth, csrf_token, make_merchant, make_user, race


def verify_cli(runner):
    result = runner.invoke(args=["ledger", "verify"])
    assert result.exit_code == 0, result.output
    assert "ledger OK" in result.output


# ---------------------------------------------------------------- donating

def test_donation_moves_points_into_the_projects_guarded_account(app, world, runner):
    member = world.member(points=5000)
    project = world.project(goal=10000)
    donation_id = world.donate(member, project, 1200)
    assert world.balance(member) == 3800
    assert world.held(project) == 1200
    row = world.project_row(project)
    assert (row.raised_points, row.donor_count, row.status_at(NOW)) == (1200, 1, "open")
    [donation] = world.donations(id=donation_id)
    assert donation.value_fen == 1200 and re.fullmatch(r"CH\d{8}-\d{7}", donation.receipt_number)
    with app.app_context():
        account = ledger.find_account(db.session, "charity", project)
        assert account.guarded and not account.lotted
    verify_cli(runner)


def test_donation_over_balance_is_refused_and_moves_nothing(app, world, runner):
    member = world.member(points=500)
    project = world.project()
    with pytest.raises(Conflict, match="Not enough points"):
        world.donate(member, project, 501)
    assert world.balance(member) == 500 and world.held(project) == 0
    assert world.donations() == []
    verify_cli(runner)


@pytest.mark.parametrize("bad", [True, 1.5, "100", 0, -5, 10**10])
def test_amounts_are_strict_whole_points(world, bad):
    member = world.member()
    project = world.project()
    with pytest.raises(DomainError):
        world.donate(member, project, bad)
    assert world.balance(member) == 10000


@pytest.mark.parametrize("dates", [dict(starts=2, ends=30), dict(starts=-30, ends=-1)], ids=["upcoming", "ended"])
def test_donation_to_an_upcoming_or_ended_project_is_refused(world, runner, dates):
    member = world.member()
    project = world.project(**dates)
    with pytest.raises(Conflict, match="not accepting"):
        world.donate(member, project, 100)
    assert world.balance(member) == 10000
    verify_cli(runner)


def test_donation_to_a_closed_project_is_refused(app, world, runner):
    member = world.member()
    project = world.project()
    world.donate(member, project, 100)
    with app.app_context(), write(db.session):
        service.close_project(db.session, world.user(world.operator_id), project, "CLOSE-001")
    with pytest.raises(Conflict, match="not accepting"):
        world.donate(member, project, 100)
    assert world.project_row(project).status_at(NOW) == "closed"
    verify_cli(runner)


def test_reaching_the_goal_marks_the_project_funded_and_donations_still_count(world):
    member = world.member()
    project = world.project(goal=1000)
    world.donate(member, project, 1000)
    assert world.project_row(project).status_at(NOW) == "funded"
    world.donate(member, project, 10)
    row = world.project_row(project)
    assert row.raised_points == 1010 and row.donor_count == 1 and row.percent == 100


def test_the_same_form_submitted_twice_donates_once(world):
    member = world.member(points=1000)
    project = world.project()
    first = world.donate(member, project, 300, token="same-token")
    second = world.donate(member, project, 300, token="same-token")
    assert first == second and world.balance(member) == 700


def test_only_members_donate(app, world):
    project = world.project()
    with pytest.raises(DomainError, match="Only members"):
        world.donate(world.operator_id, project, 1)


def test_donate_my_points_expiring_this_month(app, world):
    member = world.member(points=0)
    with app.app_context(), write(db.session):
        from mall.ledger.models import Lot

        issuance = ledger.open_account(db.session, "merchant", world.merchant_id, "issuance")
        wallet = ledger.member_account(db.session, member)
        ledger.transfer(db.session, issuance, wallet, 700, "earn", key="soon")
        ledger.transfer(db.session, issuance, wallet, 900, "earn", key="later")
        lots = db.session.scalars(select(Lot).where(Lot.account_id == wallet.id).order_by(Lot.id)).all()
        end = service._month_end(NOW)
        lots[0].expires_at = end - timedelta(hours=1)  # this month
        lots[1].expires_at = end + timedelta(days=40)
    with app.app_context():
        assert service.expiring_this_month(db.session, world.user(member), NOW) == 700


# ---------------------------------------------------------------- concurrency

def test_concurrent_donations_keep_totals_exact(app, world, runner):
    project = world.project(goal=10**6)
    members = [world.member(f"d{n}@example.com", points=1000) for n in range(12)]
    results = race(lambda user_id: world.donate(user_id, project, 300), members * 3)  # three gifts each
    assert results.count("ok") == 36
    row = world.project_row(project)
    assert row.raised_points == 36 * 300 == world.held(project)
    assert row.donor_count == 12
    assert all(world.balance(m) == 100 for m in members)
    verify_cli(runner)


def test_one_members_last_points_under_concurrency(world, runner):
    member = world.member(points=1000)
    project = world.project()
    results = race(lambda _: world.donate(member, project, 300), range(10))
    assert results.count("ok") == 3 and all(r == 409 for r in results if r != "ok")
    assert world.balance(member) == 100 and world.held(project) == 900
    verify_cli(runner)


def test_matching_stops_exactly_at_the_cap_under_concurrency(app, world, runner):
    project = world.project(goal=10**6)
    campaign = world.campaign(project, cap=1000, percent=100)
    members = [world.member(f"r{n}@example.com", points=1000) for n in range(15)]
    results = race(lambda user_id: world.donate(user_id, project, 70), members)
    assert results.count("ok") == 15
    assert world.matched(campaign) == 1000  # 14 full matches of 70 = 980, then 20 of the 15th
    matches = sorted(d.matched_points for d in world.donations(project_id=project))
    assert sum(matches) == 1000 and matches.count(70) == 14 and 20 in matches
    assert world.held(project) == 15 * 70 + 1000 == world.project_row(project).raised_points
    with app.app_context():
        sponsor = ledger.find_account(db.session, "merchant", world.merchant_id, "matching")
        assert sponsor.balance == -1000 and not sponsor.guarded
    verify_cli(runner)


def test_programme_funded_matching_and_ratio(app, world, runner):
    member = world.member()
    project = world.project()
    world.campaign(project, cap=5000, percent=50, merchant=False)
    donation_id = world.donate(member, project, 400)
    [donation] = world.donations(id=donation_id)
    assert donation.matched_points == 200 and world.held(project) == 600
    with app.app_context():
        assert ledger.find_account(db.session, "system", 0, service.PROGRAMME_MATCH_ACCOUNT).balance == -200
    verify_cli(runner)


def test_a_campaign_outside_its_dates_matches_nothing(world):
    member = world.member()
    project = world.project()
    world.campaign(project, starts=2, ends=5)
    donation_id = world.donate(member, project, 100)
    assert world.donations(id=donation_id)[0].matched_points == 0


# ---------------------------------------------------------------- pledges

def pledge(app, world, member, project, points, anonymous=False):
    with app.app_context(), write(db.session):
        return service.pledge_monthly(db.session, world.user(member), project, points, anonymous=anonymous).id


def test_pledge_runner_twice_in_a_month_collects_once(app, world, runner):
    member = world.member(points=1000)
    project = world.project()
    pledge(app, world, member, project, 300)
    first = runner.invoke(args=["charity", "run-pledges", "--month", "2026-11"])
    assert first.exit_code == 0 and "1 collected" in first.output, first.output
    second = runner.invoke(args=["charity", "run-pledges", "--month", "2026-11"])
    assert "0 collected, 1 already" in second.output
    assert world.balance(member) == 700
    runner.invoke(args=["charity", "run-pledges", "--month", "2026-12"])
    assert world.balance(member) == 400
    assert [d.pledge_month for d in world.donations(donor_id=member)] == ["2026-11", "2026-12"]
    verify_cli(runner)


def test_a_frozen_members_pledge_is_skipped_and_the_run_goes_on(app, world, runner):
    frozen, other = world.member("f@example.com", points=1000), world.member("o@example.com", points=1000)
    project = world.project()
    pledge(app, world, frozen, project, 300)
    pledge(app, world, other, project, 300)
    with app.app_context(), write(db.session):  # what a fraud case's freeze does to the account
        ledger.set_frozen(db.session, ledger.member_account(db.session, frozen), True)
    result = runner.invoke(args=["charity", "run-pledges", "--month", "2026-11"])
    assert result.exit_code == 0 and "1 collected, 0 already, 0 skipped, 1 frozen" in result.output, result.output
    assert (world.balance(frozen), world.balance(other)) == (1000, 700)
    verify_cli(runner)


def test_concurrent_pledge_runs_collect_once(app, world, runner):
    member = world.member(points=1000)
    project = world.project()
    pledge_id = pledge(app, world, member, project, 300)

    def run(_):
        with app.app_context(), write(db.session):
            return service.collect_pledge(db.session, pledge_id, "2026-11")

    outcomes = race(run, range(6), values=True)
    assert outcomes.count("collected") == 1 and world.balance(member) == 700
    verify_cli(runner)


def test_a_short_balance_skips_the_month_and_tells_the_member_once(app, world, runner):
    member = world.member(points=100)
    project = world.project()
    pledge(app, world, member, project, 300)
    for _ in range(2):
        assert "1 skipped" in runner.invoke(args=["charity", "run-pledges", "--month", "2026-11"]).output
    assert world.balance(member) == 100
    with app.app_context():
        notes = db.session.scalars(select(Notification).where(Notification.user_id == member)).all()
        assert [n.kind for n in notes] == ["charity_pledge_skipped"]
    world.earn(member, 500)  # topped up later in the month: the same month can still be collected, once
    assert "1 collected" in runner.invoke(args=["charity", "run-pledges", "--month", "2026-11"]).output
    assert world.balance(member) == 300


def test_paused_and_cancelled_pledges_are_not_collected(app, world, runner, client):
    member = world.member(email="p@example.com", points=1000)
    project = world.project()
    pledge_id = pledge(app, world, member, project, 100)
    Auth(client).login("p@example.com")
    token = csrf_token(client, "/account/donations")
    assert client.post(f"/account/pledges/{pledge_id}/pause", data={"csrf_token": token}).status_code == 303
    assert "0 collected" in runner.invoke(args=["charity", "run-pledges"]).output
    client.post(f"/account/pledges/{pledge_id}/resume", data={"csrf_token": token})
    client.post(f"/account/pledges/{pledge_id}/cancel", data={"csrf_token": token})
    assert "0 collected" in runner.invoke(args=["charity", "run-pledges"]).output
    assert world.balance(member) == 1000
    with app.app_context():
        assert db.session.get(Pledge, pledge_id).status == "cancelled"


def test_another_members_pledge_is_404(app, world, client):
    owner = world.member("owner@example.com")
    pledge_id = pledge(app, world, owner, world.project(), 100)
    world.member("snoop@example.com")
    Auth(client).login("snoop@example.com")
    token = csrf_token(client, "/account/donations")
    assert client.post(f"/account/pledges/{pledge_id}/cancel", data={"csrf_token": token}).status_code == 404
    with app.app_context():
        assert db.session.get(Pledge, pledge_id).status == "active"


def test_pledges_end_when_the_project_closes(app, world, runner):
    member = world.member()
    project = world.project()
    pledge_id = pledge(app, world, member, project, 100)
    with app.app_context(), write(db.session):
        service.close_project(db.session, world.user(world.operator_id), project, "CLOSE-002")
    assert "0 collected" in runner.invoke(args=["charity", "run-pledges"]).output
    with app.app_context():
        assert db.session.get(Pledge, pledge_id).status == "ended"
        kinds = db.session.scalars(select(Notification.kind).where(Notification.user_id == member)).all()
        assert kinds == ["charity_pledge_ended"]
    assert world.balance(member) == 10000


def test_pledge_that_outlives_the_project_dates_ends_in_the_runner(app, world, runner):
    member = world.member()
    project = world.project()
    pledge_id = pledge(app, world, member, project, 100)
    with app.app_context(), write(db.session):
        db.session.get(service.Project, project).ends_at = NOW - timedelta(seconds=1)
    assert "1 ended" in runner.invoke(args=["charity", "run-pledges"]).output
    with app.app_context():
        assert db.session.get(Pledge, pledge_id).status == "ended"


def test_run_pledges_rejects_a_bad_month(runner):
    assert runner.invoke(args=["charity", "run-pledges", "--month", "2026-13"]).exit_code != 0


# ---------------------------------------------------------------- payouts and closing

def test_payout_moves_points_to_the_payout_account_and_never_more_than_held(app, world, runner):
    member = world.member()
    project = world.project()
    world.donate(member, project, 2500)
    operator = lambda: world.user(world.operator_id)  # noqa: E731
    with pytest.raises(Conflict, match="more than it holds"), app.app_context(), write(db.session):
        service.pay_out(db.session, operator(), project, 2501, "BANK-0001")
    with app.app_context(), write(db.session):
        payout = service.pay_out(db.session, operator(), project, 2000, "BANK-0001", "first tranche")
        assert payout.value_fen == 2000
    with pytest.raises(Conflict, match="reference"), app.app_context(), write(db.session):
        service.pay_out(db.session, operator(), project, 100, "BANK-0001")
    assert world.held(project) == 500
    with app.app_context():
        assert ledger.system_account(db.session, "payout").balance == 2000
    verify_cli(runner)


def test_closing_pays_the_remainder_to_the_same_organisation(app, world, runner, client):
    member = world.member()
    project = world.project()
    world.donate(member, project, 800)
    with app.app_context(), write(db.session):
        service.close_project(db.session, world.user(world.operator_id), project, "FINAL-42")
    assert world.held(project) == 0
    with app.app_context():
        [payout] = db.session.scalars(select(Payout)).all()
        assert (payout.points, payout.reference, payout.note) == (800, "FINAL-42", "closing remainder")
    page = client.get(f"/charity/{project}").get_data(as_text=True)
    assert "FINAL-42" in page and "paid out to the same organisation" in page
    with pytest.raises(Conflict), app.app_context(), write(db.session):
        service.close_project(db.session, world.user(world.operator_id), project, "FINAL-43")
    verify_cli(runner)


def test_payouts_are_operator_only(app, world):
    member = world.member()
    project = world.project()
    world.donate(member, project, 100)
    with pytest.raises(NotFound), app.app_context(), write(db.session):
        service.pay_out(db.session, world.user(member), project, 100, "X-123")


# ---------------------------------------------------------------- receipts

def test_receipt_numbers_are_unique(world):
    members = [world.member(f"u{n}@example.com", points=500) for n in range(4)]
    project = world.project()
    for m in members:
        for _ in range(3):
            world.donate(m, project, 10)
    numbers = [d.receipt_number for d in world.donations()]
    assert len(numbers) == 12 == len(set(numbers))


def test_receipt_is_the_donors_alone_and_printable(app, world, client):
    member = world.member("giver@example.com", name="Giver")
    project = world.project()
    world.campaign(project, cap=1000)
    donation_id = world.donate(member, project, 300)
    [donation] = world.donations(id=donation_id)
    assert client.get(f"/charity/receipts/{donation.receipt_number}").status_code == 302  # sign in first
    world.member("other@example.com")
    Auth(client).login("other@example.com")
    assert client.get(f"/charity/receipts/{donation.receipt_number}").status_code == 404
    Auth(client).logout()
    Auth(client).login("giver@example.com")
    page = client.get(f"/charity/receipts/{donation.receipt_number}").get_data(as_text=True)
    assert donation.receipt_number in page and "¥3.00" in page and "+300 points by shop shop" in page
    listing = client.get("/account/donations").get_data(as_text=True)
    assert donation.receipt_number in listing
    css = client.get("/static/css/mall.css").get_data(as_text=True)
    assert ".receipt" in css.split("@media print {")[-1]


# ---------------------------------------------------------------- public pages and HTTP

def test_anonymous_donors_never_show_their_name_anywhere_public(app, world, client):
    shy = world.member("shy@example.com", name="Shy Zhang")
    proud = world.member("proud@example.com", name="Proud Li")
    project = world.project()
    world.donate(shy, project, 200, anonymous=True)
    world.donate(proud, project, 100)
    with app.app_context(), write(db.session):
        service.pledge_monthly(db.session, world.user(shy), project, 50, anonymous=True)
    world.app.test_cli_runner().invoke(args=["charity", "run-pledges"])
    visitor = app.test_client()
    visitor.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    for path in (f"/charity/{project}", "/charity", f"/charity/{project}/progress", "/charity?status=open",
                 "/transparency"):
        page = visitor.get(path, headers={"HX-Request": "true"} if "progress" in path else {}).get_data(as_text=True)
        assert "Shy Zhang" not in page and "shy@example.com" not in page
    wall = visitor.get(f"/charity/{project}").get_data(as_text=True)
    assert "Proud Li" in wall and wall.count("Anonymous donor") == 2
    with app.app_context():
        assert db.session.scalar(select(func.count(Donation.id)).where(Donation.public_name == "Shy Zhang")) == 0


def test_public_list_filters_by_cause_and_status(world, client):
    world.project(title_en="Books now", cause="education")
    world.project(title_en="Wetland soon", cause="environment", starts=3, ends=40)
    world.project(title_en="Old relief", cause="disaster_relief", starts=-40, ends=-2)
    page = client.get("/charity").get_data(as_text=True)
    assert all(t in page for t in ("Books now", "Wetland soon", "Old relief"))
    page = client.get("/charity?cause=environment").get_data(as_text=True)
    assert "Wetland soon" in page and "Books now" not in page
    page = client.get("/charity?status=open").get_data(as_text=True)
    assert "Books now" in page and "Wetland soon" not in page and "Old relief" not in page
    page = client.get("/charity?status=closed").get_data(as_text=True)
    assert "Old relief" in page and "Books now" not in page
    assert client.get("/charity?status=bogus&page=999999").status_code == 200
    assert client.get("/charity/999999").status_code == 404


def donate_form(client, project):
    page = client.get(f"/charity/{project}").get_data(as_text=True)
    token = re.search(r'name="token" type="hidden" value="([^"]+)"', page).group(1)
    return {"csrf_token": csrf_token(client, f"/charity/{project}"), "token": token}


def test_htmx_donation_answers_the_updated_progress_fragment(app, world, client):
    member = world.member("h@example.com", points=2000)
    project = world.project(goal=1000)
    Auth(client).login("h@example.com")
    data = donate_form(client, project) | {"quick": "500"}
    response = client.post(f"/charity/{project}/donate", data=data, headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    assert html.lstrip().startswith("<section id=\"progress\"") and "<html" not in html
    assert 'value="500"' in html and "50%" in html and "Receipt CH" in html
    assert 'id="header-balance" hx-swap-oob="true"' in html and "1,500" in html
    # the rest of the page that changed comes out of band: the donor wall, what the project holds
    wall = re.search(r'<div id="donor-wall" hx-swap-oob="true">(.*?)</div>', html, re.S).group(1)
    assert "<strong>h</strong>" in wall and "500 points" in wall
    assert re.search(r'<p id="project-held" hx-swap-oob="true">The project account holds 500 points', html)
    assert re.search(r'<input id="points" name="points"[^>]*value="">', html)  # the amount field is cleared
    assert "1 donor ·" in html or ">1</strong> donor<" in html  # one donor, not "1 donors"
    assert world.balance(member) == 1500
    refused = client.post(f"/charity/{project}/donate", data=donate_form(client, project) | {"points": "9999"},
                          headers={"HX-Request": "true"})
    assert "Not enough points" in refused.get_data(as_text=True) and world.balance(member) == 1500


def test_plain_post_donation_redirects_to_the_receipt(app, world, client):
    member = world.member("plain@example.com", points=2000)
    project = world.project()
    Auth(client).login("plain@example.com")
    data = donate_form(client, project) | {"points": "250", "anonymous": "y", "balance": "999999", "donor_id": "1"}
    response = client.post(f"/charity/{project}/donate", data=data)
    assert response.status_code == 303 and "/charity/receipts/CH" in response.headers["Location"]
    again = client.post(f"/charity/{project}/donate", data=data)  # the same form again
    assert again.headers["Location"] == response.headers["Location"]
    assert world.balance(member) == 1750
    [donation] = world.donations()
    assert donation.anonymous and donation.donor_id == member


def test_donating_needs_csrf_and_sign_in(app, world, client):
    project = world.project()
    assert client.post(f"/charity/{project}/donate", data={"points": "10"}).status_code in (302, 400)
    world.member("c@example.com")
    Auth(client).login("c@example.com")
    assert client.post(f"/charity/{project}/donate", data={"points": "10", "token": "t"}).status_code == 400
    assert world.balance(world.member("x@example.com", points=0)) == 0


def test_operator_console_is_404_for_members_and_creates_projects(app, world, client):
    world.member("mem@example.com")
    Auth(client).login("mem@example.com")
    assert client.get("/admin/charity").status_code == 404
    assert client.get("/admin/charity/new").status_code == 404
    Auth(client).logout()
    Auth(client).login("op@example.com")
    data = {"csrf_token": csrf_token(client, "/admin/charity/new"), "cause": "environment",
            "organisation_zh": "长江生态保护协会", "organisation_en": "Yangtze Ecology", "title_zh": "长江湿地修复",
            "title_en": "Yangtze wetland", "story_zh": "故事", "story_en": "Story", "goal_points": "50000",
            "fen_per_100_points": "100", "starts_on": "2026-01-01", "ends_on": "2030-12-31",
            "raised_points": "999999"}
    response = client.post("/admin/charity/new", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)
    project_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert world.project_row(project_id).raised_points == 0
    bad = client.post("/admin/charity/new", data=data | {"goal_points": "1.5"})
    assert bad.status_code == 422
    image = io.BytesIO()
    from PIL import Image

    Image.new("RGB", (800, 600), (20, 120, 70)).save(image, "PNG")
    token = csrf_token(client, f"/admin/charity/{project_id}")
    client.post(f"/admin/charity/{project_id}/image", data={"csrf_token": token,
                "image": (io.BytesIO(image.getvalue()), "x.png")}, content_type="multipart/form-data")
    cover = world.project_row(project_id).cover_image
    assert cover and client.get(f"/media/{cover}-large.webp").status_code == 200
    client.post(f"/admin/charity/{project_id}/image", data={"csrf_token": token,
                "image": (io.BytesIO(b"<svg></svg>"), "x.png")}, content_type="multipart/form-data")
    assert world.project_row(project_id).cover_image == cover
    response = client.post(f"/admin/charity/{project_id}/campaigns", data={
        "csrf_token": token, "sponsor": str(world.merchant_id), "match_percent": "100", "cap_points": "100000",
        "starts_on": "2026-01-01", "ends_on": "2030-01-01"})
    assert response.status_code == 303
    with app.app_context():
        assert len(service.campaigns(db.session, service.get_project(db.session, project_id))) == 1


def test_merchant_staff_fund_matching_from_their_own_account_only(app, world, client, runner):
    project = world.project()
    other = __import__("tests.conftest", fromlist=["make_merchant"]).make_merchant(app, "other")

    make_user(app, "staff@example.com", role="merchant", merchant_id=world.merchant_id)
    Auth(client).login("staff@example.com")
    data = {"csrf_token": csrf_token(client, "/merchant/charity"), "sponsor": str(project), "match_percent": "100",
            "cap_points": "300", "starts_on": "2026-01-01", "ends_on": "2030-01-01", "merchant_id": str(other)}
    assert client.post("/merchant/charity", data=data).status_code == 303
    member = world.member()
    donation_id = world.donate(member, project, 500)
    assert world.donations(id=donation_id)[0].matched_points == 300
    with app.app_context():
        assert ledger.find_account(db.session, "merchant", world.merchant_id, "matching").balance == -300
        assert ledger.find_account(db.session, "merchant", other, "matching") is None
    assert "300 / 300" in client.get("/merchant/charity").get_data(as_text=True)
    world.member("plainmember@example.com")
    Auth(client).logout()
    Auth(client).login("plainmember@example.com")
    assert client.get("/merchant/charity").status_code == 404
    verify_cli(runner)


def test_payouts_racing_donations_never_overdraw_the_project(app, world, runner):
    project = world.project(goal=10**6)
    members = [world.member(f"pr{n}@example.com", points=1000) for n in range(6)]
    world.donate(members[0], project, 500)
    paid, errors = [], []

    def give(user_id):
        try:
            world.donate(user_id, project, 400)
        except DomainError as err:
            errors.append(err)

    def pay(n):
        try:
            with app.app_context(), write(db.session):
                paid.append(service.pay_out(db.session, world.user(world.operator_id), project, 300, f"RACE-{n}").points)
        except Conflict:
            pass

    race(lambda step: step(), [partial(give, m) for m in members[1:]] + [partial(pay, n) for n in range(8)])
    assert errors == []
    assert world.held(project) == 500 + 5 * 400 - sum(paid) >= 0
    assert world.project_row(project).paid_out_points == sum(paid)
    verify_cli(runner)


def test_donation_from_the_family_pool_needs_pool_rights_and_counts_against_the_limit(app):
    """Allowed members may give from the family pool; others are refused; the monthly limit holds."""
    from mall.account.models import User
    from mall.charity import service as charity
    from mall.db import write
    from mall.errors import DomainError
    from mall.extensions import db
    from mall.family import service as family
    from mall.ledger import service as ledger

    head_id, kid_id, operator_id = (make_user(app, "head@example.com"), make_user(app, "kid@example.com"),
                                    make_user(app, "op-pool@example.com", role="operator"))
    shop = make_merchant(app, "pool-shop")
    with app.app_context(), write(db.session):
        head, kid = db.session.get(User, head_id), db.session.get(User, kid_id)
        issuance = ledger.open_account(db.session, "merchant", shop, "issuance")
        ledger.transfer(db.session, issuance, ledger.member_account(db.session, head_id), 5000, "earn", key="pool-e")
        family.create_family(db.session, head, "林家")
        invitation, _ = family.invite(db.session, head, kid.member_code)
        family.accept(db.session, kid, invitation)
        family.contribute(db.session, head, 3000, token="c1", consent=True)
        project_id = charity_project_id(db.session, db.session.get(User, operator_id))
    with app.app_context():
        with pytest.raises(DomainError), write(db.session):
            charity.donate(db.session, db.session.get(User, kid_id), project_id, 100, anonymous=True,
                           token="kid-1", source="family")
        with write(db.session):
            family.set_rights(db.session, db.session.get(User, head_id), kid_id, True, 500)
        with write(db.session):
            charity.donate(db.session, db.session.get(User, kid_id), project_id, 400, anonymous=True,
                           token="kid-2", source="family")
        with pytest.raises(DomainError, match="monthly limit"), write(db.session):
            charity.donate(db.session, db.session.get(User, kid_id), project_id, 200, anonymous=True,
                           token="kid-3", source="family")
        pool = family.pool_account(db.session, family.membership(db.session, db.session.get(User, kid_id)).family)
        assert pool.balance == 2600
        assert ledger.member_balance(db.session, kid_id) == 0
        assert ledger.verify(db.session).ok


def charity_project_id(session, operator):
    """An open project created through the service, as an operator would."""
    from datetime import timedelta

    from mall.charity import service as charity
    from mall.models import utcnow

    now = utcnow()
    draft = charity.ProjectDraft(
        cause="education", organisation_zh="乡村教育基金会", organisation_en="Rural Education Fund",
        title_zh="图书角", title_en="Reading corner", story_zh="故事", story_en="Story", goal_points=100000,
        fen_per_100_points=100, starts_at=now - timedelta(days=1), ends_at=now + timedelta(days=30))
    return charity.create_project(session, operator, draft).id

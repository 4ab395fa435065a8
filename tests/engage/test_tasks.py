"""Tasks completed by real events, within their limits and the budget; check-in streaks; survey;
moderated reviews; badges and set rewards."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from mall.db import write
from mall.engage import badges as badge_service
from mall.engage import games, reviews, tasks
from mall.engage.budget import BudgetExhausted
from mall.engage.models import CheckIn, FreePlay, Review, SurveyAnswer, Task, TaskCompletion
from mall.errors import DomainError
from mall.extensions import db
from tests.builders import Auth, csrf_token, race


def completions(world, code, member=None):
    with world.app.app_context():
        stmt = select(func.count(TaskCompletion.id)).join(Task).where(Task.code == code)
        if member is not None:
            stmt = stmt.where(TaskCompletion.member_id == member)
        return db.session.scalar(stmt)


def test_completing_the_profile_pays_once_with_a_free_play(world, client):
    world.fund(1000)
    member = world.member("p@example.com", points=0)
    Auth(client).login("p@example.com")
    form = {"csrf_token": csrf_token(client, "/account/profile"), "display_name": "Lin"}
    client.post("/account/profile", data=form)
    assert completions(world, "profile") == 0  # not complete yet: no phone, no birthday
    full = dict(form, phone="13800138000", birthday="1990-05-01")
    assert client.post("/account/profile", data=full).status_code == 303
    assert client.post("/account/profile", data=dict(full, display_name="Lin X")).status_code == 303
    assert completions(world, "profile") == 1
    assert world.balance(member) == 50 and world.budget() == 950
    with world.app.app_context():
        assert games.free_plays(db.session, world.user(member)) == 1
    world.verify()


def test_first_green_purchase_is_detected_from_the_award(world):
    world.fund(1000)
    member = world.member(points=0)
    world.buy_groceries(member, green=False)
    assert completions(world, "first_green_purchase") == 0
    world.buy_groceries(member, green=True)
    world.buy_groceries(member, green=True)
    assert completions(world, "first_green_purchase", member) == 1
    with world.app.app_context():
        done = db.session.scalar(select(TaskCompletion))
        assert done.points == 100 and done.transfer_id is not None


def test_claiming_is_checked_against_records_not_taken_on_trust(world):
    world.fund(1000)
    member = world.member()
    with world.app.app_context(), write(db.session):
        try:
            tasks.claim(db.session, world.user(member), "first_green_purchase")
        except DomainError as err:
            assert err.code == "not-met"
        else:
            raise AssertionError("claimed without a green purchase")
    assert completions(world, "first_green_purchase") == 0


def test_a_task_cannot_be_completed_twice_under_concurrent_requests(world):
    world.fund(1000)
    member = world.member(points=0)
    with world.app.app_context(), write(db.session):
        user = world.user(member)
        user.phone, user.birthday = "13800138000", datetime(1990, 1, 1).date()

    def claim(_):
        with world.app.app_context(), write(db.session):
            tasks.claim(db.session, world.user(member), "profile")

    outcomes = race(claim, range(8))
    assert outcomes.count("ok") == 1 and outcomes.count(409) == 7
    assert completions(world, "profile") == 1
    assert world.balance(member) == 50
    world.verify()


def test_concurrent_check_ins_count_once_a_day_and_streaks_grow(world):
    world.fund(1000)
    member = world.member(points=0)

    def check_in(_):
        with world.app.app_context(), write(db.session):
            tasks.check_in(db.session, world.user(member))

    outcomes = race(check_in, range(6))
    assert outcomes.count("ok") == 1 and outcomes.count(409) == 5
    assert world.balance(member) == 5 and completions(world, "checkin") == 1
    tomorrow = datetime.now(timezone.utc) + timedelta(days=1)
    with world.app.app_context(), write(db.session):
        assert tasks.check_in(db.session, world.user(member), now=tomorrow).streak == 2
    with world.app.app_context(), write(db.session):
        assert tasks.check_in(db.session, world.user(member), now=tomorrow + timedelta(days=2)).streak == 1
    assert completions(world, "checkin") == 3
    world.verify()


def test_member_limit_caps_completions(world):
    world.fund(1000)
    member = world.member(points=0)
    with world.app.app_context(), write(db.session):
        task = db.session.scalar(select(Task).where(Task.code == "checkin"))
        tasks.update_task(db.session, world.user(world.operator_id), task.id, points=5, free_plays=0,
                           member_limit=2, active=True)
    now = datetime.now(timezone.utc)
    for day in range(4):
        with world.app.app_context(), write(db.session):
            tasks.check_in(db.session, world.user(member), now=now + timedelta(days=day))
    assert completions(world, "checkin") == 2 and world.balance(member) == 10
    with world.app.app_context():
        assert db.session.scalar(select(func.count(CheckIn.id))) == 4  # the streak still counts every day


def test_an_exhausted_budget_refuses_rewards_and_writes_nothing(world):
    world.fund(30)
    member = world.member(points=0)
    with world.app.app_context(), write(db.session):
        user = world.user(member)
        user.phone, user.birthday = "13800138000", datetime(1990, 1, 1).date()
    with world.app.app_context(), write(db.session):
        try:
            tasks.claim(db.session, world.user(member), "profile")  # 50 points > 30 in the budget
        except BudgetExhausted:
            pass
        else:
            raise AssertionError("paid beyond the budget")
    assert completions(world, "profile") == 0 and world.budget() == 30
    with world.app.app_context():
        assert db.session.scalar(select(func.count(FreePlay.id))) == 0
    world.verify()


def test_an_inactive_task_is_not_completed(world):
    world.fund(1000)
    member = world.member(points=0)
    with world.app.app_context(), write(db.session):
        task = db.session.scalar(select(Task).where(Task.code == "survey"))
        tasks.update_task(db.session, world.user(world.operator_id), task.id, points=30, free_plays=0,
                           member_limit=1, active=False)
    with world.app.app_context(), write(db.session):
        reviews.answer_survey(db.session, world.user(member), 9, "")
    assert completions(world, "survey") == 0 and world.balance(member) == 0


def test_survey_through_the_page_once(world, client):
    world.fund(1000)
    member = world.member("p@example.com", points=0)
    Auth(client).login("p@example.com")
    bad = client.post("/rewards/survey", data={"csrf_token": csrf_token(client, "/rewards/survey"), "score": "11"})
    assert bad.status_code == 422
    ok = client.post("/rewards/survey", data={"csrf_token": csrf_token(client, "/rewards/survey"), "score": "9",
                                              "comment": "More refills please"})
    assert ok.status_code == 303
    assert world.balance(member) == 30
    assert "already answered" in client.get("/rewards/survey").get_data(as_text=True)
    with world.app.app_context():
        assert db.session.scalar(select(func.count(SurveyAnswer.id))) == 1


def test_reviews_one_per_order_paid_on_approval_within_the_limit(world, client):
    world.fund(1000)
    member = world.member("p@example.com", points=1000)
    other = world.member("q@example.com", points=1000)
    with world.app.app_context(), write(db.session):
        task = db.session.scalar(select(Task).where(Task.code == "review"))
        tasks.update_task(db.session, world.user(world.operator_id), task.id, points=20, free_plays=0,
                           member_limit=2, active=True)
    orders = [world.fulfilled_order(member) for _ in range(3)]
    foreign = world.fulfilled_order(other)
    Auth(client).login("p@example.com")
    token = csrf_token(client, "/rewards/reviews")
    data = {"csrf_token": token, "rating": "5", "body": "Soft and well made."}
    assert client.post(f"/rewards/reviews/{foreign}", data=data).status_code == 404
    for order_id in orders:
        assert client.post(f"/rewards/reviews/{order_id}", data=data).status_code == 303
    again = client.post(f"/rewards/reviews/{orders[0]}", data=data)
    assert again.status_code == 422 and "already been reviewed" in again.get_data(as_text=True)
    before = world.balance(member)
    assert completions(world, "review") == 0  # nothing is paid before moderation
    Auth(client).logout()
    Auth(client).login("op@example.com")
    with world.app.app_context():
        review_ids = db.session.scalars(select(Review.id).order_by(Review.id)).all()
    for review_id in review_ids:
        assert client.post(f"/admin/engage/reviews/{review_id}/approve",
                           data={"csrf_token": csrf_token(client, "/admin/engage")}).status_code == 303
    assert completions(world, "review") == 2  # the limit per member
    assert world.balance(member) == before + 40
    with world.app.app_context():
        from mall.checkout.models import OrderLine

        listing_id = db.session.scalar(select(OrderLine.listing_id).where(OrderLine.order_id == orders[0]))
    page = client.get(f"/catalog/{listing_id}").get_data(as_text=True)
    assert 'id="reviews"' in page and "Soft and well made." in page and "p@example.com" not in page
    world.verify()


def test_a_pending_or_rejected_review_is_not_shown(world, client):
    member = world.member("p@example.com", points=1000)
    order_id = world.fulfilled_order(member)
    with world.app.app_context(), write(db.session):
        review = reviews.submit_review(db.session, world.user(member), order_id, 2, "Arrived late, sadly")
        review_id = review.id
        from mall.checkout.models import OrderLine

        listing_id = db.session.scalar(select(OrderLine.listing_id).where(OrderLine.order_id == order_id))
    assert "Arrived late" not in client.get(f"/catalog/{listing_id}").get_data(as_text=True)
    with world.app.app_context(), write(db.session):
        reviews.moderate_review(db.session, world.user(world.operator_id), review_id, approve=False)
    assert "Arrived late" not in client.get(f"/catalog/{listing_id}").get_data(as_text=True)
    assert completions(world, "review") == 0


def test_badges_progress_and_set_reward_once(world, client):
    world.fund(10000)
    member = world.member("p@example.com", points=1000)
    world.fulfilled_order(member)
    Auth(client).login("p@example.com")
    html = client.get("/rewards/badges").get_data(as_text=True)
    assert 'id="badge-first_redemption"' in html and "Collected" in html
    assert "0 of 10" in html  # green purchases
    with world.app.app_context():
        badges = {b.code: b for b in badge_service.badges(db.session, world.user(member))}
        assert badges["first_redemption"].earned and not badges["green_10"].earned
    refused = client.post("/rewards/badges/green_starter/claim",
                          data={"csrf_token": csrf_token(client, "/rewards/badges")})
    assert refused.status_code == 303 and world.budget() == 10000
    # collect the rest of the set from real events: ten green purchases and a donation
    for _ in range(10):
        world.buy_groceries(member, green=True)
    world.donate(member, world.project(), 10)
    balance = world.balance(member)
    token = csrf_token(client, "/rewards/badges")
    assert client.post("/rewards/badges/green_starter/claim", data={"csrf_token": token}).status_code == 303
    assert client.post("/rewards/badges/green_starter/claim", data={"csrf_token": token}).status_code == 303
    assert world.balance(member) == balance + 300
    world.verify()


def test_free_play_earned_by_a_task_costs_nothing(world):
    world.fund(1000)
    member = world.member(points=0)
    world.buy_groceries(member, green=True)  # first green purchase: 100 points and one free play
    balance = world.balance(member)
    game = world.make_game([("none", 1, 0)], cost=10)
    world.play(member, game, free=True)
    assert world.balance(member) == balance
    try:
        world.play(member, game, free=True)
    except DomainError as err:
        assert err.code == "no-free-play"
    else:
        raise AssertionError("a second free play from one ticket")


def test_rewards_page_lists_tasks_and_checks_in(world, client):
    world.fund(1000)
    world.member("p@example.com", points=0)
    Auth(client).login("p@example.com")
    html = client.get("/rewards").get_data(as_text=True)
    for code in ("profile", "first_green_purchase", "review", "survey", "checkin"):
        assert f'id="task-{code}"' in html
    response = client.post("/rewards/check-in", data={"csrf_token": csrf_token(client, "/rewards")})
    assert response.status_code == 303
    page = client.get("/rewards").get_data(as_text=True)
    assert "1-day streak" in page and "You have checked in today" in page


def test_other_roles_do_not_get_member_pages(world, client):
    Auth(client).login("op@example.com")
    assert client.get("/rewards").status_code == 404
    assert client.get("/account/impact").status_code == 404


def test_a_completed_task_is_refused_before_any_lock(world):
    """Every task reward is paid from the game budget's one row. A member who already completed a
    once-only task is refused on a plain read, before any lock, so that the green purchases of members
    who have the reward already do not queue on the budget (issue 16, "no hot rows")."""
    from sqlalchemy import event

    world.fund(1000)
    member = world.member(points=0)
    world.buy_groceries(member, green=True)
    assert completions(world, "first_green_purchase", member) == 1
    with world.app.app_context():
        sent = []
        engine = db.session.get_bind()

        def record(conn, cursor, sql, *_):
            sent.append(sql.upper())

        event.listen(engine, "before_cursor_execute", record)
        try:
            with pytest.raises(DomainError) as refused, write(db.session):
                tasks.complete(db.session, world.user(member), "first_green_purchase", "once")
        finally:
            event.remove(engine, "before_cursor_execute", record)
        assert refused.value.code == "already-done"
        assert sent and not any("FOR UPDATE" in s for s in sent)
    world.buy_groceries(member, green=True)
    assert completions(world, "first_green_purchase", member) == 1
    assert world.budget() == 900

"""What the impact and rewards areas hold about a member: exported in full, and forgotten on deletion."""
import json

from sqlalchemy import select

from mall.db import write
from mall.engage import service as engage
from mall.engage.models import Coupon, Review, SurveyAnswer
from mall.extensions import db
from mall.impact import service as impact
from tests.engage.test_tasks import _fulfilled_order, buy


def test_export_and_forget(world):
    world.fund(10000)
    member = world.member()
    with world.app.app_context(), write(db.session):
        impact.ensure_default_factors(db.session)
    buy(world, member, green=True)
    order_id = _fulfilled_order(world, member)
    world.play(member, world.make_game([("coupon", 1, 0)], cost=0))
    with world.app.app_context(), write(db.session):
        user = world.user(member)
        engage.check_in(db.session, user)
        engage.answer_survey(db.session, user, 8, "Please add more refill shops")
        engage.submit_review(db.session, user, order_id, 4, "Good towel, thin packaging")
        impact.create_share(db.session, user, show_name=True, show_categories=False, show_chart=False,
                            show_trees=True)
    with world.app.app_context():
        user = world.user(member)
        data = {**engage.member_data(db.session, user), **impact.member_data(db.session, user)}
        json.dumps(data)  # serialisable as it is
        assert data["survey_answers"][0]["comment"] == "Please add more refill shops"
        assert data["reviews"][0]["body"] == "Good towel, thin packaging"
        assert len(data["game_plays"]) == 1 and len(data["coupons"]) == 1 and len(data["check_ins"]) == 1
        assert {c["task"] for c in data["task_completions"]} == {"first_green_purchase", "checkin", "survey"}
        assert data["impact_entries"] and len(data["impact_certificates"]) == 1
    with world.app.app_context(), write(db.session):
        user = world.user(member)
        engage.forget(db.session, user)
        impact.forget(db.session, user)
    with world.app.app_context():
        assert db.session.scalar(select(Review.body)) == ""
        assert db.session.scalar(select(SurveyAnswer.comment)) == ""
        assert db.session.scalar(select(Coupon.status)) == "expired"
        assert impact.shares_of(db.session, world.user(member)) == []
    world.verify()

"""What the impact and rewards areas hold about a member: in the data export, and forgotten on deletion."""
import json

from sqlalchemy import select

from mall.db import write
from mall.privacy import service as privacy
from mall.engage import reviews, tasks
from mall.engage.models import Coupon, Review, SurveyAnswer
from mall.extensions import db
from mall.impact import service as impact
from tests.builders import PASSWORD


def test_export_and_forget(world):
    world.fund(10000)
    member = world.member()
    with world.app.app_context(), write(db.session):
        impact.ensure_default_factors(db.session)
    world.buy_groceries(member, green=True)
    order_id = world.fulfilled_order(member)
    world.play(member, world.make_game([("coupon", 1, 0)], cost=0))
    with world.app.app_context(), write(db.session):
        user = world.user(member)
        tasks.check_in(db.session, user)
        reviews.answer_survey(db.session, user, 8, "Please add more refill shops")
        reviews.submit_review(db.session, user, order_id, 4, "Good towel, thin packaging")
        impact.create_share(db.session, user, show_name=True, show_categories=False, show_chart=False,
                            show_trees=True)
    with world.app.app_context():
        user = world.user(member)
        data = privacy.collect(db.session, user)  # what the member downloads
        json.dumps(data, default=str)
        assert [a["comment"] for a in data["engage_survey_answer"]] == ["Please add more refill shops"]
        assert [r["body"] for r in data["engage_review"]] == ["Good towel, thin packaging"]
        assert len(data["engage_play"]) == 1 and len(data["engage_coupon"]) == 1 and len(data["engage_checkin"]) == 1
        assert len(data["engage_completion"]) == 3  # first green purchase, check-in, survey
        assert data["impact_entry"] and len(data["impact_share"]) == 1
        assert "token" not in data["impact_share"][0]  # the certificate link is a secret, not data
    with world.app.app_context(), write(db.session):
        privacy.delete_account(db.session, world.user(member), PASSWORD)
    with world.app.app_context():
        assert db.session.scalar(select(Review.body)) == ""
        assert db.session.scalar(select(SurveyAnswer.comment)) == ""
        assert db.session.scalar(select(Coupon.status)) == "expired"
        assert impact.shares_of(db.session, world.user(member)) == []
    world.verify()

import secrets
from datetime import datetime, timedelta, timezone

import pytest

from mall.account.models import User
from mall.charity import service
from mall.charity.models import Donation, MatchCampaign, Project
from mall.db import write
from mall.extensions import db
from mall.ledger import service as ledger
from tests.conftest import assert_ledger_ok, make_merchant, make_user

NOW = datetime.now(timezone.utc)


class World:
    """An operator, a merchant and members with points, for charity tests."""

    def __init__(self, app):
        self.app = app
        self.merchant_id = make_merchant(app, "shop")
        self.operator_id = make_user(app, "op@example.com", role="operator")

    def member(self, email="m@example.com", points=10000, name=None):
        user_id = make_user(self.app, email, name=name)
        if points:
            self.give(user_id, points)
        return user_id

    def give(self, user_id, points):
        with self.app.app_context(), write(db.session):
            issuance = ledger.open_account(db.session, "merchant", self.merchant_id, "issuance")
            ledger.transfer(db.session, issuance, ledger.member_account(db.session, user_id), points, "earn",
                            key=f"gift:{user_id}:{secrets.token_hex(4)}")

    def project(self, goal=100000, starts=-1, ends=30, **changes) -> int:
        fields = dict(cause="education", organisation_zh="春苗基金会", organisation_en="Spring Sprout Foundation",
                      title_zh="乡村儿童图书角", title_en="Reading corners", story_zh="故事", story_en="Story",
                      goal_points=goal, fen_per_100_points=100,
                      starts_at=NOW + timedelta(days=starts), ends_at=NOW + timedelta(days=ends))
        fields.update(changes)
        with self.app.app_context(), write(db.session):
            return service.create_project(db.session, self.user(self.operator_id), service.ProjectDraft(**fields)).id

    def campaign(self, project_id, cap=1000, percent=100, merchant=True, starts=-1, ends=10) -> int:
        with self.app.app_context(), write(db.session):
            return service.create_match_campaign(
                db.session, self.user(self.operator_id), project_id,
                merchant_id=self.merchant_id if merchant else None, match_percent=percent, cap_points=cap,
                starts_at=NOW + timedelta(days=starts), ends_at=NOW + timedelta(days=ends)).id

    def user(self, user_id) -> User:
        return db.session.get(User, user_id)

    def donate(self, user_id, project_id, points, anonymous=False, token=None, now=None):
        with self.app.app_context(), write(db.session):
            done = service.donate(db.session, self.user(user_id), project_id, points, anonymous=anonymous,
                                  token=token or secrets.token_hex(8), now=now)
            return done.donation.id

    def balance(self, user_id):
        with self.app.app_context():
            return ledger.member_balance(db.session, user_id)

    def project_row(self, project_id) -> Project:
        with self.app.app_context():
            project = db.session.get(Project, project_id)
            db.session.expunge(project)
            return project

    def held(self, project_id) -> int:
        with self.app.app_context():
            return ledger.find_account(db.session, "charity", project_id).balance

    def matched(self, campaign_id) -> int:
        with self.app.app_context():
            return db.session.get(MatchCampaign, campaign_id).matched_points

    def donations(self, **where):
        with self.app.app_context():
            rows = db.session.query(Donation).filter_by(**where).order_by(Donation.id).all()
            for row in rows:
                db.session.expunge(row)
            return rows

    def verify(self):
        assert_ledger_ok(self.app)


@pytest.fixture
def world(app):
    return World(app)

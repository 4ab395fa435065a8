from datetime import timedelta

import pytest

from mall.charity import service
from mall.charity.models import Donation, MatchCampaign, Project
from mall.db import write
from mall.extensions import db
from mall.ledger import service as ledger
from tests.builders import NOW, World


class Charity(World):
    """An operator, a merchant and members with points; projects, match campaigns and what they hold."""

    def __init__(self, app):
        super().__init__(app, operator="op@example.com")

    def campaign(self, project_id, cap=1000, percent=100, merchant=True, starts=-1, ends=10) -> int:
        with self.app.app_context(), write(db.session):
            return service.create_match_campaign(
                db.session, self.user(self.operator_id), project_id,
                merchant_id=self.merchant_id if merchant else None, match_percent=percent, cap_points=cap,
                starts_at=NOW + timedelta(days=starts), ends_at=NOW + timedelta(days=ends)).id

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


@pytest.fixture
def world(app):
    return Charity(app)

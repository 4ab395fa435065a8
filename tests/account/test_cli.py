"""`flask user create` and `flask seed-demo`."""
from pathlib import Path

from sqlalchemy import func, select

from mall.account.models import User
from mall.catalog.models import Listing
from mall.extensions import db
from mall.ledger import service as ledger
from mall.coalition.models import Merchant, MerchantApplication
from mall.rules.models import EarningChannel
from mall.rules.models import Purchase


def test_user_create_prints_member_code(runner, app):
    result = runner.invoke(args=["user", "create", "--email", "op@example.com", "--password",
                                 "long-enough-pw", "--role", "operator"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "op@example.com"))
        assert user.role == "operator"
        assert user.member_code in result.output


def test_user_create_merchant_needs_known_slug(runner):
    result = runner.invoke(args=["user", "create", "--email", "m@example.com", "--password",
                                 "long-enough-pw", "--role", "merchant", "--merchant", "nope"])
    assert result.exit_code != 0
    assert "No merchant" in result.output


def test_user_create_refuses_duplicates(runner):
    args = ["user", "create", "--email", "a@example.com", "--password", "long-enough-pw"]
    assert runner.invoke(args=args).exit_code == 0
    again = runner.invoke(args=args)
    assert again.exit_code != 0
    assert "already exists" in again.output


def test_seed_demo_is_complete_and_idempotent(runner, app):
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    for email in ("member@demo.test", "merchant@demo.test", "operator@demo.test", "demo-pass-2026"):
        assert email in first.output
    second = runner.invoke(args=["seed-demo"])
    assert second.exit_code == 0, second.output
    with app.app_context():
        assert db.session.scalar(select(func.count(Merchant.id))) == 9  # six shops, one applying, two channels
        assert db.session.scalar(select(func.count(EarningChannel.id))) == 2  # run twice: still one of each
        assert db.session.scalar(select(func.count(MerchantApplication.id))) == 1
        assert db.session.scalar(select(func.count(Merchant.id)).where(Merchant.status == "pending")) == 1
        assert db.session.scalar(select(func.count(User.id)).where(User.role == "operator")) == 2  # four-eyes
        listings = db.session.scalars(select(Listing)).all()
        assert len(listings) >= 24
        assert {item.kind for item in listings} == {"goods", "service", "topup", "stay", "coupon"}
        assert all(item.title_zh and item.title_en for item in listings)
        # every listing, merchant and charity project has a picture, stored through the upload pipeline, once
        from mall.catalog.models import ListingImage
        from mall.charity.models import Project
        from mall.settings import settings_of

        assert all(item.cover_image for item in listings)
        assert db.session.scalar(select(func.count(ListingImage.id))) == len(listings)
        assert all(m.logo for m in db.session.scalars(select(Merchant)))
        covers = db.session.scalars(select(Project.cover_image)).all()
        assert covers and all(covers)
        root = Path(settings_of(db.session).media_root)
        assert (root / f"{listings[0].cover_image}-thumb.webp").is_file()
        member = db.session.scalar(select(User).where(User.email == "member@demo.test"))
        earned = db.session.scalar(select(func.sum(Purchase.points)).where(Purchase.member_id == member.id))
        assert earned > 0
        from mall.engage.models import TaskCompletion

        rewarded = db.session.scalar(select(func.sum(TaskCompletion.points)).where(
            TaskCompletion.member_id == member.id))
        assert rewarded > 0  # the demo's first green purchase and check-ins completed tasks
        # not doubled by the re-run
        assert ledger.member_balance(db.session, member.id) == earned + rewarded
        roles = dict(db.session.execute(select(User.email, User.role)).all())
        assert roles["merchant@demo.test"] == "merchant"
        assert roles["operator@demo.test"] == "operator"
        assert ledger.verify(db.session).ok


def test_seed_demo_generates_listings(runner, app):
    result = runner.invoke(args=["seed-demo", "--listings", "500"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(select(func.count(Listing.id))) >= 500 + 24

"""`flask points expire` and `flask points remind`, run twice as cron would; what the member then sees."""
from datetime import timedelta

from sqlalchemy import func, select

from mall.account.models import Notification
from mall.extensions import db
from mall.ledger import service as ledger
from mall.ledger.models import Transfer
from mall.models import utcnow
from tests.builders import at


def ledger_state(app):
    with app.app_context():
        return db.session.execute(select(Transfer.id, Transfer.hash).order_by(Transfer.id)).all()


def test_points_expire_moves_unspent_remainders_once(runner, app, member, points):
    long_ago = utcnow() - timedelta(days=3 * 366)  # expired whatever today is
    points.earn(member, 100, long_ago, memo="old")
    points.redeem(member, 30, long_ago + timedelta(days=1))
    points.earn(member, 40, utcnow() - timedelta(minutes=1), memo="fresh")
    first = runner.invoke(args=["points", "expire"])
    assert first.exit_code == 0, first.output
    assert "expired 1 lot(s)" in first.output
    assert points.balance(member) == 40
    state = ledger_state(app)
    second = runner.invoke(args=["points", "expire"])
    assert second.exit_code == 0 and "expired 0 lot(s)" in second.output
    assert ledger_state(app) == state
    with app.app_context():
        assert ledger.system_account(db.session, "expiry").balance == 70
    assert runner.invoke(args=["ledger", "verify"]).exit_code == 0


def test_points_remind_notifies_once_per_lot_and_the_member_sees_it(runner, app, member, points, client, monkeypatch):
    points.earn(member, 1500, at(2025, 5, 1))  # expires 2027-01-01 00:00 Shanghai
    points.earn(member, 9, at(2026, 2, 1))  # expires a year later: not yet
    monkeypatch.setattr("mall.points.cli.utcnow", lambda: at(2026, 12, 10))
    first = runner.invoke(args=["points", "remind"])
    assert first.exit_code == 0 and "sent 1 reminder(s)" in first.output
    second = runner.invoke(args=["points", "remind"])
    assert second.exit_code == 0 and "sent 0 reminder(s)" in second.output
    with app.app_context():
        assert db.session.scalar(select(func.count(Notification.id))) == 1

    listing = client.get("/account/notifications", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "1,500 of your points expire on 2027-01-01 00:00" in listing
    banner = client.get("/account/statement", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'class="banner"' in banner and "expire on 2027-01-01 00:00" in banner


def test_points_remind_window_is_configurable_and_ignores_spent_lots(runner, member, points, monkeypatch):
    points.earn(member, 50, at(2025, 5, 1))
    points.redeem(member, 50, at(2025, 6, 1))  # nothing left to lose
    points.earn(member, 20, at(2025, 7, 1))
    monkeypatch.setattr("mall.points.cli.utcnow", lambda: at(2026, 11, 1))  # two months before
    assert "sent 0 reminder(s)" in runner.invoke(args=["points", "remind"]).output
    assert "sent 1 reminder(s)" in runner.invoke(args=["points", "remind", "--days", "90"]).output
    assert runner.invoke(args=["points", "remind", "--days", "0"]).exit_code != 0


def test_ledger_seal_chains_what_was_posted_into_blocks_once_or_following(runner, app, member, points, monkeypatch):
    points.earn(member, 100, at(2026, 3, 1))
    points.redeem(member, 30, at(2026, 3, 2))
    once = runner.invoke(args=["ledger", "seal"])
    assert once.exit_code == 0, once.output
    assert "sealed block 1:" in once.output and "sealed 2 transfer(s) in 1 block(s)" in once.output
    again = runner.invoke(args=["ledger", "seal"])
    assert again.exit_code == 0 and "sealed 0 transfer(s) in 0 block(s)" in again.output

    points.earn(member, 5, at(2026, 3, 3))
    points.earn(member, 6, at(2026, 3, 4))
    naps = []
    monkeypatch.setattr("mall.points.cli.time.sleep", naps.append)
    follow = runner.invoke(args=["ledger", "seal", "--follow", "--interval", "0.5", "--limit", "1", "--max-rounds", "4"])
    assert follow.exit_code == 0, follow.output
    assert "sealed 2 transfer(s) in 2 block(s)" in follow.output and naps == [0.5]  # rounds: 2 blocks, a nap, a last look
    with app.app_context():
        report = ledger.verify(db.session)
        assert report.ok and (report.blocks, report.unsealed) == (3, 0), report.problems
    verified = runner.invoke(args=["ledger", "verify"])
    assert verified.exit_code == 0 and "3 block(s), tip 3" in verified.output

"""The points report equals the ledger, month by month and in total."""
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from mall.db import write
from mall.extensions import db
from mall.ledger import service as ledger
from mall.ledger.models import Account, Transfer
from mall.reports import service as reports
from tests.builders import make_merchant


def _history(app, world):
    """Earning in two months, spending, a gift, a donation-like transfer, expiry, a refund."""
    a = world.member("a@example.com", points=())
    b = world.member("b@example.com", points=())
    other = make_merchant(app, "second")
    nov = datetime(2026, 10, 31, 17, 0, tzinfo=timezone.utc)  # 2026-11-01 01:00 in Shanghai
    oct_ = datetime(2026, 10, 31, 15, 0, tzinfo=timezone.utc)  # 2026-10-31 23:00 in Shanghai
    with app.app_context(), write(db.session):
        s = db.session
        issue1 = ledger.open_account(s, "merchant", world.merchant_id, "issuance")
        issue2 = ledger.open_account(s, "merchant", other, "issuance")
        redeem2 = ledger.open_account(s, "merchant", other, "redemption")
        wallet_a, wallet_b = ledger.member_account(s, a), ledger.member_account(s, b)
        ledger.transfer(s, issue1, wallet_a, 1000, "earn", key="e1", now=oct_)
        ledger.transfer(s, issue2, wallet_b, 3000, "earn", key="e2", now=nov)
        spent = ledger.transfer(s, wallet_b, redeem2, 1200, "redeem", key="r1", now=nov + timedelta(hours=1))
        ledger.give_back(s, spent.transfer.id, 200, key="rf1", now=nov + timedelta(hours=2))
        ledger.transfer(s, wallet_a, wallet_b, 100, "gift", key="g1", now=nov + timedelta(hours=3))
        ledger.transfer(s, wallet_a, ledger.system_account(s, "forfeit"), 50, "forfeit", key="f1",
                        now=nov + timedelta(hours=4))
    return a, b, other


def test_report_totals_equal_the_ledger(app, world):
    a, b, other = _history(app, world)
    with app.app_context():
        report = reports.programme_report(db.session, fen_per_point=1)
        outstanding = db.session.scalar(select(func.sum(Account.balance)).where(Account.owner_kind.in_(("member", "family"))))
        assert report.outstanding == outstanding == 1000 + 3000 - 1200 + 200 - 50
        assert [m.month for m in report.months] == ["2026-10", "2026-11"]  # months in Shanghai time
        oct_, nov = report.months
        assert (oct_.issued, oct_.outstanding) == (1000, 1000)
        assert (nov.issued, nov.redeemed, nov.returned, nov.forfeited) == (3000, 1200, 200, 50)
        assert nov.outstanding == report.outstanding
        by_kind = dict(db.session.execute(select(Transfer.kind, func.sum(Transfer.amount)).group_by(Transfer.kind)).all())
        assert report.totals.issued == by_kind["earn"]
        assert report.totals.redeemed - report.totals.returned == by_kind["redeem"] - by_kind["refund"]
        assert report.liability_fen == report.outstanding
        assert [(m.id, pts) for m, pts in report.top_issuers] == [(other, 3000), (world.merchant_id, 1000)]
        assert [(m.id, pts) for m, pts in report.top_redeemers] == [(other, 1000)]
        assert report.breakage == 0


def test_report_page_and_csv(app, world):
    _history(app, world)
    op = world.client_for("op1@example.com")
    page = op.get("/admin/reports").get_data(as_text=True)
    assert '<svg class="chart"' in page and "<title" in page and "2026-11" in page
    assert "¥29.50" in page  # 2,950 outstanding points at 1 fen each
    rows = op.get("/admin/reports.csv").get_data(as_text=True).lstrip("\ufeff").strip().splitlines()
    assert rows[1].startswith("2026-10,1000,") and rows[-1].startswith("Total,4000,200,1200,")
    assert rows[-1].endswith(",2950,29.50")


def test_report_of_an_empty_programme(app, world):
    op = world.client_for("op1@example.com")
    page = op.get("/admin/reports").get_data(as_text=True)
    assert "¥0.00" in page

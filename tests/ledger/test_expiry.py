"""Expiry: the policy's boundary instants, partial spending, and the points that must never come back."""
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from mall.db import write
from mall.ledger import policy
from mall.ledger import service as ledger
from mall.ledger.models import Lot
from tests.builders import at

SHANGHAI = ZoneInfo("Asia/Shanghai")
MICRO = timedelta(microseconds=1)


def test_year_is_counted_in_shanghai_not_utc():
    # 2026-12-31 17:00 UTC is already 2027-01-01 01:00 in Shanghai: a 2027 earning.
    assert policy.expiry_for(at(2026, 12, 31, 17), "calendar_year_after") == \
        datetime(2029, 1, 1, tzinfo=SHANGHAI)
    # One second before Shanghai midnight it is still 2026.
    assert policy.expiry_for(at(2026, 12, 31, 15, 59, 59), "calendar_year_after") == \
        datetime(2028, 1, 1, tzinfo=SHANGHAI)


def test_other_policies():
    assert policy.expiry_for(at(2026, 1, 31, 3), "months:1") == datetime(2026, 2, 28, 11, tzinfo=SHANGHAI)
    assert policy.expiry_for(at(2026, 11, 15), "months:3") == datetime(2027, 2, 15, 8, tzinfo=SHANGHAI)
    assert policy.expiry_for(at(2026, 1, 1), "never") is None
    assert policy.describe("months:12") == {"kind": "months", "months": 12}
    for bad in ("months:0", "months:x", "yearly"):
        with pytest.raises(ValueError):
            policy.expiry_for(at(2026, 1, 1), bad)
    with pytest.raises(ValueError):
        policy.expiry_for(at(2026, 1, 1).replace(tzinfo=None), "calendar_year_after")


def test_expiry_at_the_boundary_instant(book):
    earned = at(2026, 12, 31, 17)  # 2027-01-01 01:00 Shanghai
    book.earn(1, 100, earned)
    expires = at(2028, 12, 31, 16)  # 2029-01-01 00:00 Shanghai
    assert book.lots(1) == [(expires, 100)]
    assert book.expire(expires - MICRO) == 0
    book.spend(1, 10, expires - MICRO)  # still spendable a microsecond before
    assert book.balance(1) == 90
    assert book.expire(expires) == 1  # gone at the instant itself
    assert book.balance(1) == 0
    assert book.system("expiry").balance == 90
    with pytest.raises(ledger.InsufficientPoints):
        book.spend(1, 1, expires)
    assert book.verify().ok


def test_expiry_moves_only_what_is_left_after_partial_spending(book):
    book.earn(1, 100, at(2026, 3, 1))
    book.spend(1, 30, at(2026, 6, 1))
    book.spend(1, 25, at(2027, 6, 1))
    assert book.expire(at(2028, 1, 1)) == 1
    [expired] = book.transfers("expire")
    assert expired.amount == 45
    assert (expired.ref_type, expired.idempotency_key) == ("lot", f"expire:lot:{book.all_lots()[0].id}")
    assert book.system("redemption").balance == 55  # what was spent stays spent
    assert book.verify().ok


def test_a_later_lot_never_takes_back_points_already_spent(book):
    book.earn(1, 100, at(2026, 3, 1))  # expires 2028-01-01
    book.earn(1, 100, at(2027, 3, 1))  # expires 2029-01-01
    book.spend(1, 150, at(2027, 4, 1))  # 100 from the first lot, 50 from the second
    assert book.expire(at(2028, 1, 1)) == 0  # the first lot is fully spent: nothing to take
    assert book.balance(1) == 50
    assert book.expire(at(2029, 1, 1)) == 1
    assert [t.amount for t in book.transfers("expire")] == [50]
    assert book.balance(1) == 0 and book.system("redemption").balance == 150
    assert book.verify().ok


def test_spending_after_the_date_expires_first_then_spends_what_is_valid(book):
    book.earn(1, 100, at(2026, 3, 1))
    book.earn(1, 20, at(2027, 3, 1))
    with pytest.raises(ledger.InsufficientPoints):  # 120 on the books, but only 20 still valid
        book.spend(1, 50, at(2028, 2, 1))
    assert book.balance(1) == 120  # the refused spend wrote nothing, not even the expiry
    book.spend(1, 20, at(2028, 2, 1))
    assert book.balance(1) == 0
    assert [t.kind for t in book.transfers()][-2:] == ["expire", "redeem"]
    assert book.expire(at(2028, 2, 1)) == 0
    assert book.verify().ok


def test_expire_is_idempotent_and_only_touches_due_lots(book):
    book.earn(1, 100, at(2026, 3, 1))
    book.earn(2, 70, at(2026, 5, 1))
    book.earn(2, 5, at(2027, 5, 1))
    assert book.expire(at(2028, 1, 1)) == 2
    before = [(t.id, t.hash) for t in book.transfers()]
    assert book.expire(at(2028, 1, 1)) == 0
    assert [(t.id, t.hash) for t in book.transfers()] == before
    assert (book.balance(1), book.balance(2)) == (0, 5)


def test_expire_works_in_batches(book):
    for n in range(1, 8):
        book.earn(n, n, at(2026, 3, 1))
    with write(book.session):
        assert ledger.expire(book.session, at(2028, 1, 1), batch=3) == 3
    assert book.expire(at(2028, 1, 1)) == 4
    assert book.system("expiry").balance == sum(range(1, 8))


def test_gifted_points_expire_with_their_original_date(book):
    book.earn(1, 100, at(2026, 3, 1))
    book.gift(1, 2, 40, at(2027, 12, 1))
    assert book.expire(at(2028, 1, 1)) == 2
    assert (book.balance(1), book.balance(2)) == (0, 0)


def test_never_expiring_points_are_spent_last(book, app, monkeypatch):
    monkeypatch.setitem(app.config, "POINTS_EXPIRY_POLICY", "never")
    book.earn(1, 50, at(2026, 3, 1))
    monkeypatch.setitem(app.config, "POINTS_EXPIRY_POLICY", "calendar_year_after")
    book.earn(1, 50, at(2026, 3, 1))
    book.spend(1, 60, at(2026, 4, 1))
    assert book.lots(1) == [(None, 40)]
    assert book.expire(at(2099, 1, 1)) == 0


def test_expiring_soon_lists_only_members_open_lots_within_the_window(book):
    book.earn(1, 100, at(2026, 3, 1))  # expires 2027-12-31T16:00Z
    book.earn(2, 30, at(2026, 4, 1))
    book.spend(2, 30, at(2026, 4, 2))  # nothing left to remind about
    book.earn(3, 10, at(2027, 3, 1))  # later
    now = at(2027, 12, 10)
    pairs = ledger.expiring_lots(book.session, now, 30)
    assert [(lot.remaining, account.owner_id) for lot, account in pairs] == [(100, 1)]
    assert ledger.expiring_summary(book.session, book.member(1), now) == [(at(2027, 12, 31, 16), 100)]
    assert ledger.expiring_summary(book.session, book.member(1), at(2027, 11, 1)) == []
    first = ledger.expiring_lots(book.session, now, 400, limit=1)
    rest = ledger.expiring_lots(book.session, now, 400, after=(first[0][0].expires_at, first[0][0].id))
    assert [lot.remaining for lot, _ in first + rest] == [100, 10]


def test_lot_rows_record_where_mirrored_points_came_from(book):
    book.earn(1, 10, at(2026, 3, 1))
    book.gift(1, 2, 10, at(2026, 3, 2))
    original, mirrored = book.session.scalars(select(Lot).order_by(Lot.id)).all()
    assert mirrored.origin_lot_id == original.id and mirrored.expires_at == original.expires_at


def test_spendable_leaves_out_points_past_their_date(book):
    book.earn(1, 100, at(2026, 3, 1))
    book.earn(1, 20, at(2027, 3, 1))
    member = book.member(1)
    assert ledger.spendable(book.session, member, at(2027, 12, 31)) == 120
    assert ledger.spendable(book.session, member, at(2028, 1, 1)) == 20
    assert ledger.spendable(book.session, book.issuer, at(2028, 1, 1)) == book.issuer.balance

"""Posting, idempotency, atomic sets, reversals and statements, through the one ledger API."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from mall.db import write
from mall.errors import Conflict
from mall.ledger import service as ledger
from mall.ledger.models import LotDraw, Transfer
from tests.builders import at

NOW = at(2026, 5, 1, 9)


def count_transfers(book) -> int:
    return book.session.scalar(select(func.count(Transfer.id)))


def test_earn_and_spend_move_points_and_keep_every_invariant(book):
    book.earn(1, 500, NOW)
    book.spend(1, 120, NOW + timedelta(hours=1))
    assert book.balance(1) == 380
    assert ledger.member_balance(book.session, 1) == 380
    assert book.system("redemption").balance == 120
    assert book.issuer.balance == -500
    report = book.verify()
    assert report.ok, report.problems
    assert (report.transfers, report.lots) == (2, 1)


def test_replaying_a_key_returns_the_first_result_and_moves_nothing(book):
    first = book.earn(1, 100, NOW, key="purchase:77")
    again = book.earn(1, 100, NOW + timedelta(minutes=5), key="purchase:77")
    assert not first.replayed and again.replayed
    assert again.transfer.id == first.transfer.id
    assert again.transfer.created_at == first.transfer.created_at
    assert book.balance(1) == 100
    assert count_transfers(book) == 1


@pytest.mark.parametrize("change", [
    {"points": 101}, {"memo": "another memo"}, {"ref": ("order", "9")}, {"actor_id": 5}, {"member": 2},
])
def test_same_key_with_different_content_is_refused_clearly(book, change):
    book.earn(1, 100, NOW, key="purchase:77", memo="first", ref=("order", "8"))
    args = {"points": 100, "memo": "first", "ref": ("order", "8"), "member": 1} | change
    with pytest.raises(ledger.IdempotencyConflict, match="already used for a different request") as err:
        book.earn(args.pop("member"), args.pop("points"), NOW, key="purchase:77", **args)
    assert err.value.status == 422
    assert book.balance(1) == 100 and count_transfers(book) == 1


def test_reference_numbers_replay_the_same_as_strings(book):
    book.earn(1, 100, NOW, key="k", ref=("order", 8))
    assert book.earn(1, 100, NOW, key="k", ref=("order", "8")).replayed


def test_a_leg_key_of_a_multi_leg_posting_cannot_be_reused(book):
    book.member(1)
    legs = [ledger.Leg(book.issuer, book.member(1), 50, "earn"), ledger.Leg(book.issuer, book.member(1), 60, "award")]
    with write(book.session):
        ledger.post(book.session, key="batch", legs=legs, now=NOW)
    with pytest.raises(ledger.IdempotencyConflict):
        book.earn(1, 60, NOW, key="batch#1")


def test_transfer_to_self_is_refused(book):
    book.earn(1, 100, NOW)
    with pytest.raises(ledger.LedgerError, match="itself"):
        with write(book.session):
            ledger.transfer(book.session, book.member(1), book.member(1), 10, "gift", key="self", now=NOW)
    assert count_transfers(book) == 1


@pytest.mark.parametrize("amount", [0, -5, True, 1.5, "10", 10**13, None])
def test_amounts_are_strict_positive_integers(book, amount):
    with pytest.raises(ledger.LedgerError) as err:
        book.earn(1, amount, NOW)
    assert err.value.code == "invalid-amount"
    assert count_transfers(book) == 0


def test_unknown_kind_empty_and_reserved_keys_are_refused(book):
    member, issuer = book.member(1), book.issuer
    for kwargs, code in [
        ({"legs": [ledger.Leg(issuer, member, 5, "bonus")], "key": "a"}, "invalid-kind"),
        ({"legs": [], "key": "b"}, "empty"),
        ({"legs": [ledger.Leg(issuer, member, 5, "earn")], "key": ""}, "invalid-key"),
        ({"legs": [ledger.Leg(issuer, member, 5, "earn")], "key": "x" * 191}, "invalid-key"),
        ({"legs": [ledger.Leg(issuer, member, 5, "earn")], "key": "expire:lot:1"}, "invalid-key"),
    ]:
        with pytest.raises(ledger.LedgerError) as err, write(book.session):
            ledger.post(book.session, now=NOW, **kwargs)
        assert err.value.code == code
    assert count_transfers(book) == 0


def test_naive_clock_is_refused_so_results_never_depend_on_the_server_zone(book):
    with pytest.raises(ValueError, match="aware"):
        book.earn(1, 10, NOW.replace(tzinfo=None))


def test_a_clock_in_another_zone_is_stored_as_the_same_instant(book):
    from zoneinfo import ZoneInfo

    shanghai_now = NOW.astimezone(ZoneInfo("Asia/Shanghai"))
    book.earn(1, 7, at(2024, 3, 1))  # expired by NOW
    posting = book.earn(1, 10, shanghai_now)
    assert book.expire(shanghai_now) == 1  # a zone-aware cut-off for expiry too
    assert posting.transfer.created_at == NOW
    assert book.transfers("expire")[0].created_at == NOW
    assert book.verify().ok  # the hash covers the instant, not the wall-clock reading


def test_spending_more_than_the_balance_is_refused_and_nothing_moves(book):
    book.earn(1, 100, NOW)
    with pytest.raises(ledger.InsufficientPoints) as err:
        book.spend(1, 101, NOW)
    assert err.value.status == 409 and err.value.params["needed"] == 1
    assert book.balance(1) == 100 and count_transfers(book) == 1
    assert book.verify().ok


def test_a_set_of_legs_succeeds_or_fails_together_even_if_the_caller_carries_on(book):
    book.earn(1, 100, NOW)
    legs = [ledger.Leg(book.member(1), book.member(2), 60, "gift"),
            ledger.Leg(book.member(1), book.system("redemption"), 60, "redeem")]
    with write(book.session):  # the caller catches the refusal and commits anyway
        with pytest.raises(ledger.InsufficientPoints):
            ledger.post(book.session, key="both", legs=legs, now=NOW)
    assert (book.balance(1), book.balance(2)) == (100, 0)
    assert count_transfers(book) == 1
    assert book.verify().ok


def test_a_set_of_legs_may_spend_what_an_earlier_leg_credits(book):
    book.member(1)
    legs = [ledger.Leg(book.issuer, book.member(1), 80, "earn"),
            ledger.Leg(book.member(1), book.system("redemption"), 80, "redeem")]
    with write(book.session):
        posting = ledger.post(book.session, key="earn-and-burn", legs=legs, now=NOW)
    assert [t.idempotency_key for t in posting.transfers] == ["earn-and-burn", "earn-and-burn#1"]
    assert book.balance(1) == 0
    assert book.verify().ok


def test_spending_takes_the_earliest_expiring_lots_first_and_records_them(book):
    book.earn(1, 100, at(2027, 3, 1))  # expires 2029-01-01 Shanghai
    book.earn(1, 50, at(2026, 3, 1))  # expires 2028-01-01 Shanghai: spent first
    spend = book.spend(1, 70, at(2027, 4, 1))
    draws = book.session.scalars(select(LotDraw).where(LotDraw.transfer_id == spend.transfer.id)
                                 .order_by(LotDraw.id)).all()
    assert [d.amount for d in draws] == [50, 20]
    assert book.lots(1) == [(at(2028, 12, 31, 16), 80)]


def test_a_gift_keeps_the_expiry_dates_of_the_points_given(book):
    book.earn(1, 30, at(2026, 3, 1))
    book.earn(1, 100, at(2027, 3, 1))
    book.gift(1, 2, 50, at(2027, 4, 1))
    assert book.lots(2) == [(at(2027, 12, 31, 16), 30), (at(2028, 12, 31, 16), 20)]
    assert book.verify().ok


def test_reversing_a_spend_returns_points_to_lots_with_their_own_expiry(book):
    book.earn(1, 100, at(2026, 3, 1))
    spend = book.spend(1, 40, at(2026, 4, 1))
    reversal = book.reverse(spend.transfer.id, at(2026, 4, 2), memo="order cancelled")
    assert reversal.transfer.kind == "reversal" and reversal.transfer.reverses_id == spend.transfer.id
    assert book.balance(1) == 100
    assert book.lots(1) == [(at(2027, 12, 31, 16), 60), (at(2027, 12, 31, 16), 40)]
    assert book.verify().ok


def test_reversed_points_whose_date_has_passed_get_thirty_more_days(book):
    book.earn(1, 100, at(2026, 3, 1))
    spend = book.spend(1, 40, at(2026, 4, 1))
    late = at(2028, 2, 1)
    book.reverse(spend.transfer.id, late)
    assert (late + timedelta(days=30), 40) in book.lots(1)


def test_reversing_an_earn_takes_back_the_points_of_that_earn_first(book):
    book.earn(1, 100, at(2026, 3, 1))
    earn = book.earn(1, 50, at(2027, 3, 1))
    book.reverse(earn.transfer.id, at(2027, 3, 2))
    assert book.lots(1) == [(at(2027, 12, 31, 16), 100)]


def test_a_reversal_cannot_be_reversed_and_a_transfer_is_reversed_once(book):
    earn = book.earn(1, 100, NOW)
    reversal = book.reverse(earn.transfer.id, NOW, key="undo")
    assert book.reverse(earn.transfer.id, NOW, key="undo").replayed
    with pytest.raises(ledger.LedgerError) as err:
        book.reverse(reversal.transfer.id, NOW)
    assert err.value.code == "reverse-reversal"
    with pytest.raises(Conflict) as err:
        book.reverse(earn.transfer.id, NOW, key="undo-again")
    assert err.value.code == "already-reversed"
    with pytest.raises(ledger.IdempotencyConflict):  # same key, another transfer
        book.reverse(book.earn(1, 100, NOW).transfer.id, NOW, key="undo")
    assert book.balance(1) == 100
    assert book.verify().ok


def test_reversal_needs_the_points_to_still_be_there(book):
    earn = book.earn(1, 100, NOW)
    book.spend(1, 80, NOW)
    with pytest.raises(ledger.InsufficientPoints):
        book.reverse(earn.transfer.id, NOW)
    assert book.balance(1) == 20


def test_statement_pages_newest_first_and_filters(book):
    for day in range(1, 6):
        book.earn(1, day * 10, at(2026, 5, day, 4), memo=f"day {day}")
    book.spend(1, 15, at(2026, 5, 6, 4))
    book.earn(2, 999, at(2026, 5, 6, 5))  # someone else's
    member = book.member(1)
    page = ledger.statement(book.session, member, limit=4)
    assert [r.delta for r in page] == [-15, 50, 40, 30]
    assert page[0].counterparty.name == "redemption"
    more = ledger.statement(book.session, member, before_id=page[-1].transfer.id, limit=4)
    assert [r.delta for r in more] == [20, 10]
    assert [r.delta for r in ledger.statement(book.session, member, kinds=["redeem"])] == [-15]
    window = ledger.statement(book.session, member, start=at(2026, 5, 2), end=at(2026, 5, 4))
    assert [r.transfer.memo for r in window] == ["day 3", "day 2"]


def test_statement_names_what_a_reversal_undid(book):
    book.earn(1, 10, NOW)
    spend = book.spend(1, 5, NOW)
    book.reverse(spend.transfer.id, NOW)
    [row] = ledger.statement(book.session, book.member(1), kinds=["reversal"])
    assert row.reverses_kind == "redeem" and row.delta == 5


def test_daily_digest_is_the_hash_of_the_last_block_sealed_that_day(book):
    book.earn(1, 10, at(2026, 5, 1, 3))
    book.seal(at(2026, 5, 1, 4))
    book.earn(1, 10, at(2026, 5, 1, 15))
    [last] = book.seal(at(2026, 5, 1, 15, 30))
    book.earn(1, 10, at(2026, 5, 1, 17))
    book.seal(at(2026, 5, 1, 18))
    first, second = book.transfers()[:2]
    assert last.prev_hash != ledger.GENESIS
    assert last.hash == ledger.block_hash(last.prev_hash, last.id, [(second.id, second.hash)])
    assert first.hash == ledger.content_hash(first)  # each transfer hashes its own content only
    assert ledger.daily_digest(book.session, at(2026, 5, 1, 16)) == last.hash
    assert ledger.daily_digest(book.session, at(2026, 4, 1)) is None
    assert book.verify().ok


def test_sharded_accounts_take_no_lock_and_keep_exact_balances(book):
    """System and merchant accounts (unguarded) move through counter shards; members' balances stay in
    their row; every reader sees the sum, and verify holds it exact."""
    from sqlalchemy import func, select

    from mall.ledger.models import Account, BalanceShard

    for n in range(1, 9):
        book.earn(n, 100, NOW)
        book.spend(n, 10, NOW)
    book.session.expire_all()
    issuer, redemption = book.issuer, book.system("redemption")
    assert issuer.sharded and redemption.sharded and not book.member(1).sharded
    assert not ledger.system_account(book.session, "game_budget").sharded  # paid from under lock: exact
    assert issuer.stored_balance == 0 and issuer.balance == -800 and redemption.balance == 80
    assert book.member(1).stored_balance == 90
    assert book.session.scalar(select(Account.balance).where(Account.id == redemption.id)) == 80
    assert book.session.scalar(select(func.count()).select_from(BalanceShard)
                               .where(BalanceShard.account_id == redemption.id)) >= 1
    assert book.verify().ok


def test_totals_by_kind(book):
    book.earn(1, 100, NOW)
    book.earn(2, 50, NOW)
    book.spend(1, 30, NOW)
    assert ledger.totals_by_kind(book.session) == {"earn": 150, "redeem": 30}


def test_system_accounts_exist_and_unknown_ones_are_refused(book):
    assert {ledger.system_account(book.session, name).owner_kind for name in ("issuance", "expiry")} == {"system"}
    with pytest.raises(ValueError):
        ledger.system_account(book.session, "printing-press")
    assert ledger.member_balance(book.session, 424242) is None
    assert book.member(1).guarded and not book.issuer.guarded

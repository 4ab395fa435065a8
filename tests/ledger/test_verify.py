"""`ledger.verify` and `flask ledger verify`: every invariant, and tampering done straight in the database."""
from datetime import timedelta

import pytest
from sqlalchemy import text

from mall.db import write
from mall.ledger import service as ledger
from tests.builders import at


@pytest.fixture
def history(book):
    """A little of everything: earns, a spend, a gift, a reversal and an expiry."""
    book.earn(1, 300, at(2026, 3, 1))
    book.earn(2, 100, at(2026, 6, 1), memo="refill station")
    book.spend(1, 50, at(2026, 7, 1))
    gift = book.gift(1, 2, 70, at(2026, 8, 1))
    book.reverse(gift.transfer.id, at(2026, 8, 2))
    book.earn(2, 10, at(2027, 2, 1))
    book.expire(at(2028, 1, 1))
    book.seal(at(2028, 1, 2))
    report = book.verify()
    assert report.ok, report.problems
    return book


def tamper(book, sql, **params):
    with write(book.session):
        book.session.execute(text(sql), params)
    book.session.expire_all()


def test_verify_reports_counts_and_the_chain_head(history):
    report = history.verify()
    transfers = history.transfers()
    assert report.transfers == len(transfers) == 9  # 6 posted + 3 lots expired
    assert report.accounts == 10  # 7 system + issuer + 2 members
    tip = ledger.tip(history.session)
    assert (report.blocks, report.last_block_id, report.unsealed) == (1, tip.id, 0)
    assert report.last_hash == tip.hash == ledger.block_hash(ledger.GENESIS, tip.id, [(t.id, t.hash) for t in transfers])


def test_an_amount_altered_in_the_database_is_caught(history, runner):
    spend = history.transfers("redeem")[0]
    tamper(history, "UPDATE ledger_transfer SET amount = amount + 1 WHERE id = :id", id=spend.id)
    report = history.verify()
    assert not report.ok
    assert f"transfer {spend.id}: hash does not match" in "\n".join(report.problems)
    assert any("credits - debits" in p for p in report.problems)
    result = runner.invoke(args=["ledger", "verify"])
    assert result.exit_code == 1
    assert "ledger BROKEN" in result.output and "BREACH" in result.output


def test_a_memo_altered_alone_breaks_the_transfers_hash(history):
    row = history.transfers("earn")[1]
    tamper(history, "UPDATE ledger_transfer SET memo = 'free points' WHERE id = :id", id=row.id)
    assert history.verify().problems == [f"transfer {row.id}: hash does not match its contents"]


def test_a_rewritten_hash_is_caught_by_its_seal_and_its_block(history):
    first = history.transfers()[0]
    tamper(history, "UPDATE ledger_transfer SET memo = 'x', hash = :h WHERE id = :id",
           id=first.id, h="f" * 64)
    problems = history.verify().problems
    assert f"transfer {first.id}: hash does not match its contents" in problems
    assert any(p.startswith(f"transfer {first.id}: hash, fingerprint or batch key altered") for p in problems)
    assert "block 1: its transfers are not the ones sealed into it (a transfer changed, moved, added or removed)" in problems


def test_a_cached_balance_altered_is_caught(history):
    member = history.member(2)
    tamper(history, "UPDATE ledger_account SET balance = balance + 1000 WHERE id = :id", id=member.id)
    problems = "\n".join(history.verify().problems)
    assert f"account {member.id}: balance" in problems
    assert "balances sum to 1000, not 0" in problems
    assert "lots hold" in problems


def test_a_lot_altered_is_caught(history):
    lot = history.all_lots()[0]
    tamper(history, "UPDATE ledger_lot SET remaining = remaining + 5 WHERE id = :id", id=lot.id)
    problems = "\n".join(history.verify().problems)
    assert f"lot {lot.id}: remaining" in problems and "lots hold" in problems


def test_a_deleted_last_transfer_is_caught_once_sealed(book):
    book.earn(1, 10, at(2026, 3, 1))
    with write(book.session):
        adjust = ledger.transfer(book.session, book.issuer, book.system("compensation"), 5, "adjust",
                                 key="adj", now=at(2026, 3, 2))
    book.seal(at(2026, 3, 3))
    tamper(book, "DELETE FROM ledger_transfer WHERE id = :id", id=adjust.transfer.id)
    problems = book.verify().problems
    assert "block 1: its transfers are not the ones sealed into it (a transfer changed, moved, added or removed)" in problems


def test_transfers_waiting_longer_than_the_lag_are_reported_until_sealed(book, app, monkeypatch):
    """Before sealing, a transfer is covered by its own seal only (its removal would not show): so the
    wait is bounded (LEDGER_SEAL_LAG_SECONDS) and reported."""
    book.earn(1, 10, at(2026, 3, 1))
    book.earn(2, 10, at(2026, 3, 1))
    first = book.transfers()[0]
    report = book.verify()
    assert report.ok and report.unsealed == 2  # posted just now: within the lag
    later = first.posted_at + timedelta(seconds=301)
    assert book.verify(now=later).problems == [
        f"2 transfer(s) unsealed for more than 300s (the oldest is transfer {first.id}): run `flask ledger seal` "
        f"(or keep `flask ledger seal --follow` running)"]
    monkeypatch.setitem(app.config, "LEDGER_SEAL_LAG_SECONDS", 3600)
    assert book.verify(now=later).ok
    monkeypatch.setitem(app.config, "LEDGER_SEAL_LAG_SECONDS", 300)
    [block] = book.seal()
    assert (block.first_transfer_id, block.last_transfer_id, block.transfers) == (first.id, first.id + 1, 2)
    report = book.verify(now=later)
    assert report.ok and report.unsealed == 0 and report.blocks == 1


def test_a_transfer_that_commits_after_a_higher_id_lands_in_a_later_block(book):
    """Ids are taken in one order and commits land in another: a transfer the sealer did not see yet
    (here, set back to unsealed as its late commit would leave it) goes into the next block, after
    higher ids, and the ledger still verifies."""
    for n in (1, 2, 3):
        book.earn(n, 10, at(2026, 3, 1))
    low, _mid, high = book.transfers()
    with write(book.session):  # the sealer runs while ``low`` is not committed yet (hidden from it here)
        book.session.execute(text("UPDATE ledger_transfer SET block_id = -1 WHERE id = :id"), {"id": low.id})
        [first] = ledger.seal_all(book.session)
        book.session.execute(text("UPDATE ledger_transfer SET block_id = NULL WHERE id = :id"), {"id": low.id})
    [second] = book.seal()
    assert (first.first_transfer_id, first.last_transfer_id, first.transfers) == (low.id + 1, high.id, 2)
    assert (second.first_transfer_id, second.last_transfer_id) == (low.id, low.id)
    assert book.verify().ok


def test_a_negative_guarded_balance_is_refused_by_the_database_itself(book):
    book.earn(1, 10, at(2026, 3, 1))
    with pytest.raises(Exception, match="(?i)check"):
        tamper(book, "UPDATE ledger_account SET balance = -1 WHERE owner_kind = 'member'")


def test_report_stops_listing_after_max_problems(history):
    tamper(history, "UPDATE ledger_transfer SET memo = memo || '!'")
    report = ledger.verify(history.session, max_problems=3)
    assert len(report.problems) == 4 and report.problems[-1] == "(stopped after 3 problems)"


def test_flask_ledger_verify_passes_on_a_sound_ledger(history, runner):
    result = runner.invoke(args=["ledger", "verify"])
    assert result.exit_code == 0, result.output
    assert "checked 9 transfers" in result.output and "ledger OK" in result.output

"""`ledger.verify` and `flask ledger verify`: every invariant, and tampering done straight in the database."""
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
    assert report.last_hash == transfers[-1].hash


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


def test_a_memo_altered_alone_breaks_the_hash_chain(history):
    row = history.transfers("earn")[1]
    tamper(history, "UPDATE ledger_transfer SET memo = 'free points' WHERE id = :id", id=row.id)
    assert history.verify().problems == [f"transfer {row.id}: hash does not match its contents and predecessor"]


def test_a_rewritten_hash_is_caught_by_its_successor(history):
    first, second = history.transfers()[:2]
    tamper(history, "UPDATE ledger_transfer SET memo = 'x', hash = :h WHERE id = :id",
           id=first.id, h="f" * 64)
    problems = history.verify().problems
    assert f"transfer {first.id}: hash does not match its contents and predecessor" in problems
    assert f"transfer {second.id}: hash does not match its contents and predecessor" in problems


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


def test_a_deleted_last_transfer_is_caught(book):
    book.earn(1, 10, at(2026, 3, 1))
    with write(book.session):
        adjust = ledger.transfer(book.session, book.issuer, book.system("compensation"), 5, "adjust",
                                 key="adj", now=at(2026, 3, 2))
    tamper(book, "DELETE FROM ledger_transfer WHERE id = :id", id=adjust.transfer.id)
    problems = book.verify().problems
    assert "the chain head does not match the last transfer (a transfer is missing)" in problems


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

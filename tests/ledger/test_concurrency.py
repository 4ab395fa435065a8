"""Real concurrency: 20 threads, each with its own app context, session and database connection,
racing on the same points. Runs on SQLite (a WAL file) and, with MALL_TEST_DATABASE_URL, on PostgreSQL."""
import threading

import pytest

from mall import create_app
from mall.db import Busy, retried, write
from mall.extensions import db
from mall.ledger import service as ledger
from mall.ledger.models import Account
from tests.builders import at, race

THREADS = 20
NOW = at(2026, 5, 1, 4)


@pytest.fixture
def race_app(app, database_url):
    """The test database again, with a pool large enough that every thread holds its own connection."""
    racing = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "RATELIMIT_ENABLED": False,
                         "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": THREADS + 2, "max_overflow": 0,
                                                       "pool_timeout": 60}})
    yield racing
    with racing.app_context():
        db.engine.dispose()


def released(app, work):
    """race() with ``work(i, start)``: each thread first reads its own copies of the accounts, then
    ``start()`` releases all of them together; what each returned, in order."""
    start = threading.Barrier(THREADS, timeout=60).wait
    return race(lambda i: work(i, start), range(THREADS), app=app, values=True)


def accounts(*ids):
    """This thread's own copies of the accounts, with no read transaction left open."""
    found = [db.session.get(Account, account_id) for account_id in ids]
    db.session.commit()
    return found


def test_twenty_threads_spending_one_balance_exactly_the_affordable_number_succeed(book, race_app):
    book.earn(1, 70, NOW)  # enough for 10 spends of 7
    member_id, sink_id = book.member(1).id, book.system("redemption").id
    book.session.commit()

    def spend(i, start):
        member, sink = accounts(member_id, sink_id)
        start()
        try:
            with write(db.session):
                if db.session.get(Account, member_id).balance < 7:  # a check-then-act caller, too
                    return "refused"
                ledger.transfer(db.session, member, sink, 7, "redeem", key=f"race:{i}", now=NOW)
            return "spent"
        except ledger.InsufficientPoints:
            return "refused"

    results = released(race_app, spend)
    assert results.count("spent") == 10 and results.count("refused") == 10
    assert book.balance(1) == 0
    assert book.system("redemption").balance == 70
    assert book.verify().ok


def test_twenty_threads_replaying_one_key_move_points_once(book, race_app):
    member_id, issuer_id = book.member(1).id, book.issuer_id
    book.session.commit()

    def claim(i, start):
        issuer, member = accounts(issuer_id, member_id)
        start()
        with write(db.session):
            posting = ledger.transfer(db.session, issuer, member, 100, "earn", key="purchase:1", now=NOW)
            return posting.transfer.id, posting.replayed

    results = released(race_app, claim)
    assert len({transfer_id for transfer_id, _ in results}) == 1
    assert sorted(replayed for _, replayed in results) == [False] + [True] * (THREADS - 1)
    assert book.balance(1) == 100
    assert book.verify().ok


def test_use_cases_locking_their_accounts_first_never_deadlock(book, race_app):
    """Two postings per use case, to two members in opposite orders: the use case locks both accounts
    first (``lock_accounts``, id order, the canonical order), so none waits on another in a cycle."""
    book.earn(1, 1000, NOW)
    book.earn(2, 1000, NOW)
    ids = book.member(1).id, book.member(2).id, book.system("redemption").id
    book.session.commit()

    def two_spends(i, start):
        first, second, sink = accounts(*ids)
        if i % 2:
            first, second = second, first
        start()
        with write(db.session):  # one use case, two postings, the members in opposite orders
            ledger.lock_accounts(db.session, [first.id, second.id])
            ledger.transfer(db.session, first, sink, 3, "redeem", key=f"a:{i}", now=NOW)
            ledger.transfer(db.session, second, sink, 4, "redeem", key=f"b:{i}", now=NOW)
        return "done"

    assert released(race_app, two_spends) == ["done"] * THREADS
    assert book.balance(1) + book.balance(2) == 2000 - THREADS * 7
    assert book.system("redemption").balance == THREADS * 7  # no lock on it: its shards add up
    assert book.verify().ok


def test_use_cases_posting_in_opposite_orders_without_locking_first_are_retried(book, race_app):
    """The same without locking first: on PostgreSQL the postings' own locks can meet in a cycle; the
    deadlock rolls one use case back whole and ``retried`` (the edge's loop) runs it again. A use
    case still refused after its retries (Busy) wrote nothing."""
    book.earn(1, 1000, NOW)
    book.earn(2, 1000, NOW)
    ids = book.member(1).id, book.member(2).id, book.system("redemption").id
    book.session.commit()

    def two_spends(i, start):
        first, second, sink = accounts(*ids)
        if i % 2:
            first, second = second, first
        start()

        def use_case():
            ledger.transfer(db.session, first, sink, 3, "redeem", key=f"a:{i}", now=NOW)
            ledger.transfer(db.session, second, sink, 4, "redeem", key=f"b:{i}", now=NOW)
        try:
            retried(db.session, use_case)
        except Busy:
            return "busy"
        return "done"

    results = released(race_app, two_spends)
    done = results.count("done")
    # 20 use cases on the same two rows in opposite orders is the worst case: many exhaust their retries
    # (a deadlock's victim rolls back, its rival goes on); each either moved all its points or none.
    assert done + results.count("busy") == THREADS and done >= 1
    assert book.balance(1) + book.balance(2) == 2000 - done * 7
    assert book.verify().ok


def test_expiry_running_beside_redemptions_is_safe(book, race_app):
    members = range(1, 11)
    for n in members:
        book.earn(n, 50, at(2024, 6, 1))  # expired on 2026-01-01
        book.earn(n, 50, at(2026, 4, 1))  # valid
    member_ids = [book.member(n).id for n in members]
    sink_id = book.system("redemption").id
    book.session.commit()

    def work(i, start):
        if i == 0:
            start()
            total = 0
            while True:
                with write(db.session):
                    done = ledger.expire(db.session, NOW, batch=2)
                total += done
                if not done:
                    return ("expired", total)
        member, sink = accounts(member_ids[i % 10], sink_id)
        start()
        try:
            with write(db.session):
                ledger.transfer(db.session, member, sink, 30, "redeem", key=f"spend:{i}", now=NOW)
            return ("spent", i % 10)
        except ledger.InsufficientPoints:
            return ("refused", i % 10)

    results = released(race_app, work)
    spent = [who for what, who in results if what == "spent"]
    assert sorted(spent) == list(range(10))  # each member affords exactly one spend of 30 from 50 valid
    assert [what for what, _ in results].count("refused") == THREADS - 1 - 10
    assert book.system("expiry").balance == 500  # every expired lot went exactly once, by either path
    assert all(book.balance(n) == 20 for n in members)
    assert book.verify().ok


def test_reading_a_balance_under_the_ledger_lock_then_spending_it(book, race_app):
    """A bill-payment style use case: pay with min(asked, balance), read under ledger.lock_accounts."""
    book.earn(1, 100, NOW)
    book.earn(2, 100, NOW)
    ids = book.member(1).id, book.member(2).id, book.system("redemption").id
    book.session.commit()

    def pay_what_you_can(i, start):
        start()
        with write(db.session):
            wallet_id = ids[i % 2]
            wallet = ledger.lock_accounts(db.session, [wallet_id])[wallet_id]
            points = min(15, wallet.balance)
            if points == 0:
                return 0
            ledger.transfer(db.session, wallet, db.session.get(Account, ids[2]), points, "bill",
                            key=f"bill:{i}", now=NOW)
            return points

    paid = released(race_app, pay_what_you_can)
    assert sorted(paid) == [0] * 6 + [10] * 2 + [15] * 12  # per wallet: 6 x 15, then 10, then nothing
    assert (book.balance(1), book.balance(2)) == (0, 0)
    assert book.verify().ok

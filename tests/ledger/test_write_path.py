"""The write path's economy (issue 16, "less work per posting"): what a posting, a claim of an
idempotency key, a commit and a repeated task completion send to the database. Statement shapes,
not timings: each test fails if the extra round trip it guards against comes back (the engage area's
refusal of a completed task before any lock is tested with the tasks)."""
from contextlib import contextmanager
from datetime import datetime, timezone

from sqlalchemy import event, select

from mall import idempotency
from mall.db import is_postgres, write
from mall.errors import Conflict
from mall.extensions import db
from mall.ledger import service as ledger
from mall.ledger.models import Transfer
from tests.builders import make_merchant

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)


@contextmanager
def statements(session):
    """Every statement the session's engine sends meanwhile, upper-cased and on one line (but SQLite's
    BEGIN, which the engine sends itself)."""
    sent = []

    def record(conn, cursor, sql, params, context, executemany):
        if not sql.startswith("BEGIN"):
            sent.append(" ".join(sql.split()).upper())

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_a_posting_writes_each_row_whole_in_one_statement_per_table(book):
    """The ids of a posting's rows are drawn first (PostgreSQL's sequences; SQLite's single writer takes
    the next ones), so each row is sealed before it is written: one INSERT per table, no UPDATE of a
    new row afterwards, one UPDATE of the lots drawn and one of the member's balance. The rows verify."""
    book.earn(1, 500, NOW)
    with statements(db.session) as sent:
        posting = book.spend(1, 120, NOW)
    verbs = [" ".join(s.split()[:3]) for s in sent if s.split()[0] in ("INSERT", "UPDATE", "DELETE")]
    assert sorted(verbs) == sorted(["INSERT INTO LEDGER_TRANSFER", "INSERT INTO LEDGER_LOT_DRAW",
                                    "UPDATE LEDGER_LOT SET", "UPDATE LEDGER_ACCOUNT SET",
                                    "INSERT INTO LEDGER_BALANCE_SHARD"])
    assert sum("NEXTVAL" in s for s in sent) == (1 if is_postgres(db.session) else 0)
    row = db.session.get(Transfer, posting.transfer.id)
    assert row.hash and row.mac and row.amount == 120
    assert book.balance(1) == 380
    book.seal()
    assert book.verify().ok


def test_a_posting_is_few_statements(book):
    """A redemption from a member: lock, key check, open lots, ids, four writes and the shard (nine);
    the ORM's unit of work would add a flush round per kind of row."""
    book.earn(1, 500, NOW)
    member, redemption = book.member(1), book.system("redemption")
    with statements(db.session) as sent, write(db.session):
        ledger.transfer(db.session, member, redemption, 120, "redeem", key="few", now=NOW)
    assert len(sent) <= 9, "\n".join(s[:90] for s in sent)
    assert book.balance(1) == 380


def test_a_two_leg_posting_draws_its_ids_in_one_statement(book):
    book.earn(1, 500, NOW)
    with statements(db.session) as sent, write(db.session):
        posting = ledger.post(db.session, key="two-legs", now=NOW, legs=[
            ledger.Leg(book.member(1), book.member(2), 50, "gift"),
            ledger.Leg(book.member(1), book.system("redemption"), 70, "redeem"),
        ])
    assert len(posting.transfers) == 2
    if is_postgres(db.session):
        assert sum("NEXTVAL" in s for s in sent) == 1
        assert not any(s.startswith("UPDATE LEDGER_TRANSFER") for s in sent)
    assert book.balance(1) == 380 and book.balance(2) == 50
    book.seal()
    assert book.verify().ok


def test_a_commit_keeps_what_the_session_holds(book):
    """A use case's commit does not expire the session: reading an account it wrote sends nothing. A
    rollback (a refusal, a retry) still expires everything."""
    book.earn(1, 300, NOW)
    account = book.member(1)
    with write(db.session):
        account.frozen = account.frozen  # a write of nothing, committed
    with statements(db.session) as sent:
        assert account.owner_kind == "member"
    assert sent == []
    try:
        with write(db.session):
            raise Conflict("refused")
    except Conflict:
        pass
    with statements(db.session) as sent:
        assert account.owner_kind == "member"
    assert any(s.startswith("SELECT") for s in sent)


def test_claiming_a_new_idempotency_key_is_one_statement(app):
    shop = make_merchant(app)
    with app.app_context():
        with statements(db.session) as sent, write(db.session):
            claimed = idempotency.claim(db.session, shop, "op", "key-1", b"{}")
        assert not claimed.replay and claimed.record.id
        assert [s.split(" ", 1)[0] for s in sent] == ["INSERT"]
        assert "ON CONFLICT" in sent[0]
        with write(db.session):  # the same key again: judged against the stored record, not claimed twice
            idempotency.complete(db.session, claimed.record.id, 201, '{"ok": true}')
        with write(db.session):
            again = idempotency.claim(db.session, shop, "op", "key-1", b"{}")
        assert again.replay and again.record.body == '{"ok": true}'
        rows = db.session.scalars(select(idempotency.IdempotencyRecord.id).where(
            idempotency.IdempotencyRecord.key == "key-1")).all()
        assert rows == [claimed.record.id]

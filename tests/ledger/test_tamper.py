"""Tampering done straight in the database that the hash chain alone cannot show: whose points they
are, when they expire, the keys that make postings idempotent, and the chain's own end. Each is
caught by the rows' seals or by the checkpoints kept outside the database."""
import json
import os
import stat

import pytest
from sqlalchemy import bindparam, select, text

from mall import config as cfg
from mall.db import write
from mall.extensions import db
from mall.ledger import service as ledger
from mall.ledger.models import Account, LedgerHead, LotDraw, Transfer
from mall.models import UTCDateTime
from tests.builders import at


def tamper(book, sql, **params):
    """Run ``sql`` straight on the tables; ``:when`` is bound as the models store an instant."""
    statement = text(sql).bindparams(bindparam("when", type_=UTCDateTime())) if "when" in params else text(sql)
    with write(book.session):
        book.session.execute(statement, params)
    book.session.expire_all()


@pytest.fixture
def history(book):
    """Two members each with an equal, untouched lot (earned 2026, expiring end of 2027), spends and a
    gift drawn from older lots (expiring end of 2026), so the gift's lot has an origin."""
    book.earn(1, 50, at(2025, 6, 1))
    book.earn(2, 40, at(2025, 6, 1))
    book.earn(1, 100, at(2026, 3, 1))
    book.earn(2, 100, at(2026, 3, 1))
    book.gift(1, 2, 30, at(2026, 5, 1))
    book.spend(2, 10, at(2026, 6, 1))
    book.spend(1, 20, at(2026, 7, 1))
    report = book.verify()
    assert report.ok, report.problems
    return book


def lot_of(book, n, **where):
    """The member's first lot matching ``where`` (e.g. amount=100)."""
    account = book.member(n)
    return next(lot for lot in book.all_lots()
                if lot.account_id == account.id and all(getattr(lot, k) == v for k, v in where.items()))


def owner_changed(book):
    account = book.member(2).id
    tamper(book, "UPDATE ledger_account SET owner_id = 99 WHERE id = :id", id=account)
    return f"account {account}: owner (member 99)"


def accounts_swapped(book):
    one, two = book.member(1).id, book.member(2).id
    tamper(book, "UPDATE ledger_account SET owner_id = -1 WHERE id = :id", id=one)
    tamper(book, "UPDATE ledger_account SET owner_id = 1 WHERE id = :id", id=two)
    tamper(book, "UPDATE ledger_account SET owner_id = 2 WHERE id = :id", id=one)
    return [f"account {one}: owner (member 2)", f"account {two}: owner (member 1)"]


def account_renamed(book):
    account = book.member(1).id
    tamper(book, "UPDATE ledger_account SET name = 'pool' WHERE id = :id", id=account)
    return f"account {account}: owner (member 1) or name ('pool')"


def account_unguarded(book):
    account = book.member(1).id
    tamper(book, "UPDATE ledger_account SET guarded = false WHERE id = :id", id=account)
    return f"account {account}: guarded flag set to False"


def account_frozen(book):
    account = book.member(2).id
    tamper(book, "UPDATE ledger_account SET frozen = true WHERE id = :id", id=account)
    return f"account {account}: frozen flag set to True outside a fraud case"


def expiry_later(book):
    lot = lot_of(book, 1, amount=100)
    tamper(book, "UPDATE ledger_lot SET expires_at = :when WHERE id = :id",
           id=lot.id, when=lot.expires_at.replace(year=lot.expires_at.year + 10))
    return f"lot {lot.id}: account, transfer, amount, expiry or origin lot altered"


def expiry_past(book):
    lot = lot_of(book, 2, amount=100)
    tamper(book, "UPDATE ledger_lot SET expires_at = :when WHERE id = :id", id=lot.id, when=at(2026, 3, 2))
    return f"lot {lot.id}: account, transfer, amount, expiry or origin lot altered"


def lot_transfer_changed(book):
    lot = lot_of(book, 1, amount=100)
    other = book.transfers("earn")[3]  # member 2's equal earn
    tamper(book, "UPDATE ledger_lot SET transfer_id = :t WHERE id = :id", id=lot.id, t=other.id)
    return f"lot {lot.id}: account, transfer, amount, expiry or origin lot altered"


def lot_origin_changed(book):
    gifted = next(lot for lot in book.all_lots() if lot.origin_lot_id is not None)
    other = lot_of(book, 1, amount=100)
    tamper(book, "UPDATE ledger_lot SET origin_lot_id = :o WHERE id = :id", id=gifted.id, o=other.id)
    return f"lot {gifted.id}: account, transfer, amount, expiry or origin lot altered"


def equal_lots_swapped(book):
    mine, theirs = lot_of(book, 1, amount=100), lot_of(book, 2, amount=100)
    assert (mine.amount, mine.remaining, mine.expires_at) == (theirs.amount, theirs.remaining, theirs.expires_at)
    tamper(book, "UPDATE ledger_lot SET account_id = CASE WHEN id = :a THEN :y ELSE :x END WHERE id IN (:a, :b)",
           a=mine.id, b=theirs.id, x=mine.account_id, y=theirs.account_id)
    return [f"lot {mine.id}: account", f"lot {theirs.id}: account"]


def draw_moved(book):
    draw = book.session.scalars(select(LotDraw.id).order_by(LotDraw.id)).first()  # the gift's
    other = book.transfers("redeem")[-1]
    tamper(book, "UPDATE ledger_lot_draw SET transfer_id = :t WHERE id = :id", id=draw, t=other.id)
    return f"lot draw {draw}: transfer, lot or amount altered"


def batch_key_changed(book):
    spend = book.transfers("redeem")[0]
    tamper(book, "UPDATE ledger_transfer SET batch_key = 'someone-else' WHERE id = :id", id=spend.id)
    return f"transfer {spend.id}: hash, fingerprint or batch key altered"


def fingerprint_changed(book):
    spend = book.transfers("redeem")[0]
    tamper(book, "UPDATE ledger_transfer SET fingerprint = :f WHERE id = :id", id=spend.id, f="0" * 64)
    return f"transfer {spend.id}: hash, fingerprint or batch key altered"


def forged_append(book):
    """An earn of 1,000 points to member 1 written as the ledger would: the next id, the public hash
    over the head, the head moved, both balances and a lot. Only the seals are beyond reach (one is
    copied from the last transfer). A checkpoint taken just before does not name it."""
    take_checkpoint(book)
    head = book.session.get(LedgerHead, 1)
    last = book.session.get(Transfer, head.last_transfer_id)
    member = book.member(1)
    row = Transfer(id=last.id + 1, debit_account_id=book.issuer_id, credit_account_id=member.id, amount=1000,
                   kind="earn", idempotency_key="forged", batch_key="forged", fingerprint="0" * 64, actor_id=None,
                   ref_type=None, ref_id=None, memo="", reverses_id=None, created_at=at(2026, 8, 1))
    digest = ledger.chain_hash(head.last_hash, row)
    tamper(book, "INSERT INTO ledger_transfer (id, debit_account_id, credit_account_id, amount, kind, idempotency_key, "
                 "batch_key, fingerprint, memo, created_at, hash, mac) VALUES (:id, :d, :c, 1000, 'earn', 'forged', "
                 "'forged', :f, '', :when, :h, :mac)",
           id=row.id, d=book.issuer_id, c=member.id, f="0" * 64, when=row.created_at, h=digest, mac=last.mac)
    tamper(book, "UPDATE ledger_head SET last_transfer_id = :id, last_hash = :h", id=row.id, h=digest)
    tamper(book, "UPDATE ledger_account SET balance = balance - 1000 WHERE id = :id", id=book.issuer_id)
    tamper(book, "UPDATE ledger_account SET balance = balance + 1000 WHERE id = :id", id=member.id)
    first_lot = lot_of(book, 1, amount=100)
    tamper(book, "INSERT INTO ledger_lot (account_id, transfer_id, amount, remaining, expires_at, mac) "
                 "VALUES (:a, :t, 1000, 1000, :when, :mac)", a=member.id, t=row.id, when=first_lot.expires_at,
           mac=first_lot.mac)
    return [f"transfer {row.id}: hash, fingerprint or batch key altered, or not posted by the ledger",
            "lot", "altered"]


def last_posting_removed(book):
    """The newest spend undone everywhere: its draws given back to their lots, the balances restored,
    the transfer deleted and the head set back to the one before. It was checkpointed."""
    take_checkpoint(book)
    last, before = book.transfers()[-2:][::-1]
    last_id, before_id, before_hash = last.id, before.id, before.hash
    draws = book.session.execute(text("SELECT lot_id, amount FROM ledger_lot_draw WHERE transfer_id = :t"),
                                 {"t": last_id}).all()
    for lot_id, amount in draws:
        tamper(book, "UPDATE ledger_lot SET remaining = remaining + :n WHERE id = :id", id=lot_id, n=amount)
    tamper(book, "DELETE FROM ledger_lot_draw WHERE transfer_id = :t", t=last_id)
    tamper(book, "UPDATE ledger_account SET balance = balance + :n WHERE id = :id", id=last.debit_account_id,
           n=last.amount)
    tamper(book, "UPDATE ledger_account SET balance = balance - :n WHERE id = :id", id=last.credit_account_id,
           n=last.amount)
    tamper(book, "DELETE FROM ledger_transfer WHERE id = :id", id=last_id)
    tamper(book, "UPDATE ledger_head SET last_transfer_id = :id, last_hash = :h", id=before_id, h=before_hash)
    return [f"checkpoint line 1: transfer {last_id} is missing",
            f"the chain ends at transfer {before_id}, before the newest checkpoint's transfer {last_id}"]


def take_checkpoint(book):
    with write(book.session):
        record, written = ledger.checkpoint(book.session)
    assert written
    return record


CASES = [owner_changed, accounts_swapped, account_renamed, account_unguarded, account_frozen,
         expiry_later, expiry_past, lot_transfer_changed, lot_origin_changed, equal_lots_swapped, draw_moved,
         batch_key_changed, fingerprint_changed, forged_append, last_posting_removed]


@pytest.mark.parametrize("case", CASES, ids=[case.__name__ for case in CASES])
def test_tampering_is_reported_by_verify_and_the_command(history, runner, case):
    expected = case(history)
    expected = [expected] if isinstance(expected, str) else expected
    report = history.verify()
    problems = "\n".join(report.problems)
    assert not report.ok
    for text_ in expected:
        assert text_ in problems, problems
    result = runner.invoke(args=["ledger", "verify"])
    assert result.exit_code == 1
    assert "ledger BROKEN" in result.output and "BREACH" in result.output
    assert expected[0] in result.output


def test_the_tampering_above_does_not_move_balances_or_break_the_chain(history):
    """Why each case needed a seal: none of them shows in balances, lot remainders or chain hashes."""
    equal_lots_swapped(history)
    account_frozen(history)
    batch_key_changed(history)
    problems = history.verify().problems
    assert problems and all("seal does not match" in p for p in problems)


# ---------------------------------------------------------------- checkpoints

def checkpoint_lines(app):
    path = app.config["LEDGER_CHECKPOINT_FILE"]
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_checkpoint_appends_the_sealed_head_once_until_it_moves(history, runner, app):
    first = runner.invoke(args=["ledger", "checkpoint"])
    assert first.exit_code == 0 and "checkpoint written" in first.output
    again = runner.invoke(args=["ledger", "checkpoint"])
    assert again.exit_code == 0 and "unchanged since the last checkpoint" in again.output
    [record] = checkpoint_lines(app)
    last = history.transfers()[-1]
    assert (record["transfer_id"], record["hash"]) == (last.id, last.hash)
    assert set(record) == {"transfer_id", "hash", "at", "seal"}

    history.earn(1, 5, at(2026, 9, 1))
    assert runner.invoke(args=["ledger", "checkpoint"]).exit_code == 0
    records = checkpoint_lines(app)
    assert len(records) == 2 and records[1]["transfer_id"] == history.transfers()[-1].id
    result = runner.invoke(args=["ledger", "verify"])
    assert result.exit_code == 0, result.output
    assert "held to 2 checkpoint(s)" in result.output


def test_a_checkpoint_altered_in_its_file_is_caught(history, app):
    take_checkpoint(history)
    path = app.config["LEDGER_CHECKPOINT_FILE"]
    [record] = checkpoint_lines(app)
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps({**record, "transfer_id": record["transfer_id"] - 1}) + "\n")
        f.write("not a record\n")
    problems = history.verify().problems
    assert problems == ["checkpoint line 1: seal does not match (forged or altered)",
                        "checkpoint line 2: not a checkpoint record"]


def test_a_history_rewritten_under_a_checkpoint_is_caught(history):
    """Every hash from the altered transfer on recomputed: the checkpoint names the old one."""
    take_checkpoint(history)
    transfers = history.transfers()
    tamper(history, "UPDATE ledger_transfer SET memo = 'rewritten' WHERE id = :id", id=transfers[2].id)
    prev = transfers[1].hash
    for t in history.transfers()[2:]:
        history.session.refresh(t)
        prev = ledger.chain_hash(prev, t)
        tamper(history, "UPDATE ledger_transfer SET hash = :h WHERE id = :id", id=t.id, h=prev)
    tamper(history, "UPDATE ledger_head SET last_hash = :h", h=prev)
    problems = history.verify().problems
    assert not any("hash does not match its contents" in p for p in problems)  # the chain itself is whole
    assert (f"checkpoint line 1: transfer {transfers[-1].id} no longer has the hash checkpointed "
            f"(history rewritten)") in problems


def test_checkpoint_refuses_a_head_the_ledger_did_not_seal(history, runner, app):
    forged_append(history)
    result = runner.invoke(args=["ledger", "checkpoint"])
    assert result.exit_code == 1 and "checkpoint refused" in result.output
    assert len(checkpoint_lines(app)) == 1  # only the one taken before the forgery


def test_checkpoint_refuses_a_chain_shorter_than_its_newest_checkpoint(history, runner, app):
    last_posting_removed(history)
    result = runner.invoke(args=["ledger", "checkpoint"])
    assert result.exit_code == 1 and "before the newest checkpoint's transfer" in result.output
    assert len(checkpoint_lines(app)) == 1


def test_transparency_publishes_the_newest_checkpoints(app, client):
    """Requests outside the test's own app context, so each one picks its language afresh."""
    assert "No checkpoints yet." in client.get("/transparency").get_data(as_text=True)
    with app.app_context():
        with write(db.session):
            issuer = ledger.open_account(db.session, "merchant", 1, "issuance")
            ledger.transfer(db.session, issuer, ledger.member_account(db.session, 1), 10, "earn", key="e")
        record, _ = ledger.checkpoint(db.session)
        db.session.remove()
    html = client.get("/transparency").get_data(as_text=True)
    assert record["hash"] in html and record["seal"] in html and "Ledger checkpoints" in html
    chinese = app.test_client().get("/transparency").get_data(as_text=True)  # the Chinese default
    assert "账本检查点" in chinese and record["hash"] in chinese


# ---------------------------------------------------------------- the key

def test_the_development_key_is_generated_once_readable_only_by_its_owner(tmp_path):
    first = cfg.ledger_key({"PRODUCTION": False}, str(tmp_path))
    assert cfg.ledger_key({"PRODUCTION": False}, str(tmp_path)) == first and len(first) == 64
    assert stat.S_IMODE(os.stat(tmp_path / "ledger.key").st_mode) == 0o600
    assert cfg.ledger_key({"PRODUCTION": False, "LEDGER_KEY": "from-env"}, str(tmp_path)) == "from-env"


def test_production_has_no_fallback_key(tmp_path):
    with pytest.raises(RuntimeError, match="LEDGER_KEY must be set in production"):
        cfg.ledger_key({"PRODUCTION": True}, str(tmp_path))
    assert not (tmp_path / "ledger.key").exists()


def test_rows_sealed_with_another_key_do_not_verify(history, app, monkeypatch):
    """The seal is the key's: a database copied under another key (or forged without it) fails."""
    with monkeypatch.context() as patch:
        patch.setitem(app.config, "LEDGER_KEY", "another-key")
        problems = history.verify().problems
    accounts = history.session.query(Account).count()
    assert sum(p.startswith("account ") and "seal does not match" in p for p in problems) == accounts
    assert any(p.startswith("lot ") for p in problems) and any(p.startswith("lot draw ") for p in problems)
    assert history.verify().ok

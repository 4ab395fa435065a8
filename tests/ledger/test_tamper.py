"""Tampering done straight in the database with sealed history: what hashes alone cannot show (whose
points they are, when they expire, the keys that make postings idempotent, the chain's own end), and
transfers and blocks changed, moved, added or removed. Each is caught by the rows' seals, by the
blocks, or by the checkpoints kept outside the database; a sealer that stopped is reported too."""
import json
import os
import stat
from datetime import timedelta

import pytest
from sqlalchemy import bindparam, select, text

from mall import config as cfg
from mall.db import write
from mall.extensions import db
from mall.ledger import service as ledger
from mall.ledger.models import Account, Block, LotDraw, Transfer
from mall.models import UTCDateTime, utcnow
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
    gift drawn from older lots (expiring end of 2026), so the gift's lot has an origin. All of it
    sealed: block 1 holds everything but the last spend, block 2 that spend alone."""
    book.earn(1, 50, at(2025, 6, 1))
    book.earn(2, 40, at(2025, 6, 1))
    book.earn(1, 100, at(2026, 3, 1))
    book.earn(2, 100, at(2026, 3, 1))
    book.gift(1, 2, 30, at(2026, 5, 1))
    book.spend(2, 10, at(2026, 6, 1))
    book.seal(at(2026, 6, 2))
    book.spend(1, 20, at(2026, 7, 1))
    book.seal(at(2026, 7, 2))
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
    """An earn of 1,000 points to member 1 written as the ledger would: the next id, the public content
    hash, both balances and a lot. Only the seals are beyond reach (one is copied from the last
    transfer). It waits for the sealer, which refuses it (see test_the_sealer_refuses_a_forged_transfer)."""
    take_checkpoint(book)
    last = book.transfers()[-1]
    member = book.member(1)
    row = Transfer(id=last.id + 1, debit_account_id=book.issuer_id, credit_account_id=member.id, amount=1000,
                   kind="earn", idempotency_key="forged", batch_key="forged", fingerprint="0" * 64, actor_id=None,
                   ref_type=None, ref_id=None, memo="", reverses_id=None, created_at=at(2026, 8, 1))
    digest = ledger.content_hash(row)
    tamper(book, "INSERT INTO ledger_transfer (id, debit_account_id, credit_account_id, amount, kind, idempotency_key, "
                 "batch_key, fingerprint, memo, created_at, hash, mac) VALUES (:id, :d, :c, 1000, 'earn', 'forged', "
                 "'forged', :f, '', :when, :h, :mac)",
           id=row.id, d=book.issuer_id, c=member.id, f="0" * 64, when=row.created_at, h=digest, mac=last.mac)
    tamper(book, "UPDATE ledger_account SET balance = balance - 1000 WHERE id = :id", id=book.issuer_id)
    tamper(book, "UPDATE ledger_account SET balance = balance + 1000 WHERE id = :id", id=member.id)
    first_lot = lot_of(book, 1, amount=100)
    tamper(book, "INSERT INTO ledger_lot (account_id, transfer_id, amount, remaining, expires_at, mac) "
                 "VALUES (:a, :t, 1000, 1000, :when, :mac)", a=member.id, t=row.id, when=first_lot.expires_at,
           mac=first_lot.mac)
    return [f"transfer {row.id}: hash, fingerprint or batch key altered, or not posted by the ledger",
            "lot", "altered"]


def _undo(book, t):
    """Undo a spend everywhere but in the blocks: draws given back to their lots, balances restored,
    the transfer deleted."""
    draws = book.session.execute(text("SELECT lot_id, amount FROM ledger_lot_draw WHERE transfer_id = :t"),
                                 {"t": t.id}).all()
    for lot_id, amount in draws:
        tamper(book, "UPDATE ledger_lot SET remaining = remaining + :n WHERE id = :id", id=lot_id, n=amount)
    tamper(book, "DELETE FROM ledger_lot_draw WHERE transfer_id = :t", t=t.id)
    tamper(book, "UPDATE ledger_account SET balance = balance + :n WHERE id = :id", id=t.debit_account_id, n=t.amount)
    tamper(book, "UPDATE ledger_account SET balance = balance - :n WHERE id = :id", id=t.credit_account_id, n=t.amount)
    tamper(book, "DELETE FROM ledger_transfer WHERE id = :id", id=t.id)


def last_posting_removed(book):
    """The newest spend undone everywhere, and the block that sealed it deleted: the chain of blocks
    is whole again, one block shorter. It was checkpointed."""
    take_checkpoint(book)
    last = book.transfers()[-1]
    block = last.block_id
    _undo(book, last)
    tamper(book, "DELETE FROM ledger_block WHERE id = :id", id=block)
    return [f"checkpoint line 1: block {block} is missing (blocks removed)"]


def sealed_transfer_removed(book):
    """A spend in the middle of block 1 undone everywhere: balances, lots and seals all hold."""
    spend = book.transfers("redeem")[0]
    assert spend.block_id == 1
    _undo(book, spend)
    return ["block 1: its transfers are not the ones sealed into it"]


def transfer_moved_to_another_block(book):
    moved = book.transfers()[0]
    tamper(book, "UPDATE ledger_transfer SET block_id = 2 WHERE id = :id", id=moved.id)
    return ["block 1: its transfers are not the ones sealed into it",
            "block 2: its transfers are not the ones sealed into it"]


def transfer_unsealed(book):
    """A sealed transfer set back to waiting for the sealer, as if never sealed."""
    moved = book.transfers()[0]
    tamper(book, "UPDATE ledger_transfer SET block_id = NULL WHERE id = :id", id=moved.id)
    return ["block 1: its transfers are not the ones sealed into it"]


def transfer_inserted_into_sealed_block(book):
    """A forged earn (copied seal) slipped into block 1, balances and all."""
    last, member = book.transfers()[-1], book.member(1)
    row = Transfer(id=last.id + 1, debit_account_id=book.issuer_id, credit_account_id=member.id, amount=7,
                   kind="earn", idempotency_key="slipped", batch_key="slipped", fingerprint="0" * 64, actor_id=None,
                   ref_type=None, ref_id=None, memo="", reverses_id=None, created_at=at(2026, 5, 2))
    tamper(book, "INSERT INTO ledger_transfer (id, debit_account_id, credit_account_id, amount, kind, idempotency_key, "
                 "batch_key, fingerprint, memo, created_at, hash, mac, block_id) VALUES (:id, :d, :c, 7, 'earn', "
                 "'slipped', 'slipped', :f, '', :when, :h, :mac, 1)",
           id=row.id, d=book.issuer_id, c=member.id, f="0" * 64, when=row.created_at, h=ledger.content_hash(row),
           mac=last.mac)
    return ["block 1: its transfers are not the ones sealed into it", f"transfer {row.id}: hash, fingerprint"]


def block_altered(book):
    tamper(book, "UPDATE ledger_block SET last_transfer_id = last_transfer_id - 1 WHERE id = 1")
    return ["block 1: its links or range were altered, or it was not sealed by the ledger",
            "block 1: its transfers are not the ones sealed into it"]


def block_deleted(book):
    tamper(book, "DELETE FROM ledger_block WHERE id = 1")
    first = book.transfers()[0].id
    return [f"transfer {first}: claims block 1, which does not exist",
            "block 2: does not link to the block before it"]


def forged_block(book):
    """The unsealed forged earn above sealed into a block of its own, as the sealer would, but for the
    block's seal (copied from the tip)."""
    forged_append(book)
    tip = book.session.scalar(select(Block).order_by(Block.id.desc()).limit(1))
    row = book.session.scalar(select(Transfer).order_by(Transfer.id.desc()).limit(1))
    digest = ledger.block_hash(tip.hash, tip.id + 1, [(row.id, row.hash)])
    tamper(book, "INSERT INTO ledger_block (id, prev_hash, hash, first_transfer_id, last_transfer_id, transfers, "
                 "sealed_at, mac) VALUES (:id, :prev, :h, :t, :t, 1, :when, :mac)",
           id=tip.id + 1, prev=tip.hash, h=digest, t=row.id, when=at(2026, 8, 2), mac=tip.mac)
    tamper(book, "UPDATE ledger_transfer SET block_id = :b WHERE id = :id", b=tip.id + 1, id=row.id)
    return [f"block {tip.id + 1}: its links or range were altered, or it was not sealed by the ledger"]


def sealer_stopped(book):
    """Not tampering: a posting no sealer took for an hour (LEDGER_SEAL_LAG_SECONDS is 300)."""
    book.earn(1, 5, at(2026, 8, 1))
    last = book.transfers()[-1]
    tamper(book, "UPDATE ledger_transfer SET posted_at = :when WHERE id = :id", id=last.id,
           when=utcnow() - timedelta(hours=1))
    return [f"1 transfer(s) unsealed for more than 300s (the oldest is transfer {last.id})"]


def take_checkpoint(book):
    with write(book.session):
        record, written = ledger.checkpoint(book.session)
    assert written
    return record


CASES = [owner_changed, accounts_swapped, account_renamed, account_unguarded, account_frozen,
         expiry_later, expiry_past, lot_transfer_changed, lot_origin_changed, equal_lots_swapped, draw_moved,
         batch_key_changed, fingerprint_changed, forged_append, last_posting_removed, sealed_transfer_removed,
         transfer_moved_to_another_block, transfer_unsealed, transfer_inserted_into_sealed_block, block_altered,
         block_deleted, forged_block, sealer_stopped]


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
    tip = ledger.tip(history.session)
    assert (record["block_id"], record["hash"]) == (tip.id, tip.hash) == (2, history.verify().last_hash)
    assert set(record) == {"block_id", "hash", "at", "seal"}

    history.earn(1, 5, at(2026, 9, 1))
    again = runner.invoke(args=["ledger", "checkpoint"])
    assert again.exit_code == 0 and "unchanged since the last checkpoint" in again.output  # not sealed yet
    sealed = runner.invoke(args=["ledger", "seal"])
    assert sealed.exit_code == 0 and "sealed 1 transfer(s) in 1 block(s)" in sealed.output
    assert runner.invoke(args=["ledger", "checkpoint"]).exit_code == 0
    records = checkpoint_lines(app)
    assert len(records) == 2 and records[1]["block_id"] == 3
    result = runner.invoke(args=["ledger", "verify"])
    assert result.exit_code == 0, result.output
    assert "held to 2 checkpoint(s)" in result.output


def test_a_checkpoint_altered_in_its_file_is_caught(history, app):
    take_checkpoint(history)
    path = app.config["LEDGER_CHECKPOINT_FILE"]
    [record] = checkpoint_lines(app)
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps({**record, "block_id": record["block_id"] - 1}) + "\n")
        f.write("not a record\n")
    problems = history.verify().problems
    assert problems == ["checkpoint line 1: seal does not match (forged or altered)",
                        "checkpoint line 2: not a checkpoint record"]


def test_a_history_rewritten_under_a_checkpoint_is_caught(history):
    """The altered transfer's hash and every block hash from its block on recomputed: the checkpoint
    names the old tip."""
    take_checkpoint(history)
    transfers = history.transfers()
    tamper(history, "UPDATE ledger_transfer SET memo = 'rewritten' WHERE id = :id", id=transfers[2].id)
    history.session.refresh(transfers[2])
    tamper(history, "UPDATE ledger_transfer SET hash = :h WHERE id = :id", id=transfers[2].id,
           h=ledger.content_hash(transfers[2]))
    prev = ledger.GENESIS
    for block in history.session.scalars(select(Block).order_by(Block.id)).all():
        members = [(t.id, t.hash) for t in history.transfers() if t.block_id == block.id]
        digest = ledger.block_hash(prev, block.id, members)
        tamper(history, "UPDATE ledger_block SET prev_hash = :p, hash = :h WHERE id = :id", p=prev, h=digest, id=block.id)
        prev = digest
    problems = history.verify().problems
    assert not any("hash does not match its contents" in p or "not the ones sealed" in p or "does not link" in p
                   for p in problems)  # the blocks themselves are whole
    assert "checkpoint line 1: block 2 no longer has the hash checkpointed (history rewritten)" in problems


def test_checkpoint_refuses_a_head_the_ledger_did_not_seal(history, runner, app):
    forged_block(history)
    result = runner.invoke(args=["ledger", "checkpoint"])
    assert result.exit_code == 1 and "checkpoint refused" in result.output
    assert len(checkpoint_lines(app)) == 1  # only the one taken before the forgery


def test_checkpoint_refuses_a_chain_shorter_than_its_newest_checkpoint(history, runner, app):
    last_posting_removed(history)
    result = runner.invoke(args=["ledger", "checkpoint"])
    assert result.exit_code == 1 and "before the newest checkpoint's block" in result.output
    assert len(checkpoint_lines(app)) == 1


def test_transparency_publishes_the_newest_checkpoints(app, client):
    """Requests outside the test's own app context, so each one picks its language afresh."""
    assert "No checkpoints yet." in client.get("/transparency").get_data(as_text=True)
    with app.app_context():
        with write(db.session):
            issuer = ledger.open_account(db.session, "merchant", 1, "issuance")
            ledger.transfer(db.session, issuer, ledger.member_account(db.session, 1), 10, "earn", key="e")
        with write(db.session):
            ledger.seal_block(db.session)
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


# ---------------------------------------------------------------- the sealer

def test_the_sealer_refuses_a_forged_transfer(history, runner):
    """Sealing a forged row would launder it into a block: the sealer stops at it instead, and verify
    names it (and, once it waits long enough, the lag)."""
    forged_append(history)
    result = runner.invoke(args=["ledger", "seal"])
    assert result.exit_code == 1 and "does not carry its own hash and this ledger's seal" in result.output
    assert ledger.tip(history.session).id == 2

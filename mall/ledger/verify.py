"""Verification: every invariant of the ledger checked in SQL, every row's seal, every transfer's hash
and every block recomputed and held to the checkpoints, and the sealing lag. The report lists each
breach found."""
import os
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, scoped_session

from mall.db import is_postgres
from mall.ledger.checkpoints import LEGACY_END, is_sealed, record_of
from mall.ledger.models import LOTTED_KINDS, Account, BalanceShard, Lot, LotDraw, Transfer, sharded_clause
from mall.ledger.seals import GENESIS, SEALED, add_member, as_utc, block_hasher, link_hash, seal
from mall.settings import settings_of


DEFAULT_SEAL_LAG = 300  # seconds, when the settings name none (LEDGER_SEAL_LAG_SECONDS)


@dataclass
class Report:
    """What ``verify`` counted and every breach it found."""

    transfers: int = 0
    accounts: int = 0
    lots: int = 0
    checkpoints: int = 0
    blocks: int = 0
    unsealed: int = 0  # transfers no block holds yet
    problems: list[str] = field(default_factory=list)
    last_block_id: int = 0
    last_hash: str = GENESIS  # the tip of the block chain

    @property
    def ok(self) -> bool:
        return not self.problems


class _Enough(Exception):
    """Raised inside verify() once ``max_problems`` breaches are listed."""


def verify(session: Session, max_problems: int = 50, now: datetime | None = None) -> Report:
    """Check every invariant of the ledger, every row's seal, every transfer's hash, every block and the
    block chain against every checkpoint, and that no transfer waits longer than
    LEDGER_SEAL_LAG_SECONDS to be sealed; the report lists each breach found.

    On PostgreSQL the checks read one REPEATABLE READ snapshot (when the session has not begun a
    transaction yet), so postings running meanwhile cannot show up as false breaches; SQLite's
    read transaction is a snapshot already. The checkpoints are read before it: each names a
    transfer the snapshot holds."""
    report = Report()
    now = as_utc(now)

    def problem(text: str) -> None:
        report.problems.append(text)
        if len(report.problems) >= max_problems:
            raise _Enough

    if isinstance(session, scoped_session):
        session = session()
    fresh = not session.in_transaction()
    options = {"isolation_level": "REPEATABLE READ"} if fresh and is_postgres(session) else None
    try:
        settings = settings_of(session)
        key = settings.ledger_key
        marks, block_marks = _checkpoint_marks(settings.checkpoint_file, key, report, problem)
        conn = session.connection(execution_options=options)
        _verify_balances(conn, report, problem)
        _verify_shards(conn, problem)
        _verify_lots(conn, report, problem)
        _verify_seals(conn, key, problem)
        blocks = _verify_chain(conn, key, report, problem, marks)
        _verify_blocks(key, report, problem, blocks, block_marks)
        lag = settings.seal_lag_seconds
        _verify_lag(conn, report, problem, now, DEFAULT_SEAL_LAG if lag is None else int(lag))
    except _Enough:
        report.problems.append(f"(stopped after {max_problems} problems)")
    return report


def _sums(column, amount, scan=False):
    # ``column + 0`` makes SQLite read the table straight through instead of walking an (account, id)
    # index and fetching every row's amount from it: three times faster on a million transfers.
    key = column + 0 if scan else column
    return select(key.label("id"), func.sum(amount).label("total")).group_by(key).subquery()


def _balance_breaches():
    """Accounts whose balance disagrees with their transfers or lots, or guarded ones below zero."""
    credits = _sums(Transfer.credit_account_id, Transfer.amount, scan=True)
    debits = _sums(Transfer.debit_account_id, Transfer.amount, scan=True)
    lots = _sums(Lot.account_id, Lot.remaining)
    shards = _sums(BalanceShard.account_id, BalanceShard.amount)
    derived = func.coalesce(credits.c.total, 0) - func.coalesce(debits.c.total, 0)
    in_lots = func.coalesce(lots.c.total, 0)
    balance = Account.stored_balance + func.coalesce(shards.c.total, 0)  # Account.balance, as one join
    lotted = Account.owner_kind.in_(LOTTED_KINDS)
    return (select(Account.id, Account.owner_kind, balance.label("balance"), Account.guarded,
                   derived.label("derived"), in_lots.label("in_lots"))
            .outerjoin(credits, credits.c.id == Account.id).outerjoin(debits, debits.c.id == Account.id)
            .outerjoin(lots, lots.c.id == Account.id).outerjoin(shards, shards.c.id == Account.id)
            .where(or_(balance != derived, and_(Account.guarded, balance < 0),
                       and_(lotted, in_lots != balance), and_(~lotted, in_lots != 0)))
            .order_by(Account.id))


def _lot_breaches():
    """Lots whose remainder is not their amount less what was drawn from them."""
    drawn = _sums(LotDraw.lot_id, LotDraw.amount)
    left = Lot.amount - func.coalesce(drawn.c.total, 0)
    return (select(Lot.id, Lot.remaining, left.label("left")).outerjoin(drawn, drawn.c.id == Lot.id)
            .where(Lot.remaining != left).order_by(Lot.id))


# Built once: verify runs after every step of the property tests, and building these costs more
# than running them on a small ledger.
BALANCE_BREACHES = _balance_breaches()
LOT_BREACHES = _lot_breaches()
ACCOUNT_TOTALS = select(func.count(Account.id), func.coalesce(func.sum(Account.stored_balance), 0)
                        + select(func.coalesce(func.sum(BalanceShard.amount), 0)).scalar_subquery())
LOT_COUNT = select(func.count(Lot.id))


def _verify_balances(conn, report: Report, problem) -> None:
    """Each account against its transfers and its lots, compared in SQL: only breaches come back."""
    for acc in conn.execute(BALANCE_BREACHES):
        if acc.balance != acc.derived:
            problem(f"account {acc.id}: balance {acc.balance} but credits - debits = {acc.derived}")
        if acc.guarded and acc.balance < 0:
            problem(f"account {acc.id}: guarded account is negative ({acc.balance})")
        if acc.owner_kind in LOTTED_KINDS and acc.in_lots != acc.balance:
            problem(f"account {acc.id}: lots hold {acc.in_lots} but balance is {acc.balance}")
        elif acc.owner_kind not in LOTTED_KINDS and acc.in_lots:
            problem(f"account {acc.id}: a {acc.owner_kind} account holds {acc.in_lots} points in lots")
    report.accounts, total = conn.execute(ACCOUNT_TOTALS).one()
    if total != 0:
        problem(f"balances sum to {total}, not 0")


def _verify_lots(conn, report: Report, problem) -> None:
    """Each lot's remainder against its amount less what spends drew from it."""
    for lot in conn.execute(LOT_BREACHES):
        problem(f"lot {lot.id}: remaining {lot.remaining} but amount - draws = {lot.left}")
    report.lots = conn.scalar(LOT_COUNT)


CHAIN_COLUMNS = ("id", "debit_account_id", "credit_account_id", "amount", "kind", "idempotency_key",
                 "actor_id", "ref_type", "ref_id", "memo", "reverses_id", "created_at", "hash")
SCAN_BATCH = 20000


def _scan(conn, name: str, sql: str):
    """The rows of ``sql`` through a plain DBAPI cursor in the verify transaction (server-side on
    PostgreSQL): per-row ORM or type processing would cost more than the hashing on a million rows."""
    dbapi = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        cursor = dbapi.cursor(name=f"ledger_verify_{name}")
        cursor.itersize = SCAN_BATCH
    else:
        cursor = dbapi.cursor()
    with closing(cursor):
        cursor.execute(sql)
        while rows := cursor.fetchmany(SCAN_BATCH):
            yield from rows


def _sealed_rows(conn, table: str):
    """(values of the SEALED columns, stored seal) of every row of ``table``, in id order."""
    columns = ", ".join(SEALED[table])
    with closing(_scan(conn, table, f"SELECT {columns}, mac FROM {table} ORDER BY id")) as rows:
        for *values, mac in rows:
            yield values, mac


def _verify_seals(conn, key: bytes, problem) -> None:
    """Each account, lot and draw against its seal; the row and what it decides are named."""
    for values, mac in _sealed_rows(conn, "ledger_account"):
        if seal(key, "ledger_account", values) == mac:
            continue
        id_, kind, owner, guarded, frozen, name = values
        if seal(key, "ledger_account", [id_, kind, owner, guarded, not frozen, name]) == mac:
            what = f"frozen flag set to {bool(frozen)} outside a fraud case"
        elif seal(key, "ledger_account", [id_, kind, owner, not guarded, frozen, name]) == mac:
            what = f"guarded flag set to {bool(guarded)}"
        else:
            what = f"owner ({kind} {owner}) or name ({name!r}) is not the one it was opened for"
        problem(f"account {id_}: {what} (seal does not match)")
    for values, mac in _sealed_rows(conn, "ledger_lot"):
        if seal(key, "ledger_lot", values) != mac:
            problem(f"lot {values[0]}: account, transfer, amount, expiry or origin lot altered "
                    f"(seal does not match)")
    for values, mac in _sealed_rows(conn, "ledger_lot_draw"):
        if seal(key, "ledger_lot_draw", values) != mac:
            problem(f"lot draw {values[0]}: transfer, lot or amount altered (seal does not match)")


def _verify_chain(conn, key: bytes, report: Report, problem, marks: dict[int, list[tuple[int, str]]]) -> dict:
    """Recompute every transfer's hash from its fields (legacy ones: from their predecessor's hash too),
    in id order; check each transfer's seal and the legacy checkpoints (``marks``); feed each sealed
    transfer to its block's running hash. Returns {block id: [block row, hasher, members, first, last]}."""
    legacy = conn.execute(LEGACY_END).first()
    if legacy is None:
        problem("the ledger head row is missing")
    boundary, legacy_end = (legacy.last_transfer_id, legacy.last_hash) if legacy is not None else (0, GENESIS)
    blocks = {}
    for values, mac in _sealed_rows(conn, "ledger_block"):
        if seal(key, "ledger_block", values) != mac:
            problem(f"block {values[0]}: its links or range were altered, or it was not sealed by the ledger "
                    f"(seal does not match)")
        blocks[values[0]] = [values, block_hasher(values[1], values[0]), 0, None, None]
    newest = max(marks, default=0)
    prev, legacy_last, last_id, count, unsealed = GENESIS, 0, 0, 0, 0
    columns = ", ".join(CHAIN_COLUMNS + ("fingerprint", "batch_key", "mac", "block_id"))
    try:
        with closing(_scan(conn, "chain", f"SELECT {columns} FROM {Transfer.__tablename__} ORDER BY id")) as rows:
            for *fields, stored, print_, batch, mac, block_id in rows:
                count += 1
                id_ = fields[0]
                if id_ <= boundary:  # the legacy chain, as it was hashed before blocks existed
                    if link_hash(prev, *fields) != stored:
                        problem(f"transfer {id_}: hash does not match its contents and predecessor")
                    prev, legacy_last = stored, id_
                elif link_hash(GENESIS, *fields) != stored:
                    problem(f"transfer {id_}: hash does not match its contents")
                if seal(key, "ledger_transfer", (id_, stored, print_, batch)) != mac:
                    problem(f"transfer {id_}: hash, fingerprint or batch key altered, or not posted by "
                            f"the ledger (seal does not match)")
                if fields[3] <= 0:
                    problem(f"transfer {id_}: amount {fields[3]} is not positive")
                for line, digest in marks.pop(id_, ()):
                    if digest != stored:
                        problem(f"checkpoint line {line}: transfer {id_} no longer has the hash checkpointed "
                                f"(history rewritten)")
                if block_id is None:
                    unsealed += 1
                elif block_id not in blocks:
                    problem(f"transfer {id_}: claims block {block_id}, which does not exist")
                else:
                    entry = blocks[block_id]
                    add_member(entry[1], id_, stored)
                    entry[2] += 1
                    entry[3] = entry[3] or id_
                    entry[4] = id_
                last_id = id_
    finally:
        report.transfers = count
    report.unsealed = unsealed
    for id_, entries in sorted(marks.items()):
        for line, _digest in entries:
            problem(f"checkpoint line {line}: transfer {id_} is missing")
    if newest > last_id:
        problem(f"the ledger ends at transfer {last_id}, before the newest checkpoint's transfer {newest} "
                f"(postings removed)")
    if legacy is not None and (legacy_last != boundary or prev != legacy_end):
        problem("the legacy chain does not end where the head row says (a transfer is missing)")
    return blocks


def _verify_blocks(key: bytes, report: Report, problem, blocks: dict, block_marks: dict) -> None:
    """Each block against the transfers that name it and the block before it; the tip against the
    block checkpoints."""
    prev = GENESIS
    for id_ in sorted(blocks):
        (_, prev_hash, hash_, first, last, size, _at), hasher, members, seen_first, seen_last = blocks[id_]
        if prev_hash != prev:
            problem(f"block {id_}: does not link to the block before it (a block removed or rewritten)")
        if (members, seen_first, seen_last) != (size, first, last) or hasher.hexdigest() != hash_:
            problem(f"block {id_}: its transfers are not the ones sealed into it (a transfer changed, moved, "
                    f"added or removed)")
        prev = hash_
    report.blocks = len(blocks)
    report.last_block_id = max(blocks, default=0)
    report.last_hash = prev
    for id_, entries in sorted(block_marks.items()):
        for line, digest in entries:
            if id_ not in blocks:
                problem(f"checkpoint line {line}: block {id_} is missing (blocks removed)")
            elif blocks[id_][0][2] != digest:
                problem(f"checkpoint line {line}: block {id_} no longer has the hash checkpointed "
                        f"(history rewritten)")


def _verify_lag(conn, report: Report, problem, now: datetime, lag: int) -> None:
    """Transfers no block holds yet, posted longer than ``lag`` seconds ago: the sealer is not running."""
    cutoff = now - timedelta(seconds=lag)
    late, oldest = conn.execute(select(func.count(Transfer.id), func.min(Transfer.id)).where(
        Transfer.block_id.is_(None), Transfer.posted_at < cutoff)).one()
    if late:
        problem(f"{late} transfer(s) unsealed for more than {lag}s (the oldest is transfer {oldest}): "
                f"run `flask ledger seal` (or keep `flask ledger seal --follow` running)")


def _verify_shards(conn, problem) -> None:
    """Counter shards belong to sharded accounts only."""
    for account_id in conn.execute(select(BalanceShard.account_id).join(Account, Account.id == BalanceShard.account_id)
                                   .where(~sharded_clause()).distinct().order_by(BalanceShard.account_id)).scalars():
        problem(f"account {account_id}: an exact account has balance shards")


def _checkpoint_marks(path: str, key: bytes, report: Report, problem) -> tuple[dict, dict]:
    """{transfer id: [(line, hash)]} of every legacy checkpoint in the file whose seal holds, and
    {block id: [(line, hash)]} of every block checkpoint."""
    marks, block_marks = {}, {}
    if not path or not os.path.exists(path):
        return marks, block_marks
    with open(path, encoding="utf-8", errors="replace") as f:
        for line, text in enumerate(f, 1):
            if not text.strip():
                continue
            record = record_of(text)
            if record is None:
                problem(f"checkpoint line {line}: not a checkpoint record")
            elif not is_sealed(key, record):
                problem(f"checkpoint line {line}: seal does not match (forged or altered)")
            else:
                report.checkpoints += 1
                if "block_id" in record:
                    block_marks.setdefault(record["block_id"], []).append((line, record["hash"]))
                else:
                    marks.setdefault(record["transfer_id"], []).append((line, record["hash"]))
    return marks, block_marks

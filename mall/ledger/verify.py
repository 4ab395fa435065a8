"""Verification: every invariant of the ledger checked in SQL, every row's seal, and the whole hash
chain recomputed and held to the checkpoints. The report lists each breach found."""
import os
from contextlib import closing
from dataclasses import dataclass, field

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, scoped_session

from mall.db import is_postgres
from mall.ledger.checkpoints import CHAIN_HEAD, is_sealed, record_of
from mall.ledger.models import LOTTED_KINDS, Account, Lot, LotDraw, Transfer
from mall.ledger.seals import GENESIS, SEALED, link_hash, seal
from mall.settings import settings_of


@dataclass
class Report:
    """What ``verify`` counted and every breach it found."""

    transfers: int = 0
    accounts: int = 0
    lots: int = 0
    checkpoints: int = 0
    problems: list[str] = field(default_factory=list)
    last_hash: str = GENESIS

    @property
    def ok(self) -> bool:
        return not self.problems


class _Enough(Exception):
    """Raised inside verify() once ``max_problems`` breaches are listed."""


def verify(session: Session, max_problems: int = 50) -> Report:
    """Check every invariant of the ledger, every row's seal and the chain against every checkpoint;
    the report lists each breach found.

    On PostgreSQL the checks read one REPEATABLE READ snapshot (when the session has not begun a
    transaction yet), so postings running meanwhile cannot show up as false breaches; SQLite's
    read transaction is a snapshot already. The checkpoints are read before it: each names a
    transfer the snapshot holds."""
    report = Report()

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
        marks = _checkpoint_marks(settings.checkpoint_file, key, report, problem)
        conn = session.connection(execution_options=options)
        _verify_balances(conn, report, problem)
        _verify_lots(conn, report, problem)
        _verify_seals(conn, key, problem)
        _verify_chain(conn, key, report, problem, marks)
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
    derived = func.coalesce(credits.c.total, 0) - func.coalesce(debits.c.total, 0)
    in_lots = func.coalesce(lots.c.total, 0)
    lotted = Account.owner_kind.in_(LOTTED_KINDS)
    return (select(Account.id, Account.owner_kind, Account.balance, Account.guarded,
                   derived.label("derived"), in_lots.label("in_lots"))
            .outerjoin(credits, credits.c.id == Account.id).outerjoin(debits, debits.c.id == Account.id)
            .outerjoin(lots, lots.c.id == Account.id)
            .where(or_(Account.balance != derived, and_(Account.guarded, Account.balance < 0),
                       and_(lotted, in_lots != Account.balance), and_(~lotted, in_lots != 0)))
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
ACCOUNT_TOTALS = select(func.count(Account.id), func.coalesce(func.sum(Account.balance), 0))
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


def _verify_chain(conn, key: bytes, report: Report, problem, marks: dict[int, list[tuple[int, str]]]) -> None:
    """Recompute every transfer's hash from its fields and its predecessor's hash, in id order;
    check each transfer's seal, and the chain against the checkpoints (``marks``)."""
    newest = max(marks, default=0)
    prev, last_id, count = GENESIS, 0, 0
    columns = ", ".join(CHAIN_COLUMNS + ("fingerprint", "batch_key", "mac"))
    try:
        with closing(_scan(conn, "chain", f"SELECT {columns} FROM {Transfer.__tablename__} ORDER BY id")) as rows:
            for *fields, stored, print_, batch, mac in rows:
                count += 1
                id_ = fields[0]
                if link_hash(prev, *fields) != stored:
                    problem(f"transfer {id_}: hash does not match its contents and predecessor")
                if seal(key, "ledger_transfer", (id_, stored, print_, batch)) != mac:
                    problem(f"transfer {id_}: hash, fingerprint or batch key altered, or not posted by "
                            f"the ledger (seal does not match)")
                if fields[3] <= 0:
                    problem(f"transfer {id_}: amount {fields[3]} is not positive")
                for line, digest in marks.pop(id_, ()):
                    if digest != stored:
                        problem(f"checkpoint line {line}: transfer {id_} no longer has the hash checkpointed "
                                f"(history rewritten)")
                prev, last_id = stored, id_
    finally:
        report.transfers = count
    report.last_hash = prev
    for id_, entries in sorted(marks.items()):
        for line, _digest in entries:
            problem(f"checkpoint line {line}: transfer {id_} is missing")
    if newest > last_id:
        problem(f"the chain ends at transfer {last_id}, before the newest checkpoint's transfer {newest} "
                f"(postings removed)")
    head = conn.execute(CHAIN_HEAD).first()
    if head is None:
        problem("the ledger head row is missing")
    elif head.last_hash != prev or head.last_transfer_id != last_id:
        problem("the chain head does not match the last transfer (a transfer is missing)")


def _checkpoint_marks(path: str, key: bytes, report: Report, problem) -> dict[int, list[tuple[int, str]]]:
    """{transfer id: [(line, hash)]} of every checkpoint in the file whose seal holds."""
    marks = {}
    if not path or not os.path.exists(path):
        return marks
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
                marks.setdefault(record["transfer_id"], []).append((line, record["hash"]))
    return marks

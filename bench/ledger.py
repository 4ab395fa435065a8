"""Ledger benchmark: posting and concurrent spending throughput, and `verify` on 1,000,000 transfers.

    python bench/ledger.py                                   # SQLite only, in a temporary file
    python bench/ledger.py --sqlite /tmp/bench.sqlite3 --pg postgresql+psycopg://postgres@127.0.0.1:5432/test

It prints figures, it does not pass or fail. It talks to the ledger service directly (the ledger has no
Flask imports), each use case in its own ``mall.db.write`` transaction, as ``mall.edge.run`` opens in the app.

Where the rows go: SQLite uses the file given (deleted first). PostgreSQL uses a private schema
``bench_ledger`` in the database given (dropped and re-created; nothing else in the database is touched).

How the 1,000,000 transfers for ``verify`` are built: posting them one by one through the service would
take minutes, so they are generated and bulk-inserted instead — 500,000 earns (a merchant to one of
1,000 members, each creating a lot of 10 points) each followed by a spend of 5 points drawing on that
lot, with the balances, lots and lot draws that this history implies, and every transfer's hash
computed with ``mall.ledger.service.chain_hash`` on the previous one. ``verify`` then checks the lot:
balances against credits minus debits, lots against draws and balances, and the whole hash chain. A
last run alters one amount with a raw UPDATE to show that ``verify`` reports it.
"""
import argparse
import os
import sys
import tempfile
import threading
import time
from collections import namedtuple
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from random import Random

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sqlalchemy import create_engine, insert, text  # noqa: E402
from sqlalchemy.orm import sessionmaker  # noqa: E402

from mall.clock import SHANGHAI  # noqa: E402
from mall.db import configure_engine, write  # noqa: E402
from mall.ledger import service as ledger  # noqa: E402
from mall.ledger.models import Account, BalanceShard, Block, LedgerHead, Lot, LotDraw, Transfer  # noqa: E402
from mall.models import Base  # noqa: E402
from mall.settings import Settings  # noqa: E402

TABLES = [Account.__table__, BalanceShard.__table__, LedgerHead.__table__, Block.__table__, Transfer.__table__,
          Lot.__table__, LotDraw.__table__]
SCHEMA = "bench_ledger"
START = datetime(2026, 1, 5, tzinfo=timezone.utc)
# What the app's configuration is to its sessions: the ledger reads its key (the rows' seals need one)
# and expiry policy from ``session.info["settings"]`` (see mall.settings).
SETTINGS = Settings({"LEDGER_KEY": "bench-ledger-key", "POINTS_EXPIRY_POLICY": "calendar_year_after"})
Row = namedtuple("Row", "id debit_account_id credit_account_id amount kind idempotency_key actor_id "
                        "ref_type ref_id memo reverses_id created_at")


# ---------------------------------------------------------------- set-up

def sessions(engine):
    """A session factory whose sessions carry the bench's settings, as the app's do."""
    return sessionmaker(engine, info={"settings": SETTINGS})


def make_engine(url: str, pool: int):
    options = {"pool_size": pool, "max_overflow": 0, "pool_timeout": 120}
    if url.startswith("postgresql"):
        options["connect_args"] = {"options": f"-c search_path={SCHEMA}"}
    engine = create_engine(url, **options)
    configure_engine(engine)
    return engine


def fresh(url: str, pool: int):
    """An engine on empty ledger tables, with the system accounts and the head of the chain."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1]
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
    else:
        admin = create_engine(url)
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        admin.dispose()
    engine = make_engine(url, pool)
    Base.metadata.create_all(engine, tables=TABLES)
    Session = sessions(engine)
    with Session() as session, write(session):
        ledger.ensure_system_accounts(session)
    return engine, Session


def drop(url: str, engine, keep: bool = False) -> None:
    engine.dispose()
    if keep:
        return
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1]
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
    else:
        admin = create_engine(url)
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        admin.dispose()


def open_accounts(Session, members: int) -> tuple[int, int, list[int]]:
    with Session() as session, write(session):
        issuer = ledger.open_account(session, "merchant", 1, "issuance").id
        sink = ledger.system_account(session, "redemption").id
        ids = [ledger.open_account(session, "member", n).id for n in range(1, members + 1)]
    return issuer, sink, ids


# ---------------------------------------------------------------- measures

def single_thread_posting(Session, count: int) -> float:
    """Earn, then spend half, alternately, one transaction each; returns seconds."""
    issuer, sink, members = open_accounts(Session, 100)
    clock = START
    started = time.perf_counter()
    with Session() as session:
        for i in range(count):
            clock += timedelta(seconds=1)
            member = members[(i // 2) % len(members)]
            with write(session):
                debit, credit, kind = (issuer, member, "earn") if i % 2 == 0 else (member, sink, "redeem")
                ledger.transfer(session, session.get(Account, debit), session.get(Account, credit),
                                10 if kind == "earn" else 5, kind, key=f"single:{i}", now=clock)
    return time.perf_counter() - started


def concurrent_spending(Session, threads: int, per_thread: int, members: int, offset: int) -> tuple[float, int, int]:
    """``threads`` threads spend at once from ``members`` members (1 = one hot balance); returns
    (seconds, spends that succeeded, spends refused). Balances afford about 90% of the attempts."""
    issuer, sink, ids = open_accounts(Session, offset + members)
    ids = ids[offset:]
    attempts = threads * per_thread
    with Session() as session:
        for n, member in enumerate(ids):
            with write(session):
                share = attempts * 9 // 10 // members + (n < attempts * 9 // 10 % members)
                ledger.transfer(session, session.get(Account, issuer), session.get(Account, member), max(share, 1),
                                "earn", key=f"fund:{offset}:{n}", now=START)
    barrier = threading.Barrier(threads)
    counts = {"spent": 0, "refused": 0}
    lock = threading.Lock()

    def work(t):
        rng = Random(t)
        spent = refused = 0
        with Session() as session:
            barrier.wait()
            for i in range(per_thread):
                member = ids[rng.randrange(len(ids))]
                try:
                    with write(session):
                        ledger.transfer(session, session.get(Account, member), session.get(Account, sink), 1,
                                        "redeem", key=f"spend:{offset}:{t}:{i}", now=START + timedelta(hours=1))
                    spent += 1
                except ledger.InsufficientPoints:
                    refused += 1
        with lock:
            counts["spent"] += spent
            counts["refused"] += refused

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(threads)))
    return time.perf_counter() - started, counts["spent"], counts["refused"]


def build_history(engine, pairs: int, members: int = 1000) -> float:
    """Bulk-insert ``pairs`` earn+spend pairs with their lots, draws, balances and hash chain."""
    Session = sessions(engine)
    issuer, sink, ids = open_accounts(Session, members)
    started = time.perf_counter()
    prev = ledger.GENESIS
    transfers, lots, draws = [], [], []
    chunk = 50_000
    postgres = engine.dialect.name == "postgresql"

    def flush(conn):
        if postgres:
            _copy(conn, transfers, lots, draws)
        else:
            conn.execute(insert(Transfer), transfers)
            conn.execute(insert(Lot), lots)
            conn.execute(insert(LotDraw), draws)
        transfers.clear()
        lots.clear()
        draws.clear()

    with engine.begin() as conn:
        tid = 0
        for pair in range(pairs):
            member = ids[pair % members]
            for kind, debit, credit, amount in (("earn", issuer, member, 10), ("redeem", member, sink, 5)):
                tid += 1
                created = START + timedelta(seconds=tid)
                row = Row(tid, debit, credit, amount, kind, f"bulk:{tid}", None, "bench", str(pair), "",
                          None, created)
                prev = ledger.chain_hash(prev, row)
                transfers.append(seal(dict(row._asdict(), batch_key=f"bulk:{tid}", fingerprint="0" * 64, hash=prev),
                                      "ledger_transfer"))
            expires = datetime(2028, 1, 1, tzinfo=SHANGHAI).astimezone(timezone.utc)
            lots.append(seal(dict(id=pair + 1, account_id=member, transfer_id=tid - 1, amount=10, remaining=5,
                                  expires_at=expires, origin_lot_id=None), "ledger_lot"))
            draws.append(seal(dict(id=pair + 1, transfer_id=tid, lot_id=pair + 1, amount=5), "ledger_lot_draw"))
            if len(transfers) >= chunk:
                flush(conn)
        if transfers:
            flush(conn)
        per_member = {}
        for pair in range(pairs):
            per_member[ids[pair % members]] = per_member.get(ids[pair % members], 0) + 5
        conn.execute(text("UPDATE ledger_account SET balance = :b WHERE id = :i"),
                     [{"b": b, "i": i} for i, b in per_member.items()]
                     + [{"b": -10 * pairs, "i": issuer}, {"b": 5 * pairs, "i": sink}])
        conn.execute(text("UPDATE ledger_head SET last_transfer_id = :i, last_hash = :h WHERE id = 1"),
                     {"i": tid, "h": prev})
        if postgres:  # the sequences must continue after the ids written by hand
            for table in ("ledger_transfer", "ledger_lot", "ledger_lot_draw"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT max(id) FROM {table}))"))
            conn.execute(text("ANALYZE"))
    return time.perf_counter() - started


def seal(row: dict, table: str) -> dict:
    row["mac"] = ledger.seal(SETTINGS.ledger_key, table, [row[column] for column in ledger.SEALED[table]])
    return row


def _copy(conn, transfers, lots, draws) -> None:
    """PostgreSQL COPY: the fast way in for generated rows (times as naive UTC, as the models store them)."""
    cursor = conn.connection.driver_connection.cursor()

    def naive(value):
        return value.astimezone(timezone.utc).replace(tzinfo=None) if value is not None else None

    columns = ["id", "debit_account_id", "credit_account_id", "amount", "kind", "idempotency_key", "batch_key",
               "fingerprint", "actor_id", "ref_type", "ref_id", "memo", "reverses_id", "created_at", "hash", "mac"]
    with cursor.copy(f"COPY ledger_transfer ({', '.join(columns)}) FROM STDIN") as copy:
        for t in transfers:
            copy.write_row([naive(t[c]) if c == "created_at" else t[c] for c in columns])
    lot_columns = ["id", "account_id", "transfer_id", "amount", "remaining", "expires_at", "origin_lot_id", "mac"]
    with cursor.copy(f"COPY ledger_lot ({', '.join(lot_columns)}) FROM STDIN") as copy:
        for lot in lots:
            copy.write_row([naive(lot[c]) if c == "expires_at" else lot[c] for c in lot_columns])
    with cursor.copy("COPY ledger_lot_draw (id, transfer_id, lot_id, amount, mac) FROM STDIN") as copy:
        for d in draws:
            copy.write_row([d["id"], d["transfer_id"], d["lot_id"], d["amount"], d["mac"]])


def timed_verify(Session) -> tuple[float, ledger.Report]:
    with Session() as session:
        started = time.perf_counter()
        report = ledger.verify(session)
        return time.perf_counter() - started, report


# ---------------------------------------------------------------- the run

def run(name: str, url: str, args, table: list) -> None:
    def add(measure, transfers, seconds, note=""):
        table.append((name, measure, transfers, seconds, transfers / seconds if seconds else 0, note))
        print(f"  {measure}: {transfers} in {seconds:.2f}s {note}", file=sys.stderr)

    print(f"{name}: {url}", file=sys.stderr)
    engine, Session = fresh(url, args.threads + 4)
    seconds = single_thread_posting(Session, args.posts)
    add("post, 1 thread", args.posts, seconds)
    seconds, spent, refused = concurrent_spending(Session, args.threads, args.spends, 200, 0)
    add(f"spend, {args.threads} threads, 200 members", spent + refused, seconds, f"({refused} refused)")
    seconds, spent, refused = concurrent_spending(Session, args.threads, args.spends, 1, 200)
    add(f"spend, {args.threads} threads, 1 member", spent + refused, seconds, f"({refused} refused)")
    seconds, report = timed_verify(Session)
    assert report.ok, report.problems
    add("verify (the rows above)", report.transfers, seconds)
    drop(url, engine)

    if args.verify_transfers:
        engine, Session = fresh(url, 2)
        seconds = build_history(engine, args.verify_transfers // 2)
        add("bulk build for verify", args.verify_transfers, seconds)
        seconds, report = timed_verify(Session)
        assert report.ok and report.transfers == args.verify_transfers, report.problems
        add(f"verify {report.transfers:,} transfers", report.transfers, seconds, "(ok)")
        with engine.begin() as conn:
            conn.execute(text("UPDATE ledger_transfer SET amount = amount + 1 WHERE id = :i"),
                         {"i": args.verify_transfers // 2})
        seconds, report = timed_verify(Session)
        add("verify after one amount altered", report.transfers, seconds,
            f"({len(report.problems)} problems found)" if not report.ok else "(NOT DETECTED)")
        drop(url, engine, keep=args.keep)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sqlite", metavar="PATH", help="SQLite file to use (default: a temporary file)")
    parser.add_argument("--no-sqlite", action="store_true", help="skip SQLite")
    parser.add_argument("--pg", metavar="URL", help="PostgreSQL URL, e.g. postgresql+psycopg://postgres@127.0.0.1/test")
    parser.add_argument("--posts", type=int, default=5000, help="transfers posted by one thread (default 5000)")
    parser.add_argument("--threads", type=int, default=20, help="spending threads (default 20)")
    parser.add_argument("--spends", type=int, default=100, help="spends per thread (default 100)")
    parser.add_argument("--verify-transfers", type=int, default=1_000_000,
                        help="size of the generated history for verify (default 1,000,000; 0 skips it)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the 1,000,000-transfer database afterwards (SQLite file / PostgreSQL schema)")
    args = parser.parse_args(argv)

    targets = []
    if not args.no_sqlite:
        path = args.sqlite or os.path.join(tempfile.mkdtemp(prefix="ledger-bench-"), "bench.sqlite3")
        targets.append(("sqlite", f"sqlite:///{path}"))
    if args.pg:
        url = args.pg
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                url = "postgresql+psycopg://" + url[len(prefix):]
        targets.append(("postgresql", url))
    table = []
    for name, url in targets:
        run(name, url, args, table)

    print(f"{'database':<11} {'measure':<34} {'transfers':>10} {'seconds':>8} {'per second':>11}  note")
    for name, measure, transfers, seconds, rate, note in table:
        print(f"{name:<11} {measure:<34} {transfers:>10,} {seconds:>8.2f} {rate:>11,.0f}  {note}")


if __name__ == "__main__":
    main()

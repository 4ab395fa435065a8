"""Ledger postings through the service beside pgbench running the same shape of SQL, on one scratch
PostgreSQL database, at 1 and 8 connections (time-bounded rounds).

    python bench/postings.py [--connections 1,8] [--seconds 10] [--tree PATH]

The service side: ``--connections`` processes (``--threads``: threads of this one), each with its own
connection and session, post "redeem" transfers of 1 point from one of 200 funded members (enough
points for every attempt) to the redemption system account, each in its own ``mall.db.write``
transaction, exactly as ``bench/ledger.py`` spends; the ledger tables live in that script's private
schema ``bench_ledger``. Processes, because the mall serves from processes (gunicorn workers): threads
of one interpreter measure its lock more than the database.

The pgbench side (``pgbench -n -c N -j 2 -T seconds``) runs, on scratch tables in a schema ``pgb`` of
the same database, one transaction per posting: lock the member's balance row, UPDATE it with a
check, add to one of 16 counter shards of the credit account (INSERT … ON CONFLICT DO UPDATE),
INSERT a transfer row and INSERT a lot-draw row.

``--tree`` imports ``bench.ledger`` and ``mall`` from another checkout of the project (run it with
that checkout's interpreter), so an earlier commit can be measured without adding files to it.
The scratch database is dropped at the end.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from random import Random

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))

from bench.harness import empty_database  # noqa: E402  (this checkout's: the database, whatever the tree)
MEMBERS = 200

PGBENCH_SETUP = """
DROP SCHEMA IF EXISTS pgb CASCADE;
CREATE SCHEMA pgb;
CREATE TABLE pgb.account (id int PRIMARY KEY, balance bigint NOT NULL, guarded bool NOT NULL DEFAULT true,
                          frozen bool NOT NULL DEFAULT false, mac varchar(64) NOT NULL DEFAULT '');
CREATE TABLE pgb.shard (account_id int NOT NULL, shard int NOT NULL, amount bigint NOT NULL,
                        PRIMARY KEY (account_id, shard));
CREATE TABLE pgb.transfer (id bigserial PRIMARY KEY, debit_account_id int NOT NULL, credit_account_id int NOT NULL,
                           amount bigint NOT NULL, kind varchar(16) NOT NULL, idempotency_key varchar(200) UNIQUE,
                           batch_key varchar(200) NOT NULL, fingerprint varchar(64) NOT NULL,
                           created_at timestamp NOT NULL, hash varchar(64) NOT NULL, mac varchar(64) NOT NULL);
CREATE INDEX ON pgb.transfer (batch_key);
CREATE INDEX ON pgb.transfer (kind);
CREATE INDEX ON pgb.transfer (created_at);
CREATE TABLE pgb.lot_draw (id bigserial PRIMARY KEY, transfer_id bigint NOT NULL, lot_id int NOT NULL,
                           amount bigint NOT NULL, mac varchar(64) NOT NULL);
CREATE INDEX ON pgb.lot_draw (transfer_id);
CREATE INDEX ON pgb.lot_draw (lot_id);
INSERT INTO pgb.account (id, balance) SELECT g, 1000000000 FROM generate_series(1, {members}) g;
INSERT INTO pgb.account (id, balance, guarded) VALUES (0, 0, false);
"""

PGBENCH_SCRIPT = """\\set m random(1, {members})
\\set s random(0, 15)
BEGIN;
SELECT balance, frozen FROM pgb.account WHERE id = :m FOR UPDATE;
UPDATE pgb.account SET balance = balance - 1 WHERE id = :m AND balance >= 1;
INSERT INTO pgb.shard (account_id, shard, amount) VALUES (0, :s, 1)
  ON CONFLICT (account_id, shard) DO UPDATE SET amount = pgb.shard.amount + excluded.amount;
INSERT INTO pgb.transfer (debit_account_id, credit_account_id, amount, kind, idempotency_key, batch_key, fingerprint,
  created_at, hash, mac) VALUES (:m, 0, 1, 'redeem', md5(random()::text), md5(random()::text),
  md5(random()::text) || md5(random()::text), now(), md5(random()::text) || md5(random()::text),
  md5(random()::text) || md5(random()::text)) RETURNING id;
INSERT INTO pgb.lot_draw (transfer_id, lot_id, amount, mac)
  VALUES (currval('pgb.transfer_id_seq'), :m, 1, md5(random()::text) || md5(random()::text));
END;
"""


def spend(bench_ledger, ledger, write, Account, session, ids, sink, t, stop_at, tag) -> tuple[int, int]:
    """One connection's postings until ``stop_at``: 1 point from a random member to ``sink``, each in its
    own write transaction; (posted, refused)."""
    rng = Random(t)
    posted = refused = i = 0
    # The accounts are the caller's: a use case has read its member's account and the system account
    # before it posts. Held here, so the figures are the posting's own.
    held = {account.id: account for account in session.query(Account).filter(Account.id.in_([*ids, sink]))}
    while time.perf_counter() < stop_at:
        member = ids[rng.randrange(len(ids))]
        try:
            with write(session):
                ledger.transfer(session, held[member], held[sink], 1,
                                "redeem", key=f"{tag}:{t}:{i}", now=bench_ledger.START + timedelta(hours=1))
            posted += 1
        except ledger.InsufficientPoints:
            refused += 1
        i += 1
    return posted, refused


def service_round(bench_ledger, ledger, write, Account, Session, ids, sink, threads, seconds, tag):
    """``threads`` threads spend 1 point at a time for ``seconds``; (postings, refused, seconds)."""
    barrier = threading.Barrier(threads + 1)
    counts = {"posted": 0, "refused": 0}
    lock = threading.Lock()
    stop = {"at": None}

    def work(t):
        with Session() as session:
            barrier.wait()
            posted, refused = spend(bench_ledger, ledger, write, Account, session, ids, sink, t, stop["at"], tag)
        with lock:
            counts["posted"] += posted
            counts["refused"] += refused

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    stop["at"] = time.perf_counter() + seconds
    started = time.perf_counter()
    barrier.wait()
    for thread in pool:
        thread.join()
    return counts["posted"], counts["refused"], time.perf_counter() - started


def process_round(bench_ledger, ledger, write, Account, url, ids, sink, processes, seconds, tag):
    """``processes`` processes (one connection each, as gunicorn's workers have) spend 1 point at a time
    for ``seconds``; (postings, refused, seconds). Threads of one process share one interpreter lock,
    so they measure Python, not the database; the mall runs as processes."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    start, results = context.Barrier(processes + 1), context.Queue()

    def work(t):
        engine = bench_ledger.make_engine(url, 1)  # its own, never the parent's connections
        Session = bench_ledger.sessions(engine)
        with Session() as session:
            session.get(Account, sink)
            start.wait()
            posted, refused = spend(bench_ledger, ledger, write, Account, session, ids, sink, t,
                                    time.perf_counter() + seconds, tag)
        engine.dispose()
        results.put((posted, refused))

    pool = [context.Process(target=work, args=(t,)) for t in range(processes)]
    for process in pool:
        process.start()
    start.wait()
    started = time.perf_counter()
    counts = [results.get() for _ in pool]
    elapsed = time.perf_counter() - started
    for process in pool:
        process.join()
    return sum(c[0] for c in counts), sum(c[1] for c in counts), elapsed


def pgbench_round(dbname: str, script: str, clients: int, seconds: int) -> tuple[float, str]:
    command = ["pgbench", "-h", "127.0.0.1", "-U", "postgres", "-n", "-c", str(clients), "-j", str(min(2, clients)),
               "-T", str(seconds), "-f", script, dbname]
    out = subprocess.run(command, check=True, capture_output=True, text=True, timeout=seconds + 60).stdout
    tps = float(re.search(r"tps = ([0-9.]+)", out).group(1))
    latency = re.search(r"latency average = ([0-9.]+ ms)", out)
    return tps, latency.group(1) if latency else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", default="1,8")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--tree", default=str(HERE), help="checkout whose bench.ledger and mall are measured")
    parser.add_argument("--no-pgbench", action="store_true")
    parser.add_argument("--threads", action="store_true",
                        help="connections as threads of this process (one interpreter lock) instead of processes")
    args = parser.parse_args()
    tree = str(Path(args.tree).resolve())
    sys.path.insert(0, tree)
    for name in [m for m in sys.modules if m == "bench" or m.startswith("bench.")]:
        del sys.modules[name]  # this file's own package is not the tree measured

    import bench.ledger as bench_ledger
    from mall.db import write
    from mall.ledger import service as ledger
    from mall.ledger.models import Account

    levels = [int(c) for c in args.connections.split(",")]
    with empty_database("postgres", "mall_postings") as url:
        dbname = url.rsplit("/", 1)[1]
        print(f"postings bench: tree {tree}, database {dbname}, {args.seconds} s per round, {MEMBERS} members")
        engine, Session = bench_ledger.fresh(url, max(levels) + 4)
        issuer, sink, ids = bench_ledger.open_accounts(Session, MEMBERS)
        with Session() as session:
            for n, member in enumerate(ids):
                with write(session):
                    ledger.transfer(session, session.get(Account, issuer), session.get(Account, member), 10**7,
                                    "earn", key=f"fund:{n}", now=bench_ledger.START)
        with tempfile.TemporaryDirectory() as tmp:
            script = os.path.join(tmp, "posting.sql")
            with open(script, "w") as f:
                f.write(PGBENCH_SCRIPT.format(members=MEMBERS))
            if not args.no_pgbench:
                subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-v", "ON_ERROR_STOP=1",
                                "-d", dbname, "-c", PGBENCH_SETUP.format(members=MEMBERS)],
                               check=True, capture_output=True, text=True)
            engine.dispose()  # the processes fork with no connection of this one's open
            for clients in levels:
                if args.threads:
                    posted, refused, seconds = service_round(bench_ledger, ledger, write, Account, Session, ids,
                                                             sink, clients, args.seconds, f"spend{clients}")
                else:
                    posted, refused, seconds = process_round(bench_ledger, ledger, write, Account, url, ids, sink,
                                                             clients, args.seconds, f"spend{clients}")
                service = posted / seconds
                line = (f"{clients:>2} connections  service {service:>8.1f} postings/s "
                        f"({posted} posted, {refused} refused, {seconds:.1f} s)")
                if not args.no_pgbench:
                    tps, latency = pgbench_round(dbname, script, clients, args.seconds)
                    line += f"  pgbench {tps:>8.1f} tps (latency avg {latency})  service/pgbench {service / tps:.1%}"
                print(line, flush=True)
        try:
            with Session() as session:
                report = ledger.verify(session)
            print(f"ledger verify: {'ok' if report.ok else report.problems[:3]} ({report.transfers} transfers)")
        except Exception as error:  # a figure-printing bench: report it, still drop the database
            print(f"ledger verify failed: {error!r}")
        engine.dispose()


if __name__ == "__main__":
    main()

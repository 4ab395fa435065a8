"""SQL statements and time per use case: one HTML checkout ("redeem now" of a points-only coupon) and
one merchant API purchase (``POST /api/v1/purchases``), run in-process on a scratch database.

    python bench/statements.py [--db postgres|sqlite] [--repeat 50] [--profile] [--tree PATH]

For each use case it prints, per request (median over ``--repeat`` requests, after a warm-up):
every statement sent, the statements inside writing transactions (a transaction that inserted,
updated, deleted or locked a row), how long those transactions stayed open (from BEGIN to COMMIT,
the time their row locks are held), the request's wall time, and the statement kinds of one request.
``--profile`` adds a pyinstrument profile of the requests (``pip install -e '.[bench]'``).

``--tree`` measures another checkout of the project (an earlier commit) with that checkout's own
interpreter and migrations, so a change can be compared before and after without adding files to it:

    /path/to/old/.venv/bin/python bench/statements.py --tree /path/to/old

The scratch database is dropped at the end.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import empty_database  # noqa: E402

HERE = Path(__file__).resolve().parent.parent
WRITES = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b|\bFOR UPDATE\b|pg_advisory_xact_lock|BEGIN IMMEDIATE", re.I)


def flask(tree: str, env: dict, *args: str) -> str:
    return subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=tree, env=env, check=True,
                          capture_output=True, text=True).stdout


class Recorder:
    """Statements of the current request, grouped into the transactions they ran in."""

    def __init__(self, engine):
        from sqlalchemy import event

        self.transactions, self.current = [], None
        event.listen(engine, "begin", self.begin)
        event.listen(engine, "commit", self.end)
        event.listen(engine, "rollback", self.end)
        event.listen(engine, "before_cursor_execute", self.statement)

    def reset(self):
        self.transactions, self.current = [], None

    def begin(self, conn):
        self.current = {"statements": [], "opened": time.perf_counter()}

    def statement(self, conn, cursor, sql, params, context, executemany):
        if self.current is None:  # autocommit or a driver-level BEGIN: a transaction of its own
            self.begin(conn)
        self.current["statements"].append(" ".join(sql.split()))

    def end(self, conn):
        if self.current is not None:
            self.current["seconds"] = time.perf_counter() - self.current["opened"]
            self.transactions.append(self.current)
        self.current = None

    def figures(self) -> dict:
        statements = [s for t in self.transactions for s in t["statements"]]
        writing = [t for t in self.transactions if any(WRITES.search(s) for s in t["statements"])]
        return {"statements": len(statements),
                "in_writes": sum(len(t["statements"]) for t in writing),
                "writes": len(writing),
                "write_ms": sum(t.get("seconds", 0) for t in writing) * 1000,
                "kinds": Counter(kind(s) for s in statements)}


def kind(sql: str) -> str:
    word = sql.split(" ", 1)[0].upper()
    if word == "SELECT" and "FOR UPDATE" in sql.upper():
        return "SELECT … FOR UPDATE"
    if word in ("INSERT", "UPDATE", "DELETE"):
        table = re.search(r"(?:INTO|UPDATE|FROM)\s+\"?(\w+)", sql, re.I)
        return f"{word} {table.group(1) if table else '?'}"
    return word


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="postgres", choices=["postgres", "sqlite"])
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--tree", default=str(HERE))
    parser.add_argument("--show", action="store_true", help="print every statement of one request")
    args = parser.parse_args()
    tree = str(Path(args.tree).resolve())

    with empty_database(args.db, "mall_statements") as url, tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "bench", "LOGIN_RATE_LIMIT": "100000 per minute",
               "LEDGER_CHECKPOINT_FILE": os.path.join(tmp, "checkpoints.jsonl")}
        flask(tree, env, "db", "upgrade")
        flask(tree, env, "seed-demo")
        flask(tree, env, "user", "create", "--email", "counted@example.com", "--password", "bench-password-1")
        key = flask(tree, env, "api-key", "create", "--merchant", "qingfeng-appliances").strip().splitlines()[0]
        os.environ.update(env)
        sys.path.insert(0, tree)
        os.chdir(tree)
        measure(args, tree, key)


def measure(args, tree: str, key: str) -> None:
    from sqlalchemy import select

    from app import app
    from mall.account.models import User
    from mall.catalog.models import Listing
    from mall.coalition.models import Merchant
    from mall.extensions import db
    from mall.ledger import service as ledger

    app.config.update(WTF_CSRF_ENABLED=False)
    with app.app_context():
        with db.session.begin():
            shop = db.session.scalar(select(Merchant).where(Merchant.slug == "lvlin-mart"))
            user = db.session.scalar(select(User).where(User.email == "counted@example.com"))
            issuance = ledger.open_account(db.session, "merchant", shop.id, "issuance")
            ledger.transfer(db.session, issuance, ledger.member_account(db.session, user.id), 10**7, "earn",
                            key="statements:fund")
            coupon = Listing(merchant_id=shop.id, kind="coupon", category="grocery", title_zh="计数券",
                             title_en="Counted coupon", points_price=10, sort_points=10, stock=None,
                             coupon_valid_days=30, status="active")
            db.session.add(coupon)
            db.session.flush()
            listing, member_code = coupon.id, user.member_code
        recorder = Recorder(db.engine)

    member = app.test_client()
    member.post("/auth/login", data={"email": "counted@example.com", "password": "bench-password-1"})
    merchant = app.test_client()

    def checkout():
        response = member.post(f"/checkout?listing={listing}", data={"token": uuid.uuid4().hex})
        return response.status_code, 303

    def purchase():
        body = {"member_code": member_code, "total_fen": 12345,
                "items": [{"sku": "B-1", "name": "counted", "category": "appliances", "green": True,
                           "quantity": 1, "amount_fen": 12345}]}
        response = merchant.post("/api/v1/purchases", json=body,
                                 headers={"Authorization": f"Bearer {key}", "Idempotency-Key": str(uuid.uuid4())})
        return response.status_code, 201

    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
    print(f"statements bench: tree {tree}, {args.db}, median of {args.repeat} requests per use case")
    for name, call in (("HTML checkout (redeem now)", checkout), ("API purchase", purchase)):
        for _ in range(3):  # warm-up: caches, prepared paths, first-request work
            status, expected = call()
            assert status == expected, f"{name}: answered {status}, expected {expected}"
        rows = []
        if profiler:
            profiler.start()
        for _ in range(args.repeat):
            recorder.reset()
            started = time.perf_counter()
            status, expected = call()
            wall = (time.perf_counter() - started) * 1000
            assert status == expected, f"{name}: answered {status}, expected {expected}"
            rows.append({**recorder.figures(), "wall_ms": wall})
            last = [t["statements"] for t in recorder.transactions]
        if profiler:
            profiler.stop()
        med = lambda k: statistics.median(r[k] for r in rows)  # noqa: E731
        print(f"{name:<28} statements {med('statements'):>5.0f}  in writing transactions {med('in_writes'):>4.0f}"
              f" ({med('writes'):.0f} transactions, open {med('write_ms'):.1f} ms)  request {med('wall_ms'):.1f} ms")
        kinds = rows[-1]["kinds"]
        print(f"{'':<28} " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])))
        if args.show:
            for n, statements in enumerate(last):
                print(f"  transaction {n + 1}:")
                for s in statements:
                    print(f"    {s[:160]}")
    if profiler:
        print(profiler.output_text(unicode=True, color=False, show_all=False))


if __name__ == "__main__":
    main()

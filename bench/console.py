"""Operator console benchmark: the points report over a large ledger, audit-log search and export,
and what automatic audit capture adds to a staff member's write.

    python bench/console.py                       # SQLite in a temporary file
    python bench/console.py --pg postgresql+psycopg://postgres@127.0.0.1:5432/<scratch db>

It prints figures, it does not pass or fail. The ledger history is bulk-built as bench/ledger.py does
(earn + redeem pairs with lots, draws and the hash chain), then spread over twelve months so the
report has a year of months to group; the audit log is bulk-filled with rows like the console writes.
PostgreSQL uses the private schema bench_ledger (dropped and re-created).
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sqlalchemy import insert, text  # noqa: E402

import mall.models  # noqa: E402,F401
from bench import ledger as ledger_bench  # noqa: E402
from mall.db import write  # noqa: E402
from mall.models import Base  # noqa: E402


def all_models():
    """Import every area's models so create_all makes the whole schema."""
    import mall.account.models  # noqa: F401
    import mall.audit.models  # noqa: F401
    import mall.catalog.models  # noqa: F401
    import mall.charity.models  # noqa: F401
    import mall.checkout.models  # noqa: F401
    import mall.family.models  # noqa: F401
    import mall.fraud.models  # noqa: F401
    import mall.ledger.models  # noqa: F401
    import mall.coalition.models  # noqa: F401
    import mall.rules.models  # noqa: F401


def timed(fn, repeat=3):
    times = []
    result = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def run(name: str, url: str, args) -> list:
    from mall.account.models import User
    from mall.audit import service as audit
    from mall.audit.models import AuditEntry
    from mall.coalition.models import Merchant
    from mall.reports import service as reports

    all_models()
    rows = []
    engine, _ = ledger_bench.fresh(url, 4)
    Base.metadata.create_all(engine)
    Session = ledger_bench.sessions(engine)
    with Session() as s, write(s):
        s.add(Merchant(id=1, slug="bench", name_zh="基准", name_en="Bench", category="grocery", status="approved"))
        s.flush()
        s.add(User(id=1, email="staff@bench.invalid", display_name="bench", password_hash="!", role="merchant",
                   merchant_id=1, member_code="BENCH0001", session_token="bench"))
    seconds = ledger_bench.build_history(engine, args.transfers // 2)
    with engine.begin() as conn:  # spread the history over a year, so the report has twelve months
        if engine.dialect.name == "postgresql":
            conn.execute(text("UPDATE ledger_transfer SET created_at = created_at + id * interval '30 seconds'"))
            conn.execute(text("ANALYZE ledger_transfer"))
        else:
            conn.execute(text("UPDATE ledger_transfer SET created_at = datetime(created_at, '+' || (id * 30) || ' seconds')"))
    rows.append((name, f"bulk-built {args.transfers:,} transfers", seconds))

    with Session() as s:
        seconds, report = timed(lambda: reports.programme_report(s, 1))
        rows.append((name, f"points report over {args.transfers:,} transfers ({len(report.months)} months)", seconds))
        assert report.outstanding == 5 * (args.transfers // 2), report.outstanding

    started = time.perf_counter()
    batch = []
    with engine.begin() as conn:
        for i in range(args.audit):
            batch.append(dict(at=ledger_bench.START + timedelta(seconds=i * 20), actor_id=None,
                              actor_role="merchant" if i % 3 else "operator", merchant_id=None,
                              action="merchant.edit_listing" if i % 3 else "admin.case_action",
                              target_type="listing" if i % 3 else "fraud_case", target_id=str(i % 5000),
                              ip="127.0.0.1", before={"stock": i}, after={"stock": i + 1}, note="update"))
            if len(batch) == 20_000:
                conn.execute(insert(AuditEntry), batch)
                batch.clear()
        if batch:
            conn.execute(insert(AuditEntry), batch)
    rows.append((name, f"bulk-filled {args.audit:,} audit entries", time.perf_counter() - started))
    with Session() as s:
        for label, filters in (("audit page, no filter", audit.Filters()),
                               ("audit page, action filter", audit.Filters(action="admin.case_action")),
                               ("audit page, target filter", audit.Filters(target_type="listing", target_id="42"))):
            seconds, found = timed(lambda: audit.search(s, filters))
            rows.append((name, f"{label} ({len(found)} rows)", seconds))
        seconds, count = timed(lambda: sum(1 for _ in audit.csv_rows(s, audit.Filters())), repeat=1)
        rows.append((name, f"audit CSV export, {count - 1:,} rows", seconds))
    rows += capture_overhead(name, url, args.writes)
    ledger_bench.drop(url, engine)
    return rows


def capture_overhead(name: str, url: str, writes: int) -> list:
    """The same staff write (a listing's stock changed) with and without an audited actor."""
    from mall import create_app
    from mall.audit import service as audit
    from mall.catalog.models import Listing
    from mall.extensions import db

    config = {"SQLALCHEMY_DATABASE_URI": url, "TESTING": True}
    if url.startswith("postgresql"):
        config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"options": f"-c search_path={ledger_bench.SCHEMA}"}}
    app = create_app(config)
    result = []
    with app.test_request_context("/merchant/listings/1", method="POST"):
        with write(db.session):
            db.session.add(Listing(id=1, merchant_id=1, kind="goods", category="grocery", title_zh="基准",
                                   title_en="Bench", description_zh="", description_en="", points_price=100,
                                   sort_points=100, stock=10**6, status="active"))
        for label, actor in (("staff write, not audited", None),
                             ("staff write, audited", audit.Actor(1, "merchant", 1, "127.0.0.1"))):
            audit.set_actor(actor)
            started = time.perf_counter()
            for _ in range(writes):
                with write(db.session):
                    db.session.get(Listing, 1).stock -= 1
            seconds = time.perf_counter() - started
            result.append((name, f"{label}: {writes} writes, {seconds / writes * 1000:.2f} ms each", seconds))
        db.session.remove()
        db.engine.dispose()
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sqlite", metavar="PATH", help="SQLite file (default: a temporary file)")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--pg", metavar="URL", help="PostgreSQL URL of a scratch database")
    parser.add_argument("--transfers", type=int, default=1_000_000)
    parser.add_argument("--audit", type=int, default=500_000)
    parser.add_argument("--writes", type=int, default=500)
    args = parser.parse_args(argv)
    targets = []
    if not args.no_sqlite:
        path = args.sqlite or os.path.join(tempfile.mkdtemp(prefix="console-bench-"), "bench.sqlite3")
        targets.append(("sqlite", f"sqlite:///{path}"))
    if args.pg:
        targets.append(("postgresql", args.pg))
    for name, url in targets:
        for db_name, measure, seconds in run(name, url, args):
            print(f"{db_name:10} {measure:70} {seconds:8.3f} s")


if __name__ == "__main__":
    main()

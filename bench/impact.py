"""Impact benchmark: the member's impact report and the programme figures over many entries.

    python bench/impact.py                     # SQLite, a temporary file
    python bench/impact.py --pg                # PostgreSQL, a scratch database (see bench/harness.py)
    python bench/impact.py --members 20000 --months 12

It prints figures, it does not pass or fail. Members and their green entries (one per member and month,
two categories) are bulk-inserted; then ``mall.impact.service.report`` (total, 12-month series, categories,
with the programme median as the page gets it, from the 60-second cache), ``programme`` (the transparency
page's total and trend) cached and fresh, and the uncached median are timed.
"""
import argparse
import os
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from random import Random

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.harness import scratch_database  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", action="store_true", help="use a scratch PostgreSQL database")
    parser.add_argument("--members", type=int, default=20000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with scratch_database("pg" if args.pg else "sqlite") as url:
        os.environ["DATABASE_URL"] = url
        from sqlalchemy import insert

        from mall import create_app
        from mall.account.models import User
        from mall.clock import local_month
        from mall.extensions import db
        from mall.impact import service
        from mall.impact.models import ImpactEntry

        app = create_app({"SQLALCHEMY_DATABASE_URI": url})
        rng = Random(20261126)
        now = datetime.now(timezone.utc)
        with app.app_context():
            started = time.perf_counter()
            db.session.execute(insert(User), [
                dict(email=f"m{i}@bench.test", display_name=f"m{i}", password_hash="x", role="member",
                     member_code=f"B{i:010d}", session_token=f"t{i}", created_at=now) for i in range(args.members)])
            ids = [u for (u,) in db.session.execute(db.select(User.id))]
            rows = []
            for member_id in ids:
                for month in range(args.months):
                    at = now - timedelta(days=30 * month + rng.randrange(28))
                    for line, category in enumerate(("public_transport", "appliances")):
                        grams = rng.randrange(100, 50000)
                        rows.append(dict(member_id=member_id, source="purchase", source_id=member_id * 100 + month,
                                         line=line, category=category, grams=grams, net_grams=grams,
                                         occurred_at=at, month=local_month(at), created_at=at))
                if len(rows) >= 50000:
                    db.session.execute(insert(ImpactEntry), rows)
                    rows = []
            if rows:
                db.session.execute(insert(ImpactEntry), rows)
            db.session.commit()
            if args.pg:
                db.session.execute(db.text("ANALYZE impact_entry"))
                db.session.commit()
            print(f"{db.engine.dialect.name}: {len(ids):,} members, "
                  f"{len(ids) * args.months * 2:,} entries loaded in {time.perf_counter() - started:.1f}s")
            service.report(db.session, ids[0])  # warm the page cache (programme figures are kept 60 s)
            service.programme(db.session)
            for name, call in (("report(member)", lambda: service.report(db.session, rng.choice(ids))),
                               ("programme() cached", lambda: service.programme(db.session)),
                               ("programme() fresh", lambda: service._programme(db.session, None)),
                               ("median_member()", lambda: service.median_member(db.session))):
                times = []
                for _ in range(args.runs):
                    t = time.perf_counter()
                    call()
                    db.session.rollback()
                    times.append((time.perf_counter() - t) * 1000)
                print(f"  {name:18} median {statistics.median(times):7.1f} ms   max {max(times):7.1f} ms")
            db.engine.dispose()


if __name__ == "__main__":
    main()

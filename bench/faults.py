"""Crash a gunicorn worker (kill -9) while it is inside checkout, again and again, then show that no
partial order or transfer is left behind. Driven by bench/faults.sh.

    python bench/faults.py --point after_stock --rounds 20 [--db sqlite|postgres]
"""
import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.checkout import Shopper, prepare  # noqa: E402
from bench.harness import environment, flask, gunicorn, scratch_database  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CROSS_CHECK = """
from app import app
from mall.extensions import db
from mall.catalog.models import Listing
from mall.checkout.models import Order, OrderLine
from mall.ledger.models import Transfer
from sqlalchemy import func, select
with app.app_context():
    orders = db.session.scalars(select(Order)).all()
    without_transfer = [o.id for o in orders if o.points and o.transfer_id is None]
    without_lines = [o.id for o in orders if not o.lines]
    redeem_ids = set(db.session.scalars(select(Transfer.id).where(Transfer.kind == "redeem")))
    orphan_transfers = redeem_ids - {o.transfer_id for o in orders}
    sold = db.session.scalar(select(func.coalesce(func.sum(OrderLine.quantity), 0)).where(OrderLine.listing_id == LIMITED))
    stock = db.session.get(Listing, LIMITED).stock
    print(f"orders {len(orders)}; orders without their transfer {len(without_transfer)}; orders without lines "
          f"{len(without_lines)}; redeem transfers without an order {len(orphan_transfers)}; "
          f"stock + sold = {stock + sold} (started at 100)")
    bad = without_transfer or without_lines or orphan_transfers or stock + sold != 100
    raise SystemExit(1 if bad else 0)
"""


def worker_pids(master: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--point", required=True, choices=["after_stock", "after_points", "after_commit"])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--db", default="sqlite")
    args = parser.parse_args()
    with scratch_database(args.db) as url:
        emails, limited, _ = prepare(url, 1)
        env = {"MALL_FAULT_POINT": args.point, "MALL_FAULT_SECONDS": "3"}
        killed = 0
        with gunicorn(url, workers=1, extra_env=env) as port:
            master = int(subprocess.run(["pgrep", "-f", f"127.0.0.1:{port}"], capture_output=True, text=True)
                         .stdout.split()[0])
            for _ in range(args.rounds):
                shopper = Shopper(port, emails[0])
                thread = threading.Thread(target=lambda: _swallow(shopper.redeem, limited), daemon=True)
                thread.start()
                time.sleep(0.6)  # the worker is now asleep at the fault point, mid-checkout
                for pid in worker_pids(master):
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
                thread.join(10)
                deadline = time.time() + 15
                while not worker_pids(master) and time.time() < deadline:
                    time.sleep(0.1)
                time.sleep(1.0)  # the new worker boots
        verify = flask(url, "ledger", "verify").strip().splitlines()[-1]
        check = subprocess.run([sys.executable, "-c", CROSS_CHECK.replace("LIMITED", str(limited))], cwd=ROOT,
                               env=environment(url), capture_output=True, text=True)
        print(f"{args.db} {args.point:<13} workers killed {killed:>3}/{args.rounds}; ledger verify: {verify}; "
              f"{check.stdout.strip()}")
        if check.returncode or "OK" not in verify:
            raise SystemExit(1)


def _swallow(fn, *args):
    try:
        fn(*args)
    except Exception:
        pass


if __name__ == "__main__":
    main()

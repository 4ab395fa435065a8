"""Completed checkouts per second through the real HTML checkout (gunicorn on 127.0.0.1), with 1, 8
and 32 concurrent members, on SQLite and PostgreSQL; then the oversell and negative-balance counts.

    python bench/checkout.py [--db sqlite,postgres] [--clients 1,8,32] [--seconds 20]

Each client is a signed-in member posting "redeem now" forms (each with its own one-time token).
One listing has 100 units of stock to race for; the others are unlimited.
"""
import argparse
import http.client
import re
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Result, environment, flask, gunicorn, scratch_database  # noqa: E402

LIMITED_STOCK = 100


def prepare(url: str, members: int) -> tuple[list[str], int, int]:
    flask(url, "seed-demo")
    emails = []
    for n in range(members):
        email = f"shopper{n}@example.com"
        flask(url, "user", "create", "--email", email, "--password", "bench-password-1")
        emails.append(email)
    script = f"""
from app import app
from mall.edge import transaction
from mall.extensions import db
from mall.account.models import User
from mall.catalog.models import Listing
from mall.ledger import service as ledger
from mall.coalition.models import Merchant
from sqlalchemy import select
with app.app_context(), transaction():
    shop = db.session.scalar(select(Merchant).where(Merchant.slug == "lvlin-mart"))
    issuance = ledger.open_account(db.session, "merchant", shop.id, "issuance")
    for user in db.session.scalars(select(User).where(User.email.like("shopper%"))):
        ledger.transfer(db.session, issuance, ledger.member_account(db.session, user.id), 10**7, "earn",
                        key=f"bench:{{user.id}}")
    limited = Listing(merchant_id=shop.id, kind="coupon", category="grocery", title_zh="限量券", title_en="Limited coupon",
                      points_price=10, sort_points=10, stock={LIMITED_STOCK}, coupon_valid_days=30, status="active")
    unlimited = Listing(merchant_id=shop.id, kind="coupon", category="grocery", title_zh="不限量券",
                        title_en="Unlimited coupon", points_price=10, sort_points=10, stock=None,
                        coupon_valid_days=30, status="active")
    db.session.add_all([limited, unlimited])
    db.session.flush()
    print(limited.id, unlimited.id)
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parent.parent,
                         env=environment(url), check=True, capture_output=True, text=True).stdout
    limited, unlimited = (int(x) for x in out.split())
    return emails, limited, unlimited


class Shopper:
    def __init__(self, port: int, email: str):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookie = ""
        page = self.request("GET", "/auth/login")
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        self.request("POST", "/auth/login", {"csrf_token": token, "email": email, "password": "bench-password-1"})
        page = self.request("GET", "/account")
        self.csrf = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)

    def request(self, method, path, form=None):
        headers = {"Cookie": self.cookie} if self.cookie else {}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read().decode()
        cookie = response.getheader("Set-Cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        self.status = response.status
        return data

    def redeem(self, listing_id: int) -> int:
        self.request("POST", f"/checkout?listing={listing_id}", {"csrf_token": self.csrf, "token": secrets.token_urlsafe(12)})
        return self.status


def run(port: int, emails: list[str], listing_for, clients: int, seconds: float) -> Result:
    latencies, statuses, lock = [], {}, threading.Lock()
    shoppers = [Shopper(port, emails[c % len(emails)]) for c in range(clients)]
    stop_at = time.time() + seconds

    def work(shopper, c):
        mine, codes, i = [], {}, 0
        while time.time() < stop_at:
            started = time.perf_counter()
            status = shopper.redeem(listing_for(c, i))
            mine.append(time.perf_counter() - started)
            codes[status] = codes.get(status, 0) + 1
            i += 1
        with lock:
            latencies.extend(mine)
            for k, v in codes.items():
                statuses[k] = statuses.get(k, 0) + v

    threads = [threading.Thread(target=work, args=(s, c)) for c, s in enumerate(shoppers)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Result(f"{clients:>2} clients", latencies, time.perf_counter() - started, statuses)


def audit(url: str, limited: int) -> str:
    script = f"""
from app import app
from mall.extensions import db
from mall.catalog.models import Listing
from mall.checkout.models import Order, OrderLine
from mall.ledger.models import Account
from sqlalchemy import func, select
with app.app_context():
    sold = db.session.scalar(select(func.coalesce(func.sum(OrderLine.quantity), 0)).join(Order).where(
        OrderLine.listing_id == {limited}, Order.status != "cancelled"))
    stock = db.session.get(Listing, {limited}).stock
    negative = db.session.scalar(select(func.count(Account.id)).where(Account.guarded, Account.balance < 0))
    print(f"limited listing: sold {{sold}}, stock left {{stock}}, oversold {{max(0, sold - {LIMITED_STOCK})}}; "
          f"negative guarded balances {{negative}}")
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parent.parent,
                         env=environment(url), check=True, capture_output=True, text=True).stdout
    return out.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    levels = [int(c) for c in args.clients.split(",")]
    print(f"checkout bench: {args.seconds:.0f} s per level, gunicorn -w {args.workers}; 303 = order placed")
    for kind in args.db.split(","):
        with scratch_database(kind) as url:
            emails, limited, unlimited = prepare(url, max(levels))
            with gunicorn(url, workers=args.workers) as port:
                for clients in levels:
                    # one request in ten races for the limited listing, the rest buy unlimited coupons
                    result = run(port, emails, lambda c, i: limited if i % 10 == 0 else unlimited, clients, args.seconds)
                    done = result.statuses.get(303, 0) / result.seconds
                    print(f"{kind:<9}" + result.row() + f"  completed checkouts {done:.1f}/s")
            print(f"{kind:<9}{audit(url, limited)}")
            try:
                print(f"{kind:<9}ledger verify: {flask(url, 'ledger', 'verify').strip().splitlines()[-1]}")
            except subprocess.CalledProcessError as failed:  # show what verify found, not just its exit status
                print(f"{kind:<9}ledger verify exited {failed.returncode}:\n{failed.stdout}{failed.stderr}")


if __name__ == "__main__":
    main()

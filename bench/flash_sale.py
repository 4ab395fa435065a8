"""A flash sale: a limited listing (``--units``, one per member) opened at one instant to ``--members``
signed-in members who all press "redeem now" at once, through the real HTML checkout (gunicorn on
127.0.0.1), on SQLite and PostgreSQL. Prints how long until every member was answered, throughput,
p50/p99 latency, the answers (303 = won, 409 = lost, 5xx), then the check: orders = units, no member
with two, no negative balance, ``flask ledger verify``.

    python bench/flash_sale.py [--db sqlite,postgres] [--members 1000] [--units 100] [--workers 4]

Members are signed in (argon2, on the server) in a thread pool before the clock starts; each then holds
its session cookie and a CSRF token, and all are released together when the listing opens.
"""
import argparse
import http.client
import re
import secrets
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Result, environment, flask, gunicorn, scratch_database  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-password-1"
POINTS, PRICE = 1000, 100


def script(url: str, code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment(url),
                          check=True, capture_output=True, text=True).stdout


def prepare(url: str, members: int, units: int) -> int:
    """A merchant, ``members`` members with points (one argon2 hash shared by all, made once) and the
    limited listing, not open yet; the listing's id."""
    return int(script(url, f"""
from datetime import timedelta
from argon2 import PasswordHasher
from app import app
from mall.account import service as accounts
from mall.catalog.models import Listing
from mall.clock import utcnow
from mall.coalition.service import create_merchant
from mall.edge import transaction
from mall.extensions import db
from mall.ledger import service as ledger
with app.app_context():
    with transaction():
        ledger.ensure_system_accounts(db.session)
        shop = create_merchant(db.session, slug="flash", name_zh="闪购", name_en="Flash", category="grocery",
                               status="approved")
        issuance = ledger.open_account(db.session, "merchant", shop.id, "issuance")
        hashed = PasswordHasher().hash({PASSWORD!r})
        for n in range({members}):
            user = accounts.register(db.session, email=f"fan{{n}}@example.com", display_name=f"fan{{n}}",
                                     password_hash=hashed)
            ledger.transfer(db.session, issuance, ledger.member_account(db.session, user.id), {POINTS}, "earn",
                            key=f"bench:{{user.id}}")
        listing = Listing(merchant_id=shop.id, kind="coupon", category="grocery", title_zh="限量券",
                          title_en="Flash coupon", points_price={PRICE}, sort_points={PRICE}, stock={units},
                          limit_per_member=1, limit_period="ever", coupon_valid_days=30, status="active",
                          available_from=utcnow() + timedelta(days=1))
        db.session.add(listing)
        db.session.flush()
        print(listing.id)
"""))


def open_sale(url: str, listing_id: int) -> None:
    """The opening instant: the listing becomes available now."""
    script(url, f"""
from app import app
from mall.catalog.models import Listing
from mall.clock import utcnow
from mall.edge import transaction
from mall.extensions import db
with app.app_context(), transaction():
    db.session.get(Listing, {listing_id}).available_from = utcnow()
""")


class Member:
    def __init__(self, port: int, n: int):
        self.port, self.cookie = port, ""
        page = self.request("GET", "/auth/login")
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        self.request("POST", "/auth/login", {"csrf_token": token, "email": f"fan{n}@example.com", "password": PASSWORD})
        if self.status != 302:
            raise RuntimeError(f"fan{n} could not sign in: {self.status}")
        self.csrf = re.search(r'"X-CSRFToken": "([^"]+)"', self.request("GET", "/account")).group(1)

    def request(self, method, path, form=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        headers = {"Cookie": self.cookie, "Accept-Language": "en"} if self.cookie else {"Accept-Language": "en"}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read().decode()
        finally:
            conn.close()
        cookie = response.getheader("Set-Cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        self.status = response.status
        return data

    def redeem(self, listing_id: int) -> int:
        try:
            self.request("POST", f"/checkout?listing={listing_id}",
                         {"csrf_token": self.csrf, "token": secrets.token_urlsafe(12)})
            return self.status
        except (OSError, http.client.HTTPException):
            return "error"


def sale(port: int, members: list[Member], listing_id: int) -> Result:
    """Every member presses "redeem now" at the same instant; each one's latency and answer."""
    latencies, statuses, lock = [], {}, threading.Lock()
    gate = threading.Barrier(len(members) + 1)

    def press(member):
        gate.wait()
        started = time.perf_counter()
        status = member.redeem(listing_id)
        took = time.perf_counter() - started
        with lock:
            latencies.append(took)
            statuses[status] = statuses.get(status, 0) + 1

    threads = [threading.Thread(target=press, args=(m,)) for m in members]
    for t in threads:
        t.start()
    gate.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    return Result(f"{len(members)} members, {len(latencies)} answered", latencies, time.perf_counter() - started,
                  statuses)


def audit(url: str, listing_id: int, units: int) -> str:
    return script(url, f"""
from app import app
from mall.checkout.models import Order, OrderLine
from mall.extensions import db
from mall.ledger.models import Account
from sqlalchemy import func, select
with app.app_context():
    per_member = db.session.execute(select(Order.member_id, func.sum(OrderLine.quantity)).join(OrderLine).where(
        OrderLine.listing_id == {listing_id}, Order.status != "cancelled").group_by(Order.member_id)).all()
    sold = sum(int(u) for _, u in per_member)
    twice = sum(1 for _, u in per_member if u > 1)
    negative = db.session.scalar(select(func.count(Account.id)).where(Account.guarded, Account.balance < 0))
    ok = sold == {units} and twice == 0 and negative == 0
    print(f"orders {{sold}} of {units} units, members with two {{twice}}, negative balances {{negative}}: "
          f"{{'OK' if ok else 'WRONG'}}")
""").strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--units", type=int, default=100)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    print(f"flash sale bench: {args.units} units, one per member, {args.members} members at once, "
          f"gunicorn -w {args.workers}; 303 = won, 409 = lost (sold out)")
    for kind in args.db.split(","):
        with scratch_database(kind) as url:
            listing_id = prepare(url, args.members, args.units)
            with gunicorn(url, workers=args.workers) as port:
                signing_in = time.perf_counter()
                with ThreadPoolExecutor(max_workers=2 * args.workers) as pool:
                    members = list(pool.map(lambda n: Member(port, n), range(args.members)))
                print(f"{kind:<9}signed in {len(members)} members in {time.perf_counter() - signing_in:.1f} s "
                      f"(before the clock)")
                open_sale(url, listing_id)
                result = sale(port, members, listing_id)
            won = result.statuses.get(303, 0) + result.statuses.get(201, 0)
            failed = sum(v for k, v in result.statuses.items() if k == "error" or k >= 500)
            print(f"{kind:<9}all answered in {result.seconds:.2f} s: {result.rps:.1f} answers/s, "
                  f"p50 {result.pct(50):.0f} ms, p99 {result.pct(99):.0f} ms; won {won}, "
                  f"lost (409) {result.statuses.get(409, 0)}, 5xx/errors {failed}, "
                  f"other {len(result.latencies) - won - result.statuses.get(409, 0) - failed}")
            print(f"{kind:<9}{audit(url, listing_id, args.units)}")
            print(f"{kind:<9}ledger verify: {flask(url, 'ledger', 'verify').strip().splitlines()[-1]}")


if __name__ == "__main__":
    main()

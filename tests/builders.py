"""Shared test builders: users, merchants, listings, purchases, a `World` of points, signed-in
clients, times and races. Test modules import from here (fixtures live in the conftests)."""
import re
import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from mall.account import service as accounts
from mall.account.models import User
from mall.api import service as api_service
from mall.catalog import service as catalog
from mall.catalog.models import Listing
from mall.charity import service as charity
from mall.checkout import orchestrator
from mall.checkout import service as checkout
from mall.db import write
from mall.errors import DomainError
from mall.extensions import db
from mall.ledger import service as ledger
from mall.coalition.models import Merchant
from mall.coalition.service import create_merchant
from mall.rules import service as rules

PASSWORD = "correct-horse-battery"
UTC = timezone.utc
NOW = datetime.now(UTC)  # one "now" for a whole run, for dates around it


def at(*parts) -> datetime:
    """An aware UTC instant: at(2026, 12, 31, 17)."""
    return datetime(*parts, tzinfo=UTC)


# ---------------------------------------------------------------- browsing as a person

def csrf_token(client, path="/auth/login") -> str:
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


class Auth:
    """A user's steps: register, sign in, sign out — through the real forms, CSRF included."""

    def __init__(self, client):
        self.client = client

    def register(self, email="ada@example.com", password=PASSWORD, name="Ada", **extra):
        data = {"email": email, "password": password, "confirm": password, "display_name": name, "consent": "y",
                "csrf_token": csrf_token(self.client, "/auth/register"), **extra}
        return self.client.post("/auth/register", data=data)

    def login(self, email="ada@example.com", password=PASSWORD, next=""):
        data = {"email": email, "password": password, "next": next,
                "csrf_token": csrf_token(self.client)}
        return self.client.post("/auth/login", data=data)

    def logout(self):
        return self.client.post("/auth/logout", data={"csrf_token": csrf_token(self.client, "/auth/logout")})


def signed_in_client(app, email):
    """A new English-speaking client, signed in as ``email``."""
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    assert Auth(client).login(email).status_code == 302
    return client


# ---------------------------------------------------------------- rows

def make_user(app, email, role="member", merchant_id=None, name=None):
    with app.app_context(), write(db.session):
        user = accounts.register(db.session, email=email, password=PASSWORD, display_name=name or email.split("@")[0],
                                role=role, merchant_id=merchant_id)
        return user.id


def make_merchant(app, slug="lvlin", status="approved"):
    with app.app_context(), write(db.session):
        return create_merchant(db.session, slug=slug, name_zh=f"{slug}商户", name_en=f"{slug} shop",
                               category="grocery", status=status).id


def assert_ledger_ok(app) -> None:
    """`flask ledger verify`'s checks, all passing."""
    with app.app_context():
        report = ledger.verify(db.session)
        assert report.ok, report.problems


def listing_doc(**changes):
    """A merchant's listing form, as the catalog service takes it."""
    doc = {"kind": "goods", "category": "textiles", "title_zh": "竹纤维毛巾", "title_en": "Bamboo towel",
           "description_zh": "柔软", "description_en": "Soft", "points_price": 2800, "stock": 10, "green": True,
           "co2e_g": 900}
    doc.update(changes)
    return doc


def create_listing(app, merchant_id, publish=True, **changes):
    """A listing of the merchant's (published unless told); its id."""
    with app.app_context(), write(db.session):
        shop = db.session.get(Merchant, merchant_id)
        item = catalog.create_listing(db.session, shop, listing_doc(**changes))
        if publish:
            catalog.set_status(db.session, shop, item.id, "publish")
        return item.id


def stock(app, listing_id):
    """The listing's stock now."""
    with app.app_context():
        return db.session.get(Listing, listing_id).stock


def checkout_as(app, user_id, requests, token=None, delivery=None, pay_token="tok_approve", **options):
    """Redeem ``requests`` as the member through the checkout service; (order ids, replayed)."""
    with app.app_context():
        user = db.session.get(User, user_id)
        placed = orchestrator.checkout(db.session, user, requests, delivery or checkout.Delivery(
            name="林小绿", phone="13800138000", address="上海市浦东新区世纪大道 100 号", guest_name="林小绿"),
            token or secrets.token_urlsafe(12), pay_token, **options)
        return [o.id for o in placed.orders], placed.replayed


# ---------------------------------------------------------------- the merchant API

class Shop:
    """An approved merchant with an API key; ``headers`` authorise requests as it."""

    def __init__(self, app, slug):
        self.app = app
        self.id = make_merchant(app, slug)
        with app.app_context(), write(db.session):
            _, self.key = api_service.create_key(db.session, db.session.get(Merchant, self.id), "test")
        self.headers = {"Authorization": f"Bearer {self.key}"}


def purchase_body(code, total=12800, green=True, **extra):
    """A purchase report for the API: one item worth ``total`` fen."""
    return {"member_code": code, "total_fen": total,
            "items": [{"sku": "AC-01", "name": "一级能效空调", "category": "appliances", "green": green,
                       "quantity": 1, "amount_fen": total}], **extra}


def balance_of(app, code):
    """The balance of the member with this member code."""
    with app.app_context():
        user = db.session.scalar(select(User).where(User.member_code == code))
        return ledger.member_balance(db.session, user.id)


# ---------------------------------------------------------------- a world of points

class World:
    """A merchant ("shop") that awards points, members who hold them, and what they can spend them on.
    Areas subclass it for their own steps; ``member_points`` is what a new member earns unless told."""

    member_points = 10000

    def __init__(self, app, merchant="shop", operator=None):
        self.app = app
        self.merchant_id = make_merchant(app, merchant)
        self.operator_id = make_user(app, operator, role="operator") if operator else None

    def user(self, user_id) -> User:
        """The user, in the caller's application context."""
        return db.session.get(User, user_id)

    def code(self, user_id) -> str:
        with self.app.app_context():
            return db.session.get(User, user_id).member_code

    def member(self, email="m@example.com", points=None, name=None):
        """A member who earned ``points`` at the merchant: a number, or one earning per number."""
        user_id = make_user(self.app, email, name=name)
        points = self.member_points if points is None else points
        for amount in points if isinstance(points, (list, tuple)) else [points] if points else []:
            self.earn(user_id, amount)
        return user_id

    def _post(self, debit, credit, points, kind, now=None, key=None, memo="", ref=None) -> int:
        with self.app.app_context(), write(db.session):
            return ledger.transfer(db.session, debit(db.session), credit(db.session), points, kind,
                                   key=key or f"test:{kind}:{secrets.token_hex(6)}",
                                   memo=memo, ref=ref, now=now).transfer.id

    def earn(self, user_id, points, now=None, *, key=None, memo="", ref=None) -> int:
        """The member earns ``points`` from the merchant; the transfer's id."""
        return self._post(lambda s: ledger.open_account(s, "merchant", self.merchant_id, "issuance"),
                          lambda s: ledger.member_account(s, user_id), points, "earn", now, key, memo, ref)

    def redeem(self, user_id, points, now=None, *, memo="") -> int:
        """The member spends ``points`` at the merchant; the transfer's id."""
        return self._post(lambda s: ledger.member_account(s, user_id),
                          lambda s: ledger.find_account(s, "merchant", self.merchant_id, "redemption"),
                          points, "redeem", now, memo=memo)

    def earnings(self, user_id) -> list[int]:
        """The ids of the member's earnings, newest first."""
        with self.app.app_context():
            account = ledger.member_account(db.session, user_id)
            return [r.transfer.id for r in ledger.statement(db.session, account, kinds=["earn"], limit=100)]

    def balance(self, user_id) -> int:
        with self.app.app_context():
            return ledger.member_balance(db.session, user_id)

    def listing(self, **changes) -> int:
        """A published listing of the merchant's."""
        return create_listing(self.app, self.merchant_id, **changes)

    def buy(self, user_id, items, days_ago=0) -> int:
        """Report a purchase at the merchant (items are (category, green, amount_fen)); its id."""
        now = datetime.now(UTC)
        with self.app.app_context(), write(db.session):
            doc = {"member_code": self.code(user_id), "total_fen": sum(i[2] for i in items),
                   "items": [{"category": c, "green": g, "amount_fen": a, "quantity": 1} for c, g, a in items]}
            purchase = rules.parse_purchase(doc, now)
            if days_ago:
                purchase = rules.PurchaseInput(purchase.member_code, purchase.total_fen,
                                               now - timedelta(days=days_ago), purchase.items)
            return rules.award_purchase(db.session, db.session.get(Merchant, self.merchant_id), purchase).id

    def project(self, goal=100000, starts=-1, ends=30, **changes) -> int:
        """A charity project the operator created, open from ``starts`` to ``ends`` days from NOW."""
        fields = dict(cause="education", organisation_zh="春苗基金会", organisation_en="Spring Sprout Foundation",
                      title_zh="乡村儿童图书角", title_en="Reading corners", story_zh="故事", story_en="Story",
                      goal_points=goal, fen_per_100_points=100,
                      starts_at=NOW + timedelta(days=starts), ends_at=NOW + timedelta(days=ends))
        fields.update(changes)
        with self.app.app_context(), write(db.session):
            return charity.create_project(db.session, self.user(self.operator_id), charity.ProjectDraft(**fields)).id

    def donate(self, user_id, project_id, points, anonymous=False, token=None, now=None) -> int:
        """The member gives ``points`` to the project; the donation's id."""
        with self.app.app_context(), write(db.session):
            done = charity.donate(db.session, self.user(user_id), project_id, points, anonymous=anonymous,
                                  token=token or secrets.token_hex(8), now=now)
            return done.donation.id

    def client_for(self, email):
        return signed_in_client(self.app, email)

    def verify(self):
        assert_ledger_ok(self.app)


# ---------------------------------------------------------------- concurrency

def race(attempt, arguments, *, app=None, values=False):
    """Run ``attempt(argument)`` for every argument at once, each in its own thread (with ``app``: in
    its own application context, whose session is removed after); return, in argument order, per
    attempt "ok" (with ``values``: what it returned) or the refusing DomainError's HTTP status.
    Any other error is raised here."""
    arguments = list(arguments)

    def one(argument):
        try:
            if app is None:
                value = attempt(argument)
            else:
                with app.app_context():
                    try:
                        value = attempt(argument)
                    finally:
                        db.session.remove()
        except DomainError as err:
            return err.status
        return value if values else "ok"

    with ThreadPoolExecutor(max_workers=max(len(arguments), 1)) as pool:
        return list(pool.map(one, arguments))

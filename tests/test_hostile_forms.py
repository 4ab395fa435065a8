"""The suite's own fuzzing of every HTML form: each role's pages are crawled from the demo mall, every
<form> found there is sent hostile values in each of its fields, and no answer may be a server error.

Every form-handling route of the app must be reached by the crawl (or be named in NOT_CRAWLED with the
reason), so a new form cannot escape the fuzzing."""
import logging
import re
from datetime import date, timedelta
from html.parser import HTMLParser
from urllib.parse import urlencode, urljoin, urlsplit

import pytest
from werkzeug.exceptions import MethodNotAllowed, NotFound

from tests.builders import assert_ledger_ok

DEMO_PASSWORD = "demo-pass-2026"
ROLES = {"anonymous": None, "invitee": "wang.qiang@demo.test",  # invited to the member's family
         "member": "member@demo.test", "merchant": "merchant@demo.test", "operator": "operator@demo.test"}
REPEATED = object()  # the field sent three times, as an array
MISSING = object()  # the field left out
HOSTILE = ["", "\r\n", "1.5", "1e3", "0x10", "9" * 30, "9223372036854775808", "-1", "²", "１２３４５６",
           "\x00", "a\x00b", "\x1b[31m", "x" * 5000, b"\xff\xfe", REPEATED, MISSING]
SKIP_FIELDS = {"csrf_token"}  # a wrong token is one 400 for every form; fuzzed once per form below
# Routes whose forms the crawl cannot reach, with the reason; anything else that takes a form must be found.
NOT_CRAWLED = {
    "auth.logout": "signing out would end the crawl; a button-only form (no field but the CSRF token)",
    "family.answer_link": "reached only through an invitation's secret link; family.answer takes the same form",
    "family.send_gift": "shown only on the confirmation page a valid gift form answers with (GiftForm, as "
                        "family.gift, which is fuzzed)",
    "engage.claim_set": "shown only once a member holds every badge of a set; a button-only form",
    "messages.dead_letter": "button-only forms (retry, discard) beside dead letters, which the demo has none of; "
                            "tests/messages post them",
    "messages.request_confirmation": "a button-only form shown until the address is confirmed, and the demo's "
                                     "members have confirmed theirs; tests/messages/test_email posts it",
    "messages.unsubscribe": "reached only through the signed link in an e-mail; a button-only form whose proof is "
                            "the token, which tests/messages/test_email tampers with",
    "messages.webhook_action": "button-only forms on a webhook endpoint's page; the demo merchant registers none "
                               "(tests/messages/test_webhooks post each, for its own and another merchant)",
}
SKIP_PAGES = {"static", "catalog.media", "auth.logout"}
CRAWL_LIMIT = 600
PAGES_PER_ROUTE = 6  # e.g. several listings' editors: a service's and a stay's have forms a product's lacks


class Page(HTMLParser):
    """The links and forms of one HTML page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links, self.forms = [], []
        self._form = self._select = self._textarea = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        for attr in ("hx-get", "hx-post"):
            if a.get(attr) and tag != "form":
                self.links.append(a[attr]) if attr == "hx-get" else None
        if tag == "form":
            self._form = {"method": (a.get("method") or "get").lower(), "action": a.get("action") or "",
                          "extra": [a["hx-post"]] if a.get("hx-post") else [], "fields": {}}
            self.forms.append(self._form)
        if self._form is None:
            return
        fields, name = self._form["fields"], a.get("name")
        if tag == "input" and name:
            kind = (a.get("type") or "text").lower()
            if kind in ("checkbox", "radio"):
                if kind == "radio" and name in fields:
                    return
                fields[name] = (kind, a.get("value", "y"))
            elif kind not in ("submit", "button", "reset", "image"):
                fields.setdefault(name, (kind, a.get("value", "")))
        elif tag == "button" and name:
            fields.setdefault(name, ("button", a.get("value", "")))
        if tag == "button" and a.get("formaction"):
            self._form["extra"].append(a["formaction"])
        elif tag == "select" and name:
            self._select = name
            fields[name] = ("select", None)
        elif tag == "option" and self._select:
            kind, value = fields[self._select]
            option = a.get("value", "")
            if value is None or (not value and option) or "selected" in a:
                fields[self._select] = (kind, option)
        elif tag == "textarea" and name:
            self._textarea = name
            fields[name] = ("textarea", "")

    def handle_data(self, data):
        if self._form is not None and self._textarea:
            kind, value = self._form["fields"][self._textarea]
            self._form["fields"][self._textarea] = (kind, value + data)

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def plausible(name: str, kind: str, value: str | None) -> str:
    """A value the form would likely accept, so a hostile value in one field meets valid others."""
    if value:
        return value
    soon = date.today() + timedelta(days=2)
    if kind == "number":
        return "5"
    if kind == "date":
        return soon.isoformat()
    if kind == "datetime-local":
        return soon.isoformat() + "T10:00"
    if kind == "email" or "email" in name:
        return "someone@example.com"
    if kind == "password":
        return "not-the-password-1"
    if "amount" in name or "yuan" in name or name in ("cash", "bill"):
        return "12.50"
    if "code" in name:
        return "ABCD1234"
    if kind == "textarea":
        return "A few words of plain text for this form."
    return "Plain text 1"


def sign_in(app, role):
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    if ROLES[role]:
        html = client.get("/auth/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
        response = client.post("/auth/login", data={"email": ROLES[role], "password": DEMO_PASSWORD,
                                                    "csrf_token": token})
        assert response.status_code == 302, f"{role} could not sign in"
    return client


def walk(app, client, parse, *, limit=CRAWL_LIMIT, per_route=PAGES_PER_ROUTE, headers=None):
    """Every HTML page reachable from the start pages (the home page and every GET route without
    arguments) by links, at most ``per_route`` pages per route: yields (url, ``parse(html)``), whose
    ``links`` the walk follows. A redirect is followed to where it points; no answer may be a server
    error. Shared by the crawls of the suite (hostile forms, one language per page)."""
    adapter = app.url_map.bind("localhost")
    queue = ["/"] + [r.rule for r in app.url_map.iter_rules() if "GET" in r.methods and not r.arguments]
    seen, visits = set(), {}
    while queue and len(seen) < limit:
        url = queue.pop(0).split("#")[0]
        parts = urlsplit(url)
        if parts.netloc or not parts.path.startswith("/") or parts.path.startswith("/api/"):
            continue
        try:
            endpoint, _args = adapter.match(parts.path, method="GET")
        except (NotFound, MethodNotAllowed):
            continue
        except Exception:  # a redirect rule
            continue
        if endpoint in SKIP_PAGES or url in seen or visits.get(endpoint, 0) >= per_route:
            continue
        seen.add(url)
        visits[endpoint] = visits.get(endpoint, 0) + 1
        response = client.get(url, headers=headers or {})
        assert response.status_code < 500, f"GET {url}: {response.status_code}"
        if 300 <= response.status_code < 400 and "Location" in response.headers:
            queue.append(urljoin(url, response.headers["Location"]))
            continue
        if not response.content_type.startswith("text/html"):
            response.close()  # a streamed download (CSV) ends here, in its own request context
            continue
        parsed = parse(response.get_data(as_text=True))
        queue += [urljoin(url, link) for link in parsed.links]
        yield url, parsed


def _parsed(html):
    page = Page()
    page.feed(html)
    return page


def crawl(app, client):
    """Every page reachable from the start pages by links, a few per route; the forms found."""
    adapter = app.url_map.bind("localhost")
    forms = {}
    for url, page in walk(app, client, _parsed):
        for form in page.forms:
            targets = [(form["method"], form["action"] or url)] + [("post", extra) for extra in form["extra"]]
            for method, action in targets:
                action = urljoin(url, action)
                try:
                    target, _args = adapter.match(urlsplit(action).path, method=method.upper())
                except (NotFound, MethodNotAllowed):
                    continue
                forms.setdefault((method, target), (action, form["fields"]))
    return forms


def fuzz(client, method, action, fields):
    """Send the form once per field and hostile value; return the answers that were server errors."""
    base = [(name, plausible(name, kind, value)) for name, (kind, value) in fields.items()]
    variants = [("csrf_token", "forged")] if "csrf_token" in fields else []
    variants += [(name, value) for name in fields if name not in SKIP_FIELDS for value in HOSTILE]
    failures = []
    for name, hostile in variants:
        pairs = [(n, v) for n, v in base if n != name]
        if hostile is REPEATED:
            pairs += [(name, "1"), (name, "a\x00b"), (name, "9223372036854775808")]
        elif hostile is not MISSING:
            pairs.append((name, hostile))
        body = urlencode(pairs)
        if method == "post":
            response = client.post(action, data=body, content_type="application/x-www-form-urlencoded")
        else:
            response = client.get(f"{urlsplit(action).path}?{body}")
        if response.status_code >= 500:
            failures.append((method.upper(), action, name, hostile, response.status_code))
    return failures


class Errors(logging.Handler):
    """The server errors the app logs, so a failure names its exception."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.seen = []

    def emit(self, record):
        if record.exc_info:
            self.seen.append(f"{record.exc_info[0].__name__}: {record.exc_info[1]}"[:300])


def prepare(app) -> None:
    """What the demo lacks for every form to show: a cart, orders (placed, fulfilled, cancellable), a
    till request, fraud cases with a pending action, a draft rule set, a pledge, a family with an open
    invitation, a review waiting for moderation, a certificate link and an API key."""
    from sqlalchemy import select

    from mall.account import service as accounts
    from mall.api import service as api
    from mall.catalog import service as catalog
    from mall.catalog.models import Listing, ServiceSlot
    from mall.charity import service as charity
    from mall.checkout import bills, merchant_side, orchestrator, service as checkout
    from mall.db import write
    from mall.engage import reviews
    from mall.extensions import db
    from mall.family import service as family
    from mall.fraud import service as fraud
    from mall.impact import service as impact
    from mall.ledger import service as ledger
    from mall.coalition import service as merchants
    from mall.models import utcnow
    from mall.rules import service as rules

    with app.app_context():
        s = db.session
        member, li, wang, operator = (accounts.find_by_email(s, e) for e in (
            "member@demo.test", "li.na@demo.test", "wang.qiang@demo.test", "operator@demo.test"))
        shop = merchants.get_by_slug(s, "lvlin-mart")
        goods = s.scalars(select(Listing).where(Listing.merchant_id == shop.id, Listing.kind == "goods",
                                                Listing.mix_points.is_(None), Listing.status == "active")
                          .order_by(Listing.points_price)).first()
        service = s.scalars(select(Listing).where(Listing.kind == "service", Listing.status == "active")
                            .order_by(Listing.points_price, Listing.id)).first()  # the cheapest: the member affords it
        slot = s.scalars(select(ServiceSlot).where(ServiceSlot.listing_id == service.id)
                         .order_by(ServiceSlot.starts_at.desc())).first()
        delivery = checkout.Delivery("林小绿", "13800138000", "上海市浦东新区世纪大道 100 号", "林小绿")
        orders = [orchestrator.checkout(s, member, [checkout.LineRequest(goods.id)], delivery, f"fuzz-{n}").orders[0].id
                  for n in range(3)]
        with write(s):
            checkout.add_to_cart(s, member, goods.id)
            merchant_side.fulfil(s, shop, orders[1])
            merchant_side.fulfil(s, shop, orders[2])
            for kind, category in (("service", "services"), ("stay", "hotel")):
                catalog.create_listing(s, shop, {"kind": kind, "category": category, "title_zh": "预约",
                                                 "title_en": "Booking", "points_price": 500})
        orchestrator.checkout(s, member, [checkout.LineRequest(service.id, slot_id=slot.id)], delivery, "fuzz-slot")
        with write(s):
            bills.request_payment(s, shop, member.member_code, 10000)
            credit = next(r.transfer.id for r in ledger.statement(s, ledger.find_account(s, "member", member.id))
                          if r.delta > 0)
            own_case = fraud.open_case(s, operator, member.id, "Checking the pages of a case", transfer_ids=[credit],
                                       private_root=app.config["PRIVATE_ROOT"])
            credit = next(r.transfer.id for r in ledger.statement(s, ledger.find_account(s, "member", wang.id))
                          if r.delta > 0)
            case = fraud.open_case(s, operator, wang.id, "Checking the console of a case", transfer_ids=[credit],
                                       private_root=app.config["PRIVATE_ROOT"])
            freeze = fraud.request_freeze(s, accounts.find_by_email(s, "auditor@demo.test"), case.id, "checking")
            assert freeze.status == "pending", "the other operator decides"
            rules.save_draft(s, operator, dict(rules.rule_set_at(s, utcnow()).document), "A draft to publish")
            charity.pledge_monthly(s, member, charity.matchable_projects(s, utcnow())[0].id, 10, anonymous=False)
            family.create_family(s, member, "林家")
            invitation, _token = family.invite(s, member, li.member_code)
        with write(s):
            family.accept(s, li, invitation)
            family.invite(s, member, wang.member_code)
            reviews.submit_review(s, member, orders[1], 5, "Good towels, quick delivery.")
            impact.create_share(s, member, show_name=True, show_categories=True, show_chart=True, show_trees=True)
            api.create_key(s, shop, "till", None)
            accounts.notify(s, member.id, "fraud_unfrozen", {"case_id": own_case.id})


@pytest.fixture
def demo(app):
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    prepare(app)
    return app


def test_every_form_answers_hostile_input_without_a_server_error(demo):
    errors = Errors()
    demo.logger.addHandler(errors)
    failures, found, fuzzed = [], set(), set()
    try:
        for role in ROLES:
            client = sign_in(demo, role)
            forms = crawl(demo, client)
            found |= {endpoint for _method, endpoint in forms}
            for (method, endpoint), (action, fields) in sorted(forms.items(), key=lambda f: f[0][1]):
                if (method, endpoint) not in fuzzed:  # a form every role sees is fuzzed once
                    fuzzed.add((method, endpoint))
                    failures += [(role, *f) for f in fuzz(client, method, action, fields)]
    finally:
        demo.logger.removeHandler(errors)
    report = "\n".join(f"{role} {m} {url} {name}={value!r}: {status}" for role, m, url, name, value, status
                       in failures[:60])
    assert not failures, f"{len(failures)} server errors:\n{report}\n" + "\n".join(sorted(set(errors.seen)))
    form_routes = {r.endpoint for r in demo.url_map.iter_rules()
                   if "POST" in r.methods and not r.rule.startswith("/api/")}
    missed = sorted(form_routes - found - set(NOT_CRAWLED))
    assert not missed, f"forms the crawl did not reach (seed the state that shows them): {missed}"
    assert_ledger_ok(demo)

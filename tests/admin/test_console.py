"""The operator console: only operators see it; merchants approved and suspended; members found;
every operator and merchant-staff change lands in the append-only audit log."""
import re

import pytest
from sqlalchemy import text

from mall.account.models import User
from mall.audit.models import AuditEntry
from mall.checkout import orchestrator
from mall.checkout import service as checkout
from mall.errors import DomainError
from mall.db import write
from mall.extensions import db
from mall.coalition.models import Merchant
from tests.builders import csrf_token, make_merchant, make_user, purchase_body


def _console_urls(app):
    """Every console URL, with ids filled in (whatever the id, a non-operator must get 404)."""
    urls = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin"):
            continue
        values = {arg: 1 for arg in rule.arguments}
        for arg in rule.arguments:  # <any(...)> parts take one of their words
            words = getattr(rule._converters.get(arg), "items", None)
            if words:
                values[arg] = sorted(words)[0]
        path = rule.build(values, append_unknown=False)[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            urls.append((method, path))
    return urls


@pytest.mark.parametrize("who", ["anonymous", "member", "merchant"])
def test_a_non_operator_gets_404_on_every_console_url(app, who, world):
    urls = _console_urls(app)
    assert len(urls) >= 40
    client = app.test_client()
    if who == "member":
        world.member("someone@example.com")
        client = world.client_for("someone@example.com")
    elif who == "merchant":
        make_user(app, "staff@example.com", role="merchant", merchant_id=world.merchant_id)
        client = world.client_for("staff@example.com")
    token = csrf_token(client, "/auth/login")
    for method, path in urls:
        response = client.open(path, method=method, data={"csrf_token": token})
        assert response.status_code == 404, (who, method, path, response.status_code)


def test_operator_sees_every_console_page(world):
    member = world.member("m@example.com")
    op = world.client_for("op1@example.com")
    for path in ("/admin/", "/admin/merchants", "/admin/members?q=m@example.com", f"/admin/members/{member}",
                 "/admin/cases", "/admin/audit", "/admin/reports", "/admin/rules", "/admin/charity"):
        assert op.get(path).status_code == 200, path


def test_member_search_by_code_phone_and_email(world, app):
    from mall.account import service as accounts
    from mall.account.models import User

    member = world.member("lin.xiaolv@example.com")
    world.member("other@example.com")
    with app.app_context(), write(db.session):
        user = db.session.get(User, member)
        accounts.update_profile(db.session, user, display_name="林小绿", phone="13912345678", birthday=None)
        code = user.member_code
    op = world.client_for("op1@example.com")
    for query in (code, code.lower(), "13912345678", "LIN.XIAOLV@example.com", "lin.xiao"):
        page = op.get("/admin/members", query_string={"q": query}).get_data(as_text=True)
        assert f"/admin/members/{member}" in page and "other@example.com" not in page, query
    assert "No member matches" in op.get("/admin/members?q=nobody%25").get_data(as_text=True)
    page = op.get(f"/admin/members/{member}").get_data(as_text=True)
    assert "13912345678" in page and "800" in page  # profile and balance
    with app.app_context():
        views = db.session.scalars(db.select(AuditEntry).where(AuditEntry.action == "admin.member_view")).all()
        assert [(v.actor_id, v.target_id) for v in views] == [(world.op1, str(member))]


def test_suspension_needs_a_reason_and_stops_issuing_and_listing(app, world):
    listing = world.listing()
    api_key = _api_key(app, world.merchant_id)
    member = world.member("m@example.com", points=())
    with app.app_context():
        code = db.session.get(User, member).member_code
    op = world.client_for("op1@example.com")
    token = csrf_token(op, "/admin/merchants")
    assert op.post(f"/admin/merchants/{world.merchant_id}/status", data={"action": "suspend", "reason": "",
                                                                       "csrf_token": token}).status_code == 303
    with app.app_context():
        assert db.session.get(Merchant, world.merchant_id).status == "approved"  # no reason, no suspension
    op.post(f"/admin/merchants/{world.merchant_id}/status", data={"action": "suspend", "reason": "Fake receipts",
                                                                 "csrf_token": token})
    with app.app_context():
        shop = db.session.get(Merchant, world.merchant_id)
        assert (shop.status, shop.status_reason) == ("suspended", "Fake receipts")
    client = app.test_client()
    assert client.get(f"/listings/{listing}").status_code == 404
    make_user(app, "staff@example.com", role="merchant", merchant_id=world.merchant_id)
    assert "Reason: Fake receipts" in world.client_for("staff@example.com").get("/merchant/").get_data(as_text=True)
    buyer = world.member("buyer@example.com", points=(5000,))
    with pytest.raises(DomainError), app.app_context():  # nor can anything be redeemed from it
        orchestrator.checkout(db.session, db.session.get(User, buyer), [checkout.LineRequest(listing)],
                              checkout.Delivery("林小绿", "13800138000", "上海市浦东新区世纪大道 100 号", "林小绿"), "t1")
    assert world.balance(buyer) == 5000
    response = client.post("/api/v1/purchases", json=purchase_body(code),
                           headers={"Authorization": f"Bearer {api_key}", "Idempotency-Key": "k1"})
    assert response.status_code == 403
    assert world.balance(member) == 0
    op.post(f"/admin/merchants/{world.merchant_id}/status", data={"action": "reinstate", "csrf_token": token})
    response = client.post("/api/v1/purchases", json=purchase_body(code),
                           headers={"Authorization": f"Bearer {api_key}", "Idempotency-Key": "k2"})
    assert response.status_code == 201 and world.balance(member) > 0
    with app.app_context():
        changes = db.session.scalars(db.select(AuditEntry).where(AuditEntry.target_type == "merchant",
                                                                 AuditEntry.note == "update")).all()
        assert [(c.before["status"], c.after["status"]) for c in changes] == [("approved", "suspended"),
                                                                            ("suspended", "approved")]
        refused = db.session.scalars(db.select(AuditEntry).where(AuditEntry.note.like("refused%"))).all()
        assert len(refused) == 1 and refused[0].target_id == str(world.merchant_id)
        # the merchant's API purchase is audited too, as the merchant
        api = db.session.scalars(db.select(AuditEntry).where(AuditEntry.actor_role == "api")).all()
        assert api and {e.merchant_id for e in api} == {world.merchant_id}
        assert "purchase" in {e.target_type for e in api}
        # and so are the points it issued: the ledger writes its transfers in one INSERT, recorded row by row
        from mall.ledger import service as ledger
        from mall.ledger.models import Transfer
        earned = [e for e in api if e.target_type == "ledger_transfer"]
        transfer = db.session.get(Transfer, int(earned[0].target_id))
        assert [(e.note, e.after["kind"], e.after["amount"]) for e in earned] == [("insert", "earn", transfer.amount)]
        assert transfer.credit_account_id == ledger.member_account(db.session, member).id and "hash" not in earned[0].after


def test_pending_merchant_is_approved(app, world):
    pending = make_merchant(app, "newshop", status="pending")
    op = world.client_for("op1@example.com")
    assert "newshop" in op.get("/admin/").get_data(as_text=True)
    op.post(f"/admin/merchants/{pending}/status", data={"action": "approve",
                                                       "csrf_token": csrf_token(op, "/admin/merchants")})
    with app.app_context():
        assert db.session.get(Merchant, pending).status == "approved"


def _api_key(app, merchant_id):
    from mall.api import service as api_service

    with app.app_context(), write(db.session):
        return api_service.create_key(db.session, db.session.get(Merchant, merchant_id), "test")[1]


def test_merchant_staff_changes_are_audited_with_before_and_after(app, world):
    listing = world.listing()
    make_user(app, "staff@example.com", role="merchant", merchant_id=world.merchant_id)
    staff = world.client_for("staff@example.com")
    token = csrf_token(staff, f"/merchant/listings/{listing}")
    response = staff.post(f"/merchant/listings/{listing}/pause", data={"csrf_token": token})
    assert response.status_code in (302, 303)
    with app.app_context():
        entry = db.session.scalars(db.select(AuditEntry).where(AuditEntry.target_type == "listing")).one()
        assert (entry.actor_role, entry.merchant_id, entry.before["status"], entry.after["status"]) == (
            "merchant", world.merchant_id, "active", "paused")
        assert entry.action == "merchant.listing_action" or entry.action.startswith("merchant.")


def test_audit_log_is_append_only_in_the_database(app, world):
    op = world.client_for("op1@example.com")
    world.member("m@example.com")
    op.get("/admin/members?q=m@example.com")
    member_page = op.get("/admin/members?q=m@example.com").get_data(as_text=True)
    op.get(re.search(r'href="(/admin/members/\d+)"', member_page).group(1))
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(AuditEntry.id))) == 1
        for statement in ("UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"):
            with pytest.raises(Exception):
                with write(db.session):
                    db.session.execute(text(statement))
        assert db.session.scalar(db.select(AuditEntry.action)) == "admin.member_view"


def test_audit_search_filters_and_csv(app, world):
    member = world.member("m@example.com")
    op1, op2 = world.client_for("op1@example.com"), world.client_for("op2@example.com")
    op1.get(f"/admin/members/{member}")
    op2.get(f"/admin/members/{member}")
    page = op1.get("/admin/audit", query_string={"actor": "op2@example.com"}).get_data(as_text=True)
    assert page.count("admin.member_view") == 1 and "op2@example.com" in page
    assert "No entries match" in op1.get("/admin/audit?actor=nobody@example.com").get_data(as_text=True)
    csv_text = op1.get("/admin/audit.csv", query_string={"target_type": "user"}).get_data(as_text=True)
    lines = csv_text.lstrip("\ufeff").strip().splitlines()
    assert lines[0].startswith("id,at_utc,actor_id") and len(lines) == 3

"""Fraud cases: evidence first, deductions bounded by the evidence, four-eyes, freeze, appeal, reversal."""
import pytest

from mall.account.models import Notification
from mall.audit.models import AuditEntry
from mall.db import write
from mall.errors import DomainError
from mall.extensions import db
from mall.fraud import service as fraud
from mall.fraud.models import CaseAction, FraudCase
from mall.ledger import service as ledger
from mall.ledger.models import Lot, Transfer
from mall.settings import settings_of
from tests.builders import checkout_as, csrf_token, make_user, race


def test_a_case_needs_a_reason_and_evidence(world):
    member = world.member()
    with pytest.raises(DomainError) as err:
        world.open_case(member)
    assert err.value.code == "no-evidence"
    with pytest.raises(DomainError):
        world.call(fraud.open_case, world.op1, member, "short", transfer_ids=world.earnings(member),
                   private_root=world.app.config["PRIVATE_ROOT"])
    other = world.member("other@example.com")
    with pytest.raises(DomainError):  # someone else's transfer is no evidence against this member
        world.open_case(member, transfer_ids=world.earnings(other))
    with world.app.app_context():
        assert db.session.scalar(db.select(db.func.count(FraudCase.id))) == 0


def test_a_member_cannot_be_deducted_without_an_open_case(world):
    member = world.member()
    case_id = world.open_case(member, transfer_ids=world.earnings(member))
    world.call(fraud.resolve, world.op1, case_id, "upheld", "Nothing further to do.")
    with pytest.raises(DomainError) as err:
        world.call(fraud.request_deduction, world.op1, case_id, 100)
    assert err.value.code == "case-not-open"
    assert world.balance(member) == 800


def test_a_deduction_needs_evidenced_transfers_not_only_a_file(world):
    member = world.member()
    case_id = world.open_case(member, upload=fraud.Upload("till-cctv.png", b"\x89PNG evidence"))
    with pytest.raises(DomainError) as err:
        world.call(fraud.request_deduction, world.op1, case_id, 100)
    assert err.value.code == "no-evidence"
    assert world.balance(member) == 800


def test_a_deduction_never_exceeds_what_the_evidenced_transfers_awarded(world):
    member = world.member(points=(500, 300))
    evidenced = world.earnings(member)[-1:]  # the 500-point earning only
    with world.app.app_context():
        assert db.session.get(Transfer, evidenced[0]).amount == 500
    case_id = world.open_case(member, transfer_ids=evidenced)
    with pytest.raises(DomainError) as err:
        world.call(fraud.request_deduction, world.op1, case_id, 501)
    assert err.value.code == "above-evidence"
    world.call(fraud.request_deduction, world.op1, case_id, 300)
    with pytest.raises(DomainError) as err:  # together with the first, above the evidence
        world.call(fraud.request_deduction, world.op1, case_id, 201)
    assert err.value.code == "above-evidence"
    world.call(fraud.request_deduction, world.op1, case_id, 200)
    assert world.balance(member) == 300
    with world.app.app_context():
        adjustments = db.session.scalars(db.select(Transfer).where(Transfer.kind == "adjust")).all()
        assert [(t.ref_type, t.ref_id) for t in adjustments] == [("fraud_case", str(case_id))] * 2
    world.verify()


def test_above_the_threshold_a_second_operator_must_approve(world):
    with world.app.app_context():
        assert settings_of(db.session).fraud_approval_threshold == 1000
    member = world.member(points=(3000,))
    case_id = world.open_case(member, transfer_ids=world.earnings(member))
    action_id = world.call(fraud.request_deduction, world.op1, case_id, 1500)
    with world.app.app_context():
        assert db.session.get(CaseAction, action_id).status == "pending"
    assert world.balance(member) == 3000  # nothing moved without approval
    with pytest.raises(DomainError) as err:
        world.call(fraud.approve, world.op1, action_id)  # not by the requester
    assert err.value.code == "four-eyes"
    assert world.balance(member) == 3000
    world.call(fraud.approve, world.op2, action_id)
    assert world.balance(member) == 1500
    with world.app.app_context():
        action = db.session.get(CaseAction, action_id)
        assert (action.status, action.approved_by) == ("executed", world.op2)
    with pytest.raises(DomainError):  # decided once
        world.call(fraud.approve, world.op2, action_id)
    world.verify()


def test_a_rejected_action_moves_nothing(world):
    member = world.member(points=(3000,))
    case_id = world.open_case(member, transfer_ids=world.earnings(member))
    action_id = world.call(fraud.request_deduction, world.op1, case_id, 2000)
    world.call(fraud.reject, world.op2, action_id)
    assert world.balance(member) == 3000
    # the rejected amount no longer counts against the evidence
    world.call(fraud.request_deduction, world.op1, case_id, 900)
    assert world.balance(member) == 2100


def _checkout(world, member_id):
    from mall.checkout.service import LineRequest

    return checkout_as(world.app, member_id, [LineRequest(world.listing(points_price=100, stock=5))], "tok-freeze")


def test_a_freeze_blocks_redemption_gifts_and_donations_but_not_earning(world):
    from mall.charity import service as charity
    from mall.family import service as family

    member = world.member(points=(500, 300))
    relative = world.member("relative@example.com", points=())
    with world.app.app_context(), write(db.session):
        family.create_family(db.session, world.user(member), "林家")
        _, token = family.invite(db.session, world.user(member))
        family.accept(db.session, world.user(relative), family.invitation_by_token(db.session, world.user(relative), token))
    case_id = world.open_case(member, transfer_ids=world.earnings(member))
    world.call(fraud.request_freeze, world.op1, case_id)  # balance 800 is under the threshold: at once

    with pytest.raises(ledger.AccountFrozen):
        _checkout(world, member)
    with pytest.raises(ledger.AccountFrozen), world.app.app_context(), write(db.session):
        family.gift_points(db.session, world.user(member), world.user(relative).member_code, 100, "gift-tok")
    project = world.project()
    with pytest.raises(ledger.AccountFrozen), world.app.app_context(), write(db.session):
        charity.donate(db.session, world.user(member), project, 100, anonymous=False, token="don-tok")
    assert world.balance(member) == 800

    world.earn(member, 50)  # earning continues
    assert world.balance(member) == 850
    # a deduction under the case is still possible while frozen
    world.call(fraud.request_deduction, world.op1, case_id, 100)
    assert world.balance(member) == 750
    world.verify()  # the freeze went through the ledger: the account's seal covers it

    world.call(fraud.lift_freeze, world.op1, case_id)
    orders, _ = _checkout(world, member)
    assert len(orders) == 1 and world.balance(member) == 650
    world.verify()


def test_the_member_is_told_why_and_sees_how_to_appeal(world, client, auth):
    member = world.member("m@example.com")
    case_id = world.open_case(member, transfer_ids=world.earnings(member))
    auth.login("m@example.com")
    assert client.get(f"/account/cases/{case_id}").status_code == 404  # not disclosed before any action
    world.call(fraud.request_freeze, world.op1, case_id)
    with world.app.app_context():
        notes = db.session.scalars(db.select(Notification).where(Notification.user_id == member)).all()
        assert [(n.kind, n.data["reason"]) for n in notes] == [("fraud_freeze", "Receipts reused at two tills.")]
    page = client.get("/").get_data(as_text=True)
    assert "frozen while fraud case" in page and f"/account/cases/{case_id}" in page
    page = client.get(f"/account/cases/{case_id}").get_data(as_text=True)
    assert "Receipts reused at two tills." in page and "Send appeal" in page
    other = world.member("other@example.com", points=())
    other_client = world.client_for("other@example.com")
    assert other_client.get(f"/account/cases/{case_id}").status_code == 404
    assert other_client.post(f"/account/cases/{case_id}", data={
        "statement": "This is not my case at all.", "csrf_token": csrf_token(other_client, "/account")}).status_code == 404
    assert other


def _remaining_by_expiry(account_id) -> dict:
    totals = {}
    for lot in db.session.scalars(db.select(Lot).where(Lot.account_id == account_id, Lot.remaining > 0)):
        totals[lot.expires_at] = totals.get(lot.expires_at, 0) + lot.remaining
    return totals


def test_appeal_and_reversal_restore_the_exact_points_and_their_lots(world, client, auth):
    member = world.member("m@example.com", points=(500, 300))
    with world.app.app_context():
        account = ledger.member_account(db.session, member)
        lots_before = _remaining_by_expiry(account.id)
    case_id = world.open_case(member, transfer_ids=world.earnings(member))
    world.call(fraud.request_freeze, world.op1, case_id)
    world.call(fraud.request_deduction, world.op1, case_id, 700)
    assert world.balance(member) == 100

    auth.login("m@example.com")
    token = csrf_token(client, f"/account/cases/{case_id}")
    assert client.post(f"/account/cases/{case_id}", data={"statement": "short", "csrf_token": token}).status_code == 422
    response = client.post(f"/account/cases/{case_id}", data={
        "statement": "Both receipts are mine: I shopped twice that day.", "csrf_token": token})
    assert response.status_code == 303
    with world.app.app_context():
        assert db.session.get(FraudCase, case_id).status == "appealed"
    with pytest.raises(DomainError):  # no new deductions while the appeal is open
        world.call(fraud.request_deduction, world.op1, case_id, 50)

    world.call(fraud.resolve, world.op2, case_id, "reversed", "Second receipt verified with the merchant.")
    assert world.balance(member) == 800
    with world.app.app_context():
        account = ledger.member_account(db.session, member)
        assert not account.frozen
        assert _remaining_by_expiry(account.id) == lots_before  # same points, same expiry dates
        notes = [n.kind for n in db.session.scalars(db.select(Notification).where(Notification.user_id == member))]
        assert notes[-1] == "fraud_resolved"
    assert "decided in your favour" in client.get("/account/notifications").get_data(as_text=True)
    world.verify()


def test_an_upheld_case_keeps_the_deduction_and_lifts_the_freeze(world):
    member = world.member(points=(500,))
    case_id = world.open_case(member, transfer_ids=world.earnings(member))
    world.call(fraud.request_freeze, world.op1, case_id)
    world.call(fraud.request_deduction, world.op1, case_id, 500)
    world.call(fraud.resolve, world.op1, case_id, "upheld", "Receipts were forged.")
    assert world.balance(member) == 0
    with world.app.app_context():
        assert not ledger.member_account(db.session, member).frozen
    with pytest.raises(DomainError):
        world.call(fraud.resolve, world.op1, case_id, "reversed", "Changed my mind.")
    world.verify()


def test_the_console_journey_is_audited(world):
    member = world.member("m@example.com", points=(3000,))
    op1, op2 = world.client_for("op1@example.com"), world.client_for("op2@example.com")
    entry = world.earnings(member)[0]
    token = csrf_token(op1, f"/admin/members/{member}")
    response = op1.post(f"/admin/members/{member}/cases", data={
        "reason": "Same receipt scanned at two stores.", "transfer_ids": str(entry), "csrf_token": token,
        "file": (__import__("io").BytesIO(b"%PDF-1.4 receipt"), "receipt.pdf")}, content_type="multipart/form-data")
    assert response.status_code == 303
    case_id = int(response.headers["Location"].rsplit("/", 1)[1])
    page = op1.get(f"/admin/cases/{case_id}").get_data(as_text=True)
    assert "receipt.pdf" in page
    with world.app.app_context():
        evidence = db.session.scalars(db.select(fraud.CaseEvidence).where(fraud.CaseEvidence.kind == "file")).one()
    assert op1.get(f"/admin/cases/{case_id}/evidence/{evidence.id}").data == b"%PDF-1.4 receipt"
    assert op1.get(f"/media/evidence/{evidence.file_key}").status_code == 404  # not among the public uploads
    assert world.client_for("m@example.com").get(f"/admin/cases/{case_id}/evidence/{evidence.id}").status_code == 404
    token = csrf_token(op1, f"/admin/cases/{case_id}")
    assert op1.post(f"/admin/cases/{case_id}/actions", data={"kind": "deduct", "amount": "3001", "csrf_token": token}
                    ).status_code == 422
    assert op1.post(f"/admin/cases/{case_id}/actions", data={"kind": "deduct", "amount": "2000", "note": "forged",
                                                             "csrf_token": token}).status_code == 303
    with world.app.app_context():
        action_id = db.session.scalars(db.select(CaseAction.id)).one()
    assert op1.post(f"/admin/actions/{action_id}/approve", data={"csrf_token": token}).status_code == 303
    assert world.balance(member) == 3000  # the requester's own approval is refused
    token2 = csrf_token(op2, f"/admin/cases/{case_id}")
    assert op2.post(f"/admin/actions/{action_id}/approve", data={"csrf_token": token2}).status_code == 303
    assert world.balance(member) == 1000
    assert op2.post(f"/admin/cases/{case_id}/resolve", data={"outcome": "reversed", "note": "Receipt was genuine.",
                                                             "csrf_token": token2}).status_code == 303
    assert world.balance(member) == 3000

    with world.app.app_context():
        entries = db.session.scalars(db.select(AuditEntry).order_by(AuditEntry.id)).all()
        by_action = {}
        for e in entries:
            by_action.setdefault(e.action, []).append(e)
        assert {"admin.member_view", "admin.open_case", "admin.case_action", "admin.decide_action",
                "admin.resolve_case"} <= set(by_action)
        refused = [e for e in by_action["admin.decide_action"] if e.note.startswith("refused")]
        assert [(e.actor_id, e.note, e.target_id) for e in refused] == [(world.op1, "refused: four-eyes", str(action_id))]
        assert {e.actor_id for e in by_action["admin.decide_action"] if e not in refused} == {world.op2}
        case_rows = [e for e in entries if e.target_type == "fraud_case" and e.note == "update"]
        assert any(e.before.get("status") == "open" and e.after.get("status") == "reversed" for e in case_rows)
        assert all(e.ip == "127.0.0.1" for e in entries)
        assert all(e.actor_role == "operator" for e in entries)
    csv_text = op1.get("/admin/audit.csv?action=admin.resolve_case").get_data(as_text=True)
    assert "admin.resolve_case" in csv_text and "admin.open_case" not in csv_text
    page = op1.get("/admin/audit?actor=op2@example.com").get_data(as_text=True)
    assert "admin.decide_action" in page and "admin.open_case" not in page
    world.verify()


def test_concurrent_deductions_never_exceed_the_evidence(world):
    member = world.member(points=(500, 2000))
    evidenced = [t for t in world.earnings(member)][-1:]  # the 500-point earning
    case_id = world.open_case(member, transfer_ids=evidenced)

    def attempt(_):
        world.call(fraud.request_deduction, world.op1, case_id, 100)

    outcomes = race(attempt, range(12))
    assert outcomes.count("ok") == 5 and len(outcomes) == 12
    assert world.balance(member) == 2000
    world.verify()


def test_two_approvals_at_once_execute_the_action_once(world):
    member = world.member(points=(5000,))
    case_id = world.open_case(member, transfer_ids=world.earnings(member))
    action_id = world.call(fraud.request_deduction, world.op1, case_id, 4000)
    op3 = make_user(world.app, "op3@example.com", role="operator")

    def attempt(operator_id):
        world.call(fraud.approve, operator_id, action_id)

    outcomes = race(attempt, [world.op2, op3, world.op2, op3])
    assert outcomes.count("ok") == 1
    assert world.balance(member) == 1000
    with world.app.app_context():
        assert db.session.scalar(db.select(db.func.count(Transfer.id)).where(Transfer.kind == "adjust")) == 1
    world.verify()


def test_a_frozen_member_redeeming_in_the_browser_is_told_why(world):
    import re


    member = world.member("m@example.com", points=(500, 300))
    item = world.listing(points_price=100, stock=5)
    case_id = world.open_case(member, transfer_ids=world.earnings(member))
    world.call(fraud.request_freeze, world.op1, case_id)
    client = world.client_for("m@example.com")
    page = client.get(f"/checkout?listing={item}").get_data(as_text=True)
    token = re.search(r'name="token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post(f"/checkout?listing={item}&quantity=1", data={
        "csrf_token": csrf_token(client, f"/checkout?listing={item}"), "token": token, "name": "林",
        "phone": "13800138000", "address": "北京"})
    assert 400 <= response.status_code < 500
    assert "frozen while a fraud case is reviewed" in response.get_data(as_text=True)
    assert world.balance(member) == 800

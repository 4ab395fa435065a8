"""Fraud cases: open with evidence, freeze, deduct (never more than the evidence shows), four-eyes
approval above a threshold, the member's appeal, and resolution (a reversal restores the points).

Rules enforced here, whoever calls (console, CLI, tests):
- an action needs a case that is open (or under appeal, for a freeze) and at least one piece of evidence;
- a deduction is tied to the evidenced transfers: all deductions of a case together never exceed
  what those transfers awarded, nor the member's spendable balance;
- an action above ``settings_of(session).fraud_approval_threshold`` points waits for a second operator;
- the member is notified of every executed action and of the outcome, with the reason.
"""
import hashlib
import os
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, lazyload

from mall import events
from mall.account import service as accounts
from mall.account.models import User
from mall.clock import utcnow
from mall.db import lock
from mall.errors import Conflict, DomainError, NotFound
from mall.fraud.models import CaseAction, CaseEvidence, FraudCase
from mall.ledger import service as ledger
from mall.ledger.models import Account, Transfer
from mall.settings import settings_of
from mall.validation import is_whole

# Credits that can be evidence of fraudulent earning (not the member's own points coming back).
EVIDENCE_KINDS = ("earn", "award", "game", "gift", "compensate", "bill", "pool_out", "match")
EVIDENCE_TYPES = {".pdf": "application/pdf", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                  ".txt": "text/plain", ".csv": "text/csv"}
REF = "fraud_case"


def _operator(user: User) -> None:
    if user is None or not user.is_operator:
        raise NotFound(_l("Not found."))


def get_case(session: Session, case_id: int) -> FraudCase:
    case = session.get(FraudCase, case_id)
    if case is None:
        raise NotFound(_l("No such case."))
    return case


def case_for_member(session: Session, user: User, case_id: int) -> FraudCase:
    """A case as its member may see it: only their own, and only once they have been told of it."""
    case = session.get(FraudCase, case_id)
    if case is None or case.member_id != user.id or not case.disclosed:
        raise NotFound(_l("No such case."))
    return case


def member_cases(session: Session, user: User) -> list[FraudCase]:
    return list(session.scalars(select(FraudCase).where(FraudCase.member_id == user.id, FraudCase.disclosed)
                                .order_by(FraudCase.id.desc()).options(lazyload("*"))))  # id and status only


def freezing_case(session: Session, user_id: int) -> FraudCase | None:
    """The case under which the member's spending is frozen, if any."""
    return session.scalar(select(FraudCase).where(FraudCase.member_id == user_id, FraudCase.frozen)
                          .order_by(FraudCase.id).limit(1).options(lazyload("*")))  # the banner shows its id


def cases(session: Session, status: str | None = None, limit: int = 100) -> list[FraudCase]:
    stmt = select(FraudCase).order_by(FraudCase.id.desc()).limit(limit)
    if status:
        stmt = stmt.where(FraudCase.status == status)
    return list(session.scalars(stmt))


def count_cases(session: Session, status: str) -> int:
    return session.scalar(select(func.count(FraudCase.id)).where(FraudCase.status == status))


def pending_actions(session: Session) -> list[CaseAction]:
    return list(session.scalars(select(CaseAction).where(CaseAction.status == "pending").order_by(CaseAction.id)))


# --- evidence ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Upload:
    """An evidence file as the view received it."""

    filename: str
    data: bytes


def _store(session: Session, private_root: str, upload: Upload) -> tuple[str, str, str]:
    name = os.path.basename(upload.filename or "").strip()[:200]
    ext = os.path.splitext(name)[1].lower()
    if ext not in EVIDENCE_TYPES:
        raise DomainError(_l("Evidence files must be PDF, PNG, JPEG, text or CSV."), field="file")
    if not upload.data:
        raise DomainError(_l("The evidence file is empty."), field="file")
    max_bytes = settings_of(session).evidence_max_bytes
    if len(upload.data) > max_bytes:
        raise DomainError(_l("An evidence file may be at most %(mb)s MB.", mb=max_bytes // 2**20), field="file")
    digest = hashlib.sha256(upload.data).hexdigest()
    folder = os.path.join(private_root, "evidence")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, digest)
    if not os.path.exists(path):
        with open(path + ".part", "wb") as out:
            out.write(upload.data)
        os.replace(path + ".part", path)
    return name, digest, EVIDENCE_TYPES[ext]


def get_evidence_file(session: Session, case_id: int, evidence_id: int) -> CaseEvidence:
    """An evidence file of this case, or NotFound."""
    evidence = session.get(CaseEvidence, evidence_id)
    if evidence is None or evidence.case_id != case_id or evidence.kind != "file":
        raise NotFound(_l("Not found."))
    return evidence


def evidence_path(private_root: str, evidence: CaseEvidence) -> str:
    return os.path.join(private_root, "evidence", evidence.file_key)


def _member_credit(session: Session, member_id: int, transfer_id: int) -> Transfer:
    account = ledger.member_account(session, member_id)
    t = session.get(Transfer, transfer_id)
    if t is None or t.credit_account_id != account.id or t.kind not in EVIDENCE_KINDS:
        raise DomainError(_l("Transfer %(id)s is not points this member received.", id=transfer_id),
                          field="transfer_ids")
    return t


def _add_evidence(session: Session, operator: User, case: FraudCase, transfer_ids, upload: Upload | None,
                  private_root: str) -> int:
    added = 0
    have = {e.transfer_id for e in case.evidence if e.transfer_id}
    for transfer_id in sorted(set(transfer_ids or [])):
        if transfer_id in have:
            continue
        t = _member_credit(session, case.member_id, transfer_id)
        session.add(CaseEvidence(case_id=case.id, kind="transfer", transfer_id=t.id, amount=t.amount,
                                 added_by=operator.id))
        added += 1
    if upload is not None:
        name, digest, content_type = _store(session, private_root, upload)
        session.add(CaseEvidence(case_id=case.id, kind="file", file_name=name, file_key=digest,
                                 file_size=len(upload.data), content_type=content_type, added_by=operator.id))
        added += 1
    session.flush()
    session.expire(case, ["evidence"])
    return added


def open_case(session: Session, operator: User, member_id: int, reason: str, *, transfer_ids=(),
              upload: Upload | None = None, private_root: str) -> FraudCase:
    """Open a case with a written reason and at least one piece of evidence."""
    _operator(operator)
    member = session.get(User, member_id)
    if member is None or member.role != "member" or member.deleted_at is not None:
        raise NotFound(_l("No such member."))
    reason = (reason or "").strip()
    if len(reason) < 10:
        raise DomainError(_l("Write the reason for the case (at least 10 characters)."), field="reason")
    if not transfer_ids and upload is None:
        raise DomainError(_l("A case needs evidence: attach a file or reference the transfers concerned."),
                          field="transfer_ids", code="no-evidence")
    case = FraudCase(member_id=member.id, opened_by=operator.id, reason=reason[:2000])
    session.add(case)
    session.flush()
    _add_evidence(session, operator, case, transfer_ids, upload, private_root)
    events.fraud_case_opened.send(session, case_id=case.id, member_id=case.member_id)
    return case


def add_evidence(session: Session, operator: User, case_id: int, *, transfer_ids=(), upload: Upload | None = None,
                 private_root: str) -> int:
    _operator(operator)
    case = _lock_case(session, case_id)
    if not case.active:
        raise Conflict(_l("This case is closed."), code="case-closed")
    if not transfer_ids and upload is None:
        raise DomainError(_l("Choose a file or transfers to add."), field="transfer_ids")
    return _add_evidence(session, operator, case, transfer_ids, upload, private_root)


def evidenced_amount(case: FraudCase) -> int:
    """What the evidenced transfers awarded: the most a case may ever deduct."""
    return sum(e.amount for e in case.evidence if e.kind == "transfer")


def deducted_amount(case: FraudCase, include_pending: bool = True) -> int:
    statuses = ("executed", "pending") if include_pending else ("executed",)
    return sum(a.amount for a in case.actions if a.kind == "deduct" and a.status in statuses)


# --- actions -------------------------------------------------------------------------------------

def _lock_case(session: Session, case_id: int) -> FraudCase:
    case = lock(session, FraudCase, [case_id]).get(case_id)
    if case is None:
        raise NotFound(_l("No such case."))
    return case


def _member_account_locked(session: Session, member_id: int) -> Account:
    account = ledger.member_account(session, member_id)
    return ledger.lock_accounts(session, [account.id])[account.id]


def request_freeze(session: Session, operator: User, case_id: int, note: str = "") -> CaseAction:
    """Freeze the member's spending under this case (earning continues)."""
    _operator(operator)
    case = _lock_case(session, case_id)
    if not case.active:
        raise Conflict(_l("This case is closed."), code="case-closed")
    if not case.evidence:
        raise DomainError(_l("A case needs evidence before any action."), code="no-evidence")
    if case.frozen or any(a.kind == "freeze" and a.status == "pending" for a in case.actions):
        raise Conflict(_l("The member is already frozen under this case, or a freeze awaits approval."),
                       code="already-frozen")
    account = _member_account_locked(session, case.member_id)
    action = CaseAction(case_id=case.id, kind="freeze", amount=account.balance, note=(note or "")[:500],
                        requested_by=operator.id)
    return _submit(session, case, action)


def request_deduction(session: Session, operator: User, case_id: int, amount: int, note: str = "") -> CaseAction:
    """Deduct points tied to the evidenced transfers; never more than they awarded."""
    _operator(operator)
    if not is_whole(amount, 1, 10**12):
        raise DomainError(_l("Give a whole number of points above zero."), field="amount")
    case = _lock_case(session, case_id)
    if case.status != "open":
        raise Conflict(_l("Deductions are possible only while the case is open."), code="case-not-open")
    evidenced = evidenced_amount(case)
    if evidenced == 0:
        raise DomainError(_l("A deduction must be tied to evidenced transfers: reference the transfers concerned "
                             "first."), code="no-evidence", field="amount")
    room = evidenced - deducted_amount(case)
    if amount > room:
        raise DomainError(_l("At most %(room)s more points can be deducted: the evidenced transfers awarded "
                             "%(total)s points.", room=room, total=evidenced), code="above-evidence", field="amount")
    account = _member_account_locked(session, case.member_id)
    if amount > ledger.spendable(session, account):
        raise DomainError(_l("The member has only %(balance)s points.", balance=ledger.spendable(session, account)),
                          code="insufficient-points", field="amount")
    action = CaseAction(case_id=case.id, kind="deduct", amount=amount, note=(note or "")[:500],
                        requested_by=operator.id)
    return _submit(session, case, action)


ACTION_KINDS = ("freeze", "deduct", "lift")


def take_action(session: Session, operator: User, case_id: int, kind: str, amount: int | None,
                note: str = "") -> str:
    """The console's one action form: freeze, deduct ``amount`` or lift the freeze under a case;
    returns what became of it ("pending" a second operator, "executed" or "lifted")."""
    if kind == "freeze":
        return request_freeze(session, operator, case_id, note).status
    if kind == "lift":
        lift_freeze(session, operator, case_id, note)
        return "lifted"
    if kind != "deduct":
        raise DomainError(_l("Unknown action."))
    if amount is None:
        raise DomainError(_l("Give the number of points to deduct."), field="amount")
    return request_deduction(session, operator, case_id, amount, note).status


def _submit(session: Session, case: FraudCase, action: CaseAction) -> CaseAction:
    session.add(action)
    session.flush()
    if action.amount <= settings_of(session).fraud_approval_threshold:
        _execute(session, case, action, approver=None)
    return action


def approve(session: Session, operator: User, action_id: int) -> CaseAction:
    """The second operator's approval (four-eyes): executes the pending action."""
    _operator(operator)
    action = _pending(session, action_id)
    if action.requested_by == operator.id:
        raise Conflict(_l("Another operator must approve an action you requested."), code="four-eyes")
    case = _lock_case(session, action.case_id)
    if not case.active or (action.kind == "deduct" and case.status != "open"):
        raise Conflict(_l("This case is no longer open."), code="case-closed")
    if action.kind == "deduct":
        account = _member_account_locked(session, case.member_id)
        if action.amount > evidenced_amount(case) - deducted_amount(case, include_pending=False):
            raise DomainError(_l("This deduction would exceed what the evidenced transfers awarded."),
                              code="above-evidence")
        if action.amount > ledger.spendable(session, account):
            raise DomainError(_l("The member no longer has %(amount)s points.", amount=action.amount),
                              code="insufficient-points")
    _execute(session, case, action, approver=operator)
    return action


def reject(session: Session, operator: User, action_id: int) -> CaseAction:
    _operator(operator)
    action = _pending(session, action_id)
    action.status, action.approved_by, action.decided_at = "rejected", operator.id, utcnow()
    session.flush()
    return action


def _pending(session: Session, action_id: int) -> CaseAction:
    action = lock(session, CaseAction, [action_id]).get(action_id)
    if action is None:
        raise NotFound(_l("No such action."))
    if action.status != "pending":
        raise Conflict(_l("This action has already been decided."), code="decided")
    return action


def _execute(session: Session, case: FraudCase, action: CaseAction, approver: User | None) -> None:
    now = utcnow()
    account = ledger.member_account(session, case.member_id)
    if action.kind == "freeze":
        case.frozen = True
        _set_account_frozen(session, case.member_id)
        notice = "fraud_freeze"
    else:
        posting = ledger.transfer(session, account, ledger.system_account(session, "issuance"), action.amount,
                                  "adjust", key=f"fraud:action:{action.id}", memo=f"fraud case #{case.id}",
                                  actor_id=action.requested_by, ref=(REF, str(case.id)), now=now)
        action.transfer_id = posting.transfer.id
        notice = "fraud_deduct"
    action.status, action.approved_by, action.decided_at = "executed", approver.id if approver else None, now
    case.disclosed = True
    accounts.notify(session, case.member_id, notice, {"case_id": case.id, "amount": action.amount,
                                                      "reason": case.reason[:300]})
    session.flush()


def _set_account_frozen(session: Session, member_id: int) -> None:
    """The member account is frozen while any of the member's cases holds a freeze."""
    account = ledger.member_account(session, member_id)
    ledger.set_frozen(session, account, session.scalar(select(func.count(FraudCase.id)).where(
        FraudCase.member_id == member_id, FraudCase.frozen)) > 0)


def lift_freeze(session: Session, operator: User, case_id: int, note: str = "") -> FraudCase:
    """End the freeze before the case is resolved (in the member's favour: no approval needed)."""
    _operator(operator)
    case = _lock_case(session, case_id)
    if not case.frozen:
        raise Conflict(_l("The member is not frozen under this case."), code="not-frozen")
    case.frozen = False
    session.flush()
    _set_account_frozen(session, case.member_id)
    accounts.notify(session, case.member_id, "fraud_unfrozen", {"case_id": case.id})
    return case


# --- appeal and resolution -----------------------------------------------------------------------

def appeal(session: Session, member: User, case_id: int, statement: str) -> FraudCase:
    """The member's appeal, once per case, while it is open."""
    case = case_for_member(session, member, case_id)
    case = _lock_case(session, case.id)
    statement = (statement or "").strip()
    if len(statement) < 10:
        raise DomainError(_l("Tell us in a few sentences why the decision is wrong (at least 10 characters)."),
                          field="statement")
    if case.status != "open":
        raise Conflict(_l("This case can no longer be appealed."), code="not-appealable")
    case.status, case.appeal_statement, case.appealed_at = "appealed", statement[:4000], utcnow()
    session.flush()
    return case


def resolve(session: Session, operator: User, case_id: int, outcome: str, note: str) -> FraudCase:
    """Close the case. ``reversed`` gives back every deducted point to the lots it came from;
    either way the freeze ends and pending actions are cancelled."""
    _operator(operator)
    if outcome not in ("upheld", "reversed"):
        raise DomainError(_l("Choose upheld or reversed."), field="outcome")
    note = (note or "").strip()
    if len(note) < 5:
        raise DomainError(_l("Write the reason for the decision."), field="note")
    case = _lock_case(session, case_id)
    if not case.active:
        raise Conflict(_l("This case is already resolved."), code="case-closed")
    now = utcnow()
    _member_account_locked(session, case.member_id)
    restored = 0
    for action in case.actions:
        if action.status == "pending":
            action.status, action.decided_at = "cancelled", now
        elif outcome == "reversed" and action.kind == "deduct" and action.status == "executed":
            posting = ledger.reverse(session, action.transfer_id, key=f"fraud:reverse:{action.id}",
                                     actor_id=operator.id, memo=f"fraud case #{case.id} reversed", now=now)
            action.reversal_transfer_id = posting.transfer.id
            restored += action.amount
    case.status, case.resolved_by, case.resolved_at, case.resolution_note = outcome, operator.id, now, note[:2000]
    case.frozen = False
    session.flush()
    _set_account_frozen(session, case.member_id)
    if case.disclosed:
        accounts.notify(session, case.member_id, "fraud_resolved",
                        {"case_id": case.id, "outcome": outcome, "restored": restored, "note": note[:300]})
    events.fraud_case_resolved.send(session, case_id=case.id, member_id=case.member_id, outcome=outcome)
    return case


def cases_of(session: Session, member_id: int) -> list[FraudCase]:
    return list(session.scalars(select(FraudCase).where(FraudCase.member_id == member_id)
                                .order_by(FraudCase.id.desc())))


def forget_member(session: Session, member_id: int) -> None:
    """On account deletion: the member's own words (appeal statements) are erased; the cases stay."""
    session.execute(update(FraudCase).where(FraudCase.member_id == member_id, FraudCase.appeal_statement.is_not(None))
                    .values(appeal_statement="[erased]"))

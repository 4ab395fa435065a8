"""The member's data rights: download everything about them, and delete the account.

Export: the profile, the whole points statement, and every row of every table that belongs to the
member (found from the schema: a column named member_id, donor_id or user_id that references the
user), as JSON and one CSV per table, in one zip. Secrets (password and token hashes) are left out.

Deletion: personal fields are erased or replaced; the ledger is untouched apart from one last
transfer that forfeits the remaining points to the published forfeiture account (or donates them
first, by the member's choice), so `flask ledger verify` keeps passing and every point stays
traceable, now to an anonymous account.
"""
import csv
import io
import json
import secrets
import zipfile
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from mall import events
from mall.account import service as accounts
from mall.account.models import Notification, User
from mall.checkout import service as checkout
from mall.clock import utcnow
from mall.errors import Conflict, DomainError
from mall.family import service as family
from mall.ledger import service as ledger
from mall.models import Base

OWNER_COLUMNS = ("member_id", "donor_id", "user_id")
SECRET_COLUMNS = {"password_hash", "session_token", "token_hash", "secret_hash", "request_hash", "checkout_token",
                  "token"}
PROFILE_FIELDS = ("id", "email", "display_name", "member_code", "phone", "birthday", "locale", "role",
                  "good_credit", "created_at")


def _value(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def owned_tables():
    """(table, owner column) for every table whose rows belong to one user."""
    for table in Base.metadata.sorted_tables:
        if table.name in ("user", "audit_log"):
            continue
        for name in OWNER_COLUMNS:
            column = table.c.get(name)
            if column is not None and any(fk.column.table.name == "user" for fk in column.foreign_keys):
                yield table, column
                break


def collect(session: Session, user: User) -> dict:
    """Everything the mall holds about ``user``: {section: list of rows}."""
    data = {"profile": [{k: _value(getattr(user, k)) for k in PROFILE_FIELDS}]}
    account = ledger.find_account(session, "member", user.id)
    statement = []
    before = None
    while account is not None:
        page = ledger.statement(session, account, before_id=before, limit=1000)
        if not page:
            break
        statement += [{"entry": r.transfer.id, "time_utc": r.transfer.created_at.isoformat(), "kind": r.transfer.kind,
                       "points": r.delta, "memo": r.transfer.memo,
                       "reference": f"{r.transfer.ref_type}:{r.transfer.ref_id}" if r.transfer.ref_type else ""}
                      for r in page]
        before = page[-1].transfer.id
    data["points_statement"] = statement
    data["points_balance"] = [{"balance": account.balance if account else 0}]
    for table, column in owned_tables():
        rows = session.execute(select(table).where(column == user.id).order_by(*table.primary_key.columns)).mappings()
        data[table.name] = [{k: _value(v) for k, v in row.items() if k not in SECRET_COLUMNS} for row in rows]
    return data


def export_zip(session: Session, user: User) -> bytes:
    data = collect(session, user)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.json", json.dumps(data, ensure_ascii=False, indent=2, default=str))
        for section, rows in data.items():
            if not rows:
                continue
            text = io.StringIO()
            columns = list({key: None for row in rows for key in row})
            writer = csv.DictWriter(text, fieldnames=columns)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v
                                 for k, v in row.items()})
            archive.writestr(f"csv/{section}.csv", "\ufeff" + text.getvalue())
        archive.writestr("README.txt", "Your data from Green Points Mall. data.json holds everything; csv/ holds "
                                       "the same, one file per kind of record. Times are UTC.\n")
    return buffer.getvalue()


def deletion_blockers(session: Session, user: User) -> list[str]:
    """Why the account cannot be deleted yet (empty: it can)."""
    reasons = []
    if checkout.has_open_orders(session, user.id):
        reasons.append(_l("You have orders that are not fulfilled yet: wait for them or cancel them first."))
    member = family.membership(session, user)
    if member is not None and member.role == "head" and len(member.family.members) > 1:
        reasons.append(_l("You are the head of a family: hand the role over or dissolve the family first."))
    return reasons


def delete_account(session: Session, user: User, password: str, *, donate_to: int | None = None,
                   token: str = "") -> int:
    """Erase the member's personal data; returns the points forfeited (after any donation).

    Other areas release what the member shares (``member_deleting``: the family is left), then erase
    their own data (``member_deleted``: charity first donates to ``donate_to``); what is left in the
    member's wallet is forfeited, and the account itself erased."""
    if user.role != "member" or user.deleted_at is not None:
        raise DomainError(_l("Only a member account can be deleted here."))
    if accounts.authenticate(session, user.email, password or "") is None:
        raise DomainError(_l("The password is not correct."), code="wrong-password", field="password")
    blockers = deletion_blockers(session, user)
    if blockers:
        raise Conflict(blockers[0], code="blocked")
    now = utcnow()
    events.member_deleting.send(session, user_id=user.id, occurred_at=now)
    events.member_deleted.send(session, user_id=user.id, donate_to=donate_to, donation_token=token, occurred_at=now)
    account = ledger.member_account(session, user.id)
    account = ledger.lock_accounts(session, [account.id])[account.id]
    forfeited = ledger.spendable(session, account, now)
    if forfeited > 0:
        ledger.transfer(session, account, ledger.system_account(session, "forfeit"), forfeited, "forfeit",
                        key=f"forfeit:member:{user.id}", memo="account deleted", now=now)
    session.execute(delete(Notification).where(Notification.user_id == user.id))
    user.email = f"deleted-{user.id}@deleted.invalid"
    user.display_name = "—"
    user.phone = None
    user.birthday = None
    user.locale = None
    user.good_credit = False
    user.member_code = f"D{user.id:011d}"[-12:]  # digits 0 and 1 never occur in issued codes
    user.password_hash = "!deleted"
    user.session_token = secrets.token_urlsafe(24)
    user.deleted_at = now
    session.flush()
    return forfeited

"""Recording and reading the audit trail.

Two ways in, one table:
- automatically: while an operator or a merchant's staff (signed in, or through an API key) is
  acting, every row the request inserts, changes or deletes is recorded with its values before and
  after (``after_flush``), and every bulk UPDATE/DELETE with its statement's parameters;
- explicitly, with :func:`record`, for what has no row of its own (an operator viewing a member's
  data, a refused attempt, a note that gives the reason).
Secrets (password and key hashes, session tokens) and the ledger's own bookkeeping rows (lots, draws,
balances, the chain head: the ledger is its own audit trail) are left out.
"""
import json
from dataclasses import dataclass
from datetime import date, datetime

from flask import g, has_request_context, request
from sqlalchemy import event, func, insert, inspect, or_, select
from sqlalchemy.orm import Session, selectinload

from mall.audit.models import AuditEntry
from mall.clock import utcnow

SKIP_TABLES = {"audit_log", "ledger_lot", "ledger_lot_draw", "ledger_head", "ledger_account", "notification",
               "idempotency_record", "outbox_message", "delivery_attempt"}
SECRET_COLUMNS = {"password_hash", "secret_hash", "token_hash", "session_token", "request_hash", "hash",
                  "prev_hash", "fingerprint", "batch_key", "response_body", "secret"}
PAGE = 50


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    role: str  # operator, merchant, api, system
    merchant_id: int | None = None
    ip: str = ""


def set_actor(actor: Actor | None) -> None:
    """Declare who is acting for the rest of this request (called by the request hooks)."""
    g.audit_actor = actor


def current_actor() -> Actor | None:
    return g.get("audit_actor") if has_request_context() else None


def actor_for_user(user) -> Actor | None:
    """The audited actor for a signed-in user: operators and merchant staff are audited, members not."""
    if not getattr(user, "is_authenticated", False):
        return None
    if user.is_operator:
        return Actor(user.id, "operator", None, _ip())
    if user.is_merchant_staff:
        return Actor(user.id, "merchant", user.merchant_id, _ip())
    return None


def _ip() -> str:
    return (request.remote_addr or "")[:45] if has_request_context() else ""


def _action() -> str:
    return (request.endpoint or request.path)[:80] if has_request_context() else "cli"


def _jsonable(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def _entry(actor: Actor, action: str, target_type: str, target_id, before, after, note: str) -> dict:
    return dict(at=utcnow(), actor_id=actor.user_id, actor_role=actor.role, merchant_id=actor.merchant_id,
                action=action[:80], target_type=target_type[:40], target_id=str(target_id)[:40], ip=actor.ip,
                before=_jsonable(before), after=_jsonable(after), note=(note or "")[:500])


def _append(session: Session, entries: list[dict]) -> None:
    """Write entries with the session's own connection (inside its transaction), in one statement."""
    if entries:
        session.connection().execute(insert(AuditEntry.__table__), entries)


def record(session: Session, action: str, target_type: str = "", target_id="", *, before: dict | None = None,
           after: dict | None = None, note: str = "", actor: Actor | None = None) -> None:
    """Append one entry for ``actor`` (default: whoever is acting in this request)."""
    actor = actor or current_actor() or Actor(None, "system", None, _ip())
    _append(session, [_entry(actor, action, target_type, target_id, before, after, note)])


def _row_changes(obj, state):
    """(before, after) of the columns that changed on a dirty object."""
    before, after = {}, {}
    for attr in state.mapper.column_attrs:
        key = attr.key
        if key in SECRET_COLUMNS:
            continue
        history = state.attrs[key].history
        if history.has_changes():
            before[key] = history.deleted[0] if history.deleted else None
            after[key] = history.added[0] if history.added else None
    return before, after


def _row_values(state):
    return {attr.key: getattr(state.obj(), attr.key) for attr in state.mapper.column_attrs
            if attr.key not in SECRET_COLUMNS}


def _after_flush(session: Session, _context) -> None:
    actor = current_actor()
    if actor is None:
        return
    action = _action()
    entries = []
    for kind, objects in (("insert", session.new), ("update", session.dirty), ("delete", session.deleted)):
        for obj in list(objects):
            table = getattr(obj, "__tablename__", None)
            if table is None or table in SKIP_TABLES:
                continue
            state = inspect(obj)
            ident = state.identity[0] if state.identity else getattr(obj, "id", "")
            if kind == "update":
                before, after = _row_changes(obj, state)
                if not after:
                    continue
            elif kind == "insert":
                before, after = None, _row_values(state)
            else:
                before, after = _row_values(state), None
            entries.append(_entry(actor, action, table, ident, before, after, kind))
    _append(session, entries)


def _bulk_statements(orm_execute_state) -> None:
    """Statements run through the session rather than a flush: an INSERT of rows (e.g. the ledger's
    transfers, written in one statement) is recorded row by row like a flushed insert; a bulk UPDATE
    or DELETE with its parameters."""
    if not (orm_execute_state.is_insert or orm_execute_state.is_update or orm_execute_state.is_delete):
        return
    actor = current_actor()
    if actor is None:
        return
    statement = orm_execute_state.statement
    table = getattr(statement, "table", None)
    name = getattr(table, "name", "")
    if name in SKIP_TABLES:
        return
    action = _action()
    if orm_execute_state.is_insert:
        rows = orm_execute_state.parameters
        rows = [rows] if isinstance(rows, dict) else list(rows or [])
        rows = [row for row in rows if row] or [statement.compile().params]  # or the statement's own values
        _append(orm_execute_state.session, [
            _entry(actor, action, name, row.get("id", ""), None,
                   {k: v for k, v in row.items() if k not in SECRET_COLUMNS}, "insert") for row in rows])
        return
    params = {k: v for k, v in statement.compile().params.items() if k not in SECRET_COLUMNS}
    record(orm_execute_state.session, action, name, "", after=params,
           note="bulk update" if orm_execute_state.is_update else "bulk delete", actor=actor)


def install() -> None:
    """Listen to every ORM session once per process (the listeners act only while an actor is set)."""
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "do_orm_execute", _bulk_statements)


# --- reading ---------------------------------------------------------------------------------

@dataclass
class Filters:
    actor_id: int | None = None
    merchant_id: int | None = None
    action: str = ""
    target_type: str = ""
    target_id: str = ""
    since: datetime | None = None
    until: datetime | None = None


def _query(filters: Filters):
    stmt = select(AuditEntry)
    if filters.actor_id:
        stmt = stmt.where(AuditEntry.actor_id == filters.actor_id)
    if filters.merchant_id:
        stmt = stmt.where(AuditEntry.merchant_id == filters.merchant_id)
    if filters.action:
        stmt = stmt.where(or_(AuditEntry.action == filters.action,
                              AuditEntry.action.like(f"{_escape_like(filters.action)}%", escape="\\")))
    if filters.target_type:
        stmt = stmt.where(AuditEntry.target_type == filters.target_type)
    if filters.target_id:
        stmt = stmt.where(AuditEntry.target_id == filters.target_id)
    if filters.since:
        stmt = stmt.where(AuditEntry.at >= filters.since)
    if filters.until:
        stmt = stmt.where(AuditEntry.at < filters.until)
    return stmt


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search(session: Session, filters: Filters, before_id: int | None = None, limit: int = PAGE) -> list[AuditEntry]:
    """Newest first, with each entry's actor and merchant; ``before_id`` pages backwards."""
    stmt = _query(filters).options(selectinload(AuditEntry.actor), selectinload(AuditEntry.merchant))
    if before_id:
        stmt = stmt.where(AuditEntry.id < before_id)
    return list(session.scalars(stmt.order_by(AuditEntry.id.desc()).limit(limit)))


def count(session: Session, filters: Filters) -> int:
    return session.scalar(select(func.count()).select_from(_query(filters).subquery()))


CSV_COLUMNS = ("id", "at_utc", "actor_id", "actor_role", "merchant_id", "action", "target_type", "target_id",
               "ip", "before", "after", "note")


def _json_text(value) -> str:
    """A value as compact JSON that keeps Chinese readable."""
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def csv_rows(session: Session, filters: Filters, batch: int = 1000):
    """Every matching entry, oldest first, streamed in batches (for the CSV export)."""
    last = 0
    yield CSV_COLUMNS
    while True:
        rows = list(session.scalars(_query(filters).where(AuditEntry.id > last).order_by(AuditEntry.id).limit(batch)))
        if not rows:
            return
        for e in rows:
            yield (e.id, e.at.isoformat(), e.actor_id or "", e.actor_role, e.merchant_id or "", e.action,
                   e.target_type, e.target_id, e.ip, _json_text(e.before), _json_text(e.after), e.note)
        last = rows[-1].id


@dataclass
class Action:
    """Entries one request wrote (same actor, action and second), as one line of a readable trail."""

    at: datetime
    actor: object
    actor_role: str
    action: str
    changes: list  # (target type, target id, kind, changed column names)
    last_id: int


def as_actions(entries: list[AuditEntry]) -> list[Action]:
    """Group newest-first entries into actions (for the merchant's own view of its trail)."""
    actions: list[Action] = []
    for e in entries:
        current = actions[-1] if actions else None
        if (current is None or current.action != e.action or current.actor is not e.actor
                or abs((current.at - e.at).total_seconds()) > 1):
            current = Action(e.at, e.actor, e.actor_role, e.action, [], e.id)
            actions.append(current)
        fields = sorted((e.after or {}) if e.note == "update" else ())
        current.changes.append((e.target_type, e.target_id, e.note, fields))
        current.last_id = e.id
    return actions

"""Transactions that stay correct under concurrency, on SQLite and PostgreSQL alike.

SQLite: every connection runs in WAL mode with foreign keys on, and a use case's write
transaction starts with ``BEGIN IMMEDIATE`` so two writers queue instead of failing half-way (the
embedded default keeps its single writer).

PostgreSQL: there is no global lock. A use case locks only the rows it changes (``lock`` below,
``SELECT … FOR UPDATE``, or a conditional ``UPDATE … WHERE stock >= n``), and every use case takes
them in ONE canonical order, so that two use cases cannot wait on each other in a cycle:

1. the use case's own rows — orders, the cart, bill payments, fraud cases and actions, families and
   invitations, pledges, coupons, merchants, purchases — by id (where a use case needs two kinds,
   always the same pair in the same order: a family before its invitation, a fraud action before
   its case);
2. inventory: listings, then service slots, then hotel nights, each by id (a slot or a night is
   only changed by a use case that holds its listing, or by a conditional ``UPDATE`` on it alone);
   charity projects and match campaigns count as inventory here (they hold a goal being filled);
3. ledger accounts by id, all at once, through ``ledger.lock_accounts(session, ids)`` before the
   first posting (a posting then re-locks nothing it does not already hold; system accounts that
   every posting touches are not row-locked, see ``mall.ledger``).

For example: checkout locks listings, takes slots and nights, then the member's (or the family
pool's) account; cancelling or refunding an order locks the order, its listings, then the member's
and pool's accounts at once; a donation locks the project, its match campaign, then the accounts; a
pledge collection the pledge, then the project, then the account; a gift the sender's and the
recipient's accounts at once; leaving or dissolving a family the family, then the pool and the
members' accounts at once; a fraud decision the action, its case, then the account; a purchase
refund the purchase, then the account.

Where a use case cannot cheaply follow the order, it relies on the retry: subscribers that run in
the same transaction and lock an account the use case did not (engage paying a task for a purchase
locks the game budget after the member's account), a family-pool donation (the pool is locked alone
first, to check the member's pool rights, then the project's accounts). PostgreSQL detects the rare
deadlock, the transaction rolls back whole, and ``retried`` (used by ``mall.edge.run`` and by the
named orchestrators' steps) runs it again, at most ``RETRIES`` times; the last failure is ``Busy``,
answered as a 503 with ``Retry-After`` and nothing written. Readers never wait.
"""
import logging
import random
import secrets
import time
from contextlib import contextmanager

from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, scoped_session

WRITE = "mall_write"
log = logging.getLogger(__name__)


def configure_engine(engine) -> None:
    """Install the per-dialect connection settings once per engine."""
    if engine.dialect.name != "sqlite" or getattr(engine, "_mall_configured", False):
        return
    engine._mall_configured = True
    in_memory = engine.url.database in (None, "", ":memory:")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # BEGIN is emitted below, by us
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        immediate = connection.get_execution_options().get(WRITE)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def write(session: Session):
    """Run one use case in one short write transaction: commit on success, roll back on any error but a
    refusal that records something (``DomainError.commits``, e.g. a wrong one-time code counted)."""
    session = session() if isinstance(session, scoped_session) else session
    if session.in_transaction():
        commit_keeping(session)  # end the read snapshot a view may have opened (e.g. loading the user)
    session.connection(execution_options={WRITE: True})  # BEGIN IMMEDIATE on SQLite; no lock on PostgreSQL
    try:
        yield session
        commit_keeping(session)
    except BaseException as err:
        if getattr(err, "commits", False):  # a refusal whose record stands (see DomainError.commits)
            try:
                session.commit()
            except BaseException:
                session.rollback()
                raise
        else:
            session.rollback()
        raise


def commit_keeping(session: Session) -> None:
    """Commit without expiring what the session holds. What a request loaded (the signed-in member, the
    merchant of an API key, listings) and what its use case wrote stay usable by the next step of the
    same request without reading every row again after each commit (a checkout or an API purchase
    commits two or three times). Nothing stale is relied on: whatever a use case decides on is read
    under its lock with ``populate_existing`` (``lock``, ``ledger.lock_accounts``), and a rollback
    (a refusal, a retry) still expires everything."""
    keep = session.expire_on_commit
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = keep


RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock detected
RETRIES = 3  # attempts of one write transaction when PostgreSQL reports a deadlock or serialization failure


class Busy(OperationalError):
    """A write transaction still hit a deadlock or serialization failure after ``RETRIES`` attempts.
    Everything it did was rolled back; the answer is "busy, retry shortly" (503 + Retry-After, the
    problem type ``/api/v1/problems/busy`` under /api/), never a server error. An OperationalError,
    so that every handler of a database outage also catches it."""

    @classmethod
    def after(cls, err: OperationalError) -> "Busy":
        return cls(err.statement, err.params, err.orig)


def is_retryable(err: BaseException) -> bool:
    """True for a PostgreSQL deadlock or serialization failure: the whole use case may run again
    (never for ``Busy``: its retries are spent)."""
    if isinstance(err, Busy):
        return False
    return getattr(getattr(err, "orig", None), "sqlstate", None) in RETRYABLE_SQLSTATES


def retried(session: Session, step, /, *args, **kwargs):
    """Run ``step(*args, **kwargs)`` as one write transaction (``write``) and return what it returns;
    on a deadlock or serialization failure, roll back and run it again, at most ``RETRIES`` times in
    all, then raise ``Busy``. The one retry loop: ``mall.edge.run`` and the named orchestrators'
    steps (checkout, ``mall.idempotency.run_once``) all go through it."""
    for attempt in range(1, RETRIES + 1):
        try:
            with write(session):
                return step(*args, **kwargs)
        except OperationalError as err:
            if not is_retryable(err):
                raise
            sqlstate = err.orig.sqlstate
            if attempt == RETRIES:
                log.warning("write %s gave up after %d attempts (SQLSTATE %s)", _name(step), attempt, sqlstate)
                raise Busy.after(err) from err
            log.info("write %s retried (SQLSTATE %s, attempt %d)", _name(step), sqlstate, attempt)
            time.sleep(random.uniform(0.005, 0.02) * attempt)  # apart, so the two do not meet again


def _name(step) -> str:
    return getattr(step, "__qualname__", repr(step))


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def lock(session: Session, model, ids) -> dict:
    """Load rows of ``model`` by id, locked for update on PostgreSQL, in id order to avoid deadlocks."""
    ids = sorted(set(ids))
    if not ids:
        return {}
    stmt = select(model).where(model.id.in_(ids)).order_by(model.id)
    if is_postgres(session):
        stmt = stmt.with_for_update(of=model)
    stmt = stmt.execution_options(populate_existing=True)
    return {row.id: row for row in session.scalars(stmt)}


def unique_code(session: Session, column, alphabet: str, length: int, prefix: str = "") -> str:
    """A random code (``secrets``) that ``column`` does not hold yet; the column's unique constraint
    settles the rare race between two writers."""
    while True:
        code = prefix + "".join(secrets.choice(alphabet) for _ in range(length))
        if session.scalar(select(column).where(column == code).limit(1)) is None:
            return code

"""Transactions that stay correct under concurrency, on SQLite and PostgreSQL alike.

SQLite: every connection runs in WAL mode with foreign keys on, and a use case's write
transaction starts with ``BEGIN IMMEDIATE`` so two writers queue instead of failing half-way.
PostgreSQL: a write transaction takes one advisory lock first (writers queue the same way), and
rows it changes are also locked with ``SELECT … FOR UPDATE`` in id order. Readers never wait.
"""
import secrets
from contextlib import contextmanager

from sqlalchemy import event, select
from sqlalchemy.orm import Session, scoped_session

WRITE = "mall_write"


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
        session.commit()  # end the read snapshot a view may have opened (e.g. loading the user)
    connection = session.connection(execution_options={WRITE: True})
    if connection.dialect.name == "postgresql":
        # One writer at a time, as BEGIN IMMEDIATE gives on SQLite: nearly every use case posts to the
        # ledger (whose chain head orders all postings anyway), and a single order rules out deadlocks
        # between use cases that lock stock, orders and accounts in different orders.
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7301)")
    try:
        yield session
        session.commit()
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


RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock detected


def is_retryable(err: BaseException) -> bool:
    """True for a PostgreSQL deadlock or serialization failure: the whole use case may run again."""
    return getattr(getattr(err, "orig", None), "sqlstate", None) in RETRYABLE_SQLSTATES


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

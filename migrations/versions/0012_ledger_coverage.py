"""ledger: every field that decides whose points they are is covered by the chain; checkpoints

Each account, transfer, lot and lot draw gets a keyed seal (``mac``) over its identity-deciding
fields (see ``mall.ledger.service.seal``); the rows already there are sealed here with the key the
app uses (LEDGER_KEY, or in development the instance folder's key file).

Revision ID: 0012_ledger_coverage
Revises: 0011_bill_attempts

"""
from alembic import op
import sqlalchemy as sa
from flask import current_app

from mall.config import ledger_key
from mall.ledger.service import SEALED, seal


revision = '0012_ledger_coverage'
down_revision = '0011_bill_attempts'
branch_labels = None
depends_on = None

TABLES = ("ledger_account", "ledger_transfer", "ledger_lot", "ledger_lot_draw")
BATCH = 10000


def upgrade():
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('mac', sa.String(length=64), nullable=False, server_default=''))

    key = ledger_key(current_app.config, current_app.instance_path).encode()
    conn = op.get_bind()
    for table in TABLES:
        columns = ", ".join(SEALED[table])
        after = 0
        while True:
            rows = conn.execute(sa.text(f"SELECT {columns} FROM {table} WHERE id > :after ORDER BY id LIMIT {BATCH}"),
                                {"after": after}).all()
            if not rows:
                break
            conn.execute(sa.text(f"UPDATE {table} SET mac = :mac WHERE id = :id"),
                         [{"id": row[0], "mac": seal(key, table, row)} for row in rows])
            after = rows[-1][0]


def downgrade():
    # In place (SQLite 3.35+ drops a plain column itself): rebuilding the table, as batch mode does by
    # default, fails once other tables' rows refer to it.
    for table in reversed(TABLES):
        with op.batch_alter_table(table, schema=None, recreate="never") as batch_op:
            batch_op.drop_column('mac')

"""ledger: transfers carry their own hash and a sealer chains them into blocks; sharded balances

Postings no longer extend one hash chain under the head row's lock: each new transfer's ``hash`` is its
content hash, and ``flask ledger seal`` chains committed transfers into ``ledger_block`` rows
(``ledger_transfer.block_id``). Every transfer already there goes into block 1, keeping the chained
hash it has (``verify`` still checks those as the legacy chain, which ends where ``ledger_head`` says).
Unguarded accounts' balances move through ``ledger_balance_shard`` counter rows. Downgrading
re-chains the transfers posted since onto the legacy chain and folds the shards back into balances.

Revision ID: 0013_ledger_blocks
Revises: 0012_ledger_coverage

"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa
from flask import current_app

from mall.config import ledger_key
from mall.ledger.seals import GENESIS, add_member, block_hasher, link_hash, seal


revision = '0013_ledger_blocks'
down_revision = '0012_ledger_coverage'
branch_labels = None
depends_on = None

BATCH = 10000
CHAIN_COLUMNS = ("id", "debit_account_id", "credit_account_id", "amount", "kind", "idempotency_key",
                 "actor_id", "ref_type", "ref_id", "memo", "reverses_id", "created_at")


def _key():
    return ledger_key(current_app.config, current_app.instance_path).encode()


def _batches(conn, sql, after=0):
    while True:
        rows = conn.execute(sa.text(sql + f" WHERE id > :after ORDER BY id LIMIT {BATCH}"), {"after": after}).all()
        if not rows:
            return
        yield rows
        after = rows[-1][0]


def upgrade():
    op.create_table('ledger_block',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('first_transfer_id', sa.BigInteger(), nullable=False),
    sa.Column('last_transfer_id', sa.BigInteger(), nullable=False),
    sa.Column('transfers', sa.Integer(), nullable=False),
    sa.Column('sealed_at', sa.DateTime(), nullable=False),
    sa.Column('mac', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_block'))
    )
    with op.batch_alter_table('ledger_block', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_block_sealed_at'), ['sealed_at'], unique=False)
    op.create_table('ledger_balance_shard',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('shard', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['ledger_account.id'],
                            name=op.f('fk_ledger_balance_shard_account_id_ledger_account')),
    sa.PrimaryKeyConstraint('account_id', 'shard', name=op.f('pk_ledger_balance_shard'))
    )
    with op.batch_alter_table('ledger_transfer', schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column('block_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('posted_at', sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_ledger_transfer_block_id'), ['block_id'], unique=False)

    # Block 1: every transfer there is, in id order, with the (chained) hash it already has.
    conn = op.get_bind()
    hasher, count, first, last = block_hasher(GENESIS, 1), 0, None, None
    for rows in _batches(conn, "SELECT id, hash FROM ledger_transfer"):
        for id_, hash_ in rows:
            add_member(hasher, id_, hash_)
            count, first, last = count + 1, first or id_, id_
    if not count:
        return
    sealed_at = datetime.now(timezone.utc).replace(tzinfo=None)
    values = [1, GENESIS, hasher.hexdigest(), first, last, count, sealed_at]
    block = sa.table("ledger_block", *(sa.column(name) for name in (
        "id", "prev_hash", "hash", "first_transfer_id", "last_transfer_id", "transfers", "mac")),
        sa.column("sealed_at", sa.DateTime()))
    conn.execute(block.insert().values(**dict(zip(
        ("id", "prev_hash", "hash", "first_transfer_id", "last_transfer_id", "transfers", "sealed_at"), values)),
        mac=seal(_key(), "ledger_block", values)))
    conn.execute(sa.text("UPDATE ledger_transfer SET block_id = 1"))
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT setval(pg_get_serial_sequence('ledger_block', 'id'), 1)"))


def downgrade():
    conn = op.get_bind()
    # Put the transfers posted since onto the legacy chain (hash on the one before, sealed again),
    # and their balances back into the accounts' balance column.
    key = _key()
    head = conn.execute(sa.text("SELECT last_transfer_id, last_hash FROM ledger_head WHERE id = 1")).first()
    if head is not None:
        prev, last = head.last_hash, head.last_transfer_id
        columns = ", ".join(CHAIN_COLUMNS + ("fingerprint", "batch_key"))
        for rows in _batches(conn, f"SELECT {columns} FROM ledger_transfer", head.last_transfer_id):
            updates = []
            for *fields, print_, batch in rows:
                prev, last = link_hash(prev, *fields), fields[0]
                updates.append({"id": last, "hash": prev,
                                "mac": seal(key, "ledger_transfer", (last, prev, print_, batch))})
            conn.execute(sa.text("UPDATE ledger_transfer SET hash = :hash, mac = :mac WHERE id = :id"), updates)
        conn.execute(sa.text("UPDATE ledger_head SET last_transfer_id = :id, last_hash = :hash WHERE id = 1"),
                     {"id": last, "hash": prev})
    conn.execute(sa.text("UPDATE ledger_account SET balance = balance + COALESCE((SELECT SUM(s.amount) "
                         "FROM ledger_balance_shard s WHERE s.account_id = ledger_account.id), 0)"))

    with op.batch_alter_table('ledger_transfer', schema=None, recreate="never") as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_transfer_block_id'))
        batch_op.drop_column('posted_at')
        batch_op.drop_column('block_id')
    op.drop_table('ledger_balance_shard')
    with op.batch_alter_table('ledger_block', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_block_sealed_at'))
    op.drop_table('ledger_block')

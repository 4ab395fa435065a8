"""operator console: fraud cases, account freeze, merchant suspension reason, account deletion

Revision ID: 0010_operator_console
Revises: 0009_impact_games

"""
from alembic import op
import sqlalchemy as sa


revision = '0010_operator_console'
down_revision = '0009_impact_games'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('fraud_case',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('opened_by', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('frozen', sa.Boolean(), nullable=False),
    sa.Column('disclosed', sa.Boolean(), nullable=False),
    sa.Column('appeal_statement', sa.Text(), nullable=True),
    sa.Column('appealed_at', sa.DateTime(), nullable=True),
    sa.Column('resolved_by', sa.Integer(), nullable=True),
    sa.Column('resolved_at', sa.DateTime(), nullable=True),
    sa.Column('resolution_note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("status IN ('open', 'appealed', 'upheld', 'reversed')", name=op.f('ck_fraud_case_status')),
    sa.ForeignKeyConstraint(['member_id'], ['user.id'], name=op.f('fk_fraud_case_member_id_user')),
    sa.ForeignKeyConstraint(['opened_by'], ['user.id'], name=op.f('fk_fraud_case_opened_by_user')),
    sa.ForeignKeyConstraint(['resolved_by'], ['user.id'], name=op.f('fk_fraud_case_resolved_by_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fraud_case'))
    )
    with op.batch_alter_table('fraud_case', schema=None) as batch_op:
        batch_op.create_index('ix_fraud_case_member', ['member_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_fraud_case_status'), ['status'], unique=False)

    op.create_table('fraud_action',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('requested_by', sa.Integer(), nullable=False),
    sa.Column('approved_by', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('transfer_id', sa.Integer(), nullable=True),
    sa.Column('reversal_transfer_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('freeze', 'deduct')", name=op.f('ck_fraud_action_kind')),
    sa.CheckConstraint("status IN ('pending', 'executed', 'rejected', 'cancelled')", name=op.f('ck_fraud_action_status')),
    sa.CheckConstraint('amount >= 0', name=op.f('ck_fraud_action_amount_not_negative')),
    sa.ForeignKeyConstraint(['approved_by'], ['user.id'], name=op.f('fk_fraud_action_approved_by_user')),
    sa.ForeignKeyConstraint(['case_id'], ['fraud_case.id'], name=op.f('fk_fraud_action_case_id_fraud_case')),
    sa.ForeignKeyConstraint(['requested_by'], ['user.id'], name=op.f('fk_fraud_action_requested_by_user')),
    sa.ForeignKeyConstraint(['reversal_transfer_id'], ['ledger_transfer.id'], name=op.f('fk_fraud_action_reversal_transfer_id_ledger_transfer')),
    sa.ForeignKeyConstraint(['transfer_id'], ['ledger_transfer.id'], name=op.f('fk_fraud_action_transfer_id_ledger_transfer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fraud_action'))
    )
    with op.batch_alter_table('fraud_action', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fraud_action_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_fraud_action_status'), ['status'], unique=False)

    op.create_table('fraud_evidence',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('transfer_id', sa.Integer(), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('file_name', sa.String(length=200), nullable=False),
    sa.Column('file_key', sa.String(length=100), nullable=False),
    sa.Column('file_size', sa.Integer(), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('added_by', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("(kind = 'transfer') = (transfer_id IS NOT NULL)", name=op.f('ck_fraud_evidence_transfer_ref')),
    sa.CheckConstraint("kind IN ('file', 'transfer')", name=op.f('ck_fraud_evidence_kind')),
    sa.ForeignKeyConstraint(['added_by'], ['user.id'], name=op.f('fk_fraud_evidence_added_by_user')),
    sa.ForeignKeyConstraint(['case_id'], ['fraud_case.id'], name=op.f('fk_fraud_evidence_case_id_fraud_case')),
    sa.ForeignKeyConstraint(['transfer_id'], ['ledger_transfer.id'], name=op.f('fk_fraud_evidence_transfer_id_ledger_transfer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fraud_evidence')),
    sa.UniqueConstraint('case_id', 'transfer_id', name='uq_fraud_evidence_case_transfer')
    )
    with op.batch_alter_table('fraud_evidence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fraud_evidence_case_id'), ['case_id'], unique=False)

    with op.batch_alter_table('ledger_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('frozen', sa.Boolean(), nullable=False, server_default=sa.false()))

    with op.batch_alter_table('merchant', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status_reason', sa.String(length=500), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('status_changed_at', sa.DateTime(), nullable=True))

    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deleted_at', sa.DateTime(), nullable=True))



def downgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('deleted_at')

    with op.batch_alter_table('merchant', schema=None) as batch_op:
        batch_op.drop_column('status_changed_at')
        batch_op.drop_column('status_reason')

    with op.batch_alter_table('ledger_account', schema=None) as batch_op:
        batch_op.drop_column('frozen')

    with op.batch_alter_table('fraud_evidence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fraud_evidence_case_id'))

    op.drop_table('fraud_evidence')
    with op.batch_alter_table('fraud_action', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fraud_action_status'))
        batch_op.drop_index(batch_op.f('ix_fraud_action_case_id'))

    op.drop_table('fraud_action')
    with op.batch_alter_table('fraud_case', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fraud_case_status'))
        batch_op.drop_index('ix_fraud_case_member')

    op.drop_table('fraud_case')

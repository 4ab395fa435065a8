"""bill payments: wrong-code attempts, voiding

Revision ID: 0011_bill_attempts
Revises: 0010_operator_console

"""
from alembic import op
import sqlalchemy as sa


revision = '0011_bill_attempts'
down_revision = '0010_operator_console'
branch_labels = None
depends_on = None


OLD_STATUSES = "status IN ('pending', 'approved', 'declined', 'expired')"
NEW_STATUSES = "status IN ('pending', 'approved', 'declined', 'expired', 'voided')"


def upgrade():
    with op.batch_alter_table('bill_payment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('code_attempts', sa.Integer(), nullable=False, server_default=sa.text('0')))
        batch_op.drop_constraint('status', type_='check')
        batch_op.create_check_constraint('status', NEW_STATUSES)
        batch_op.create_check_constraint('code_attempts', 'code_attempts >= 0')
        # A code is unique among pending requests only (it is always typed with its request's id):
        # a new code may repeat one of a decided request.
        batch_op.drop_constraint(op.f('uq_bill_payment_one_time_code'), type_='unique')
        batch_op.create_index(batch_op.f('ix_bill_payment_one_time_code'), ['one_time_code'], unique=False)


def downgrade():
    bill = sa.table('bill_payment', sa.column('status'))
    op.execute(bill.update().where(bill.c.status == 'voided').values(status='expired'))
    with op.batch_alter_table('bill_payment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bill_payment_one_time_code'))
        batch_op.create_unique_constraint(op.f('uq_bill_payment_one_time_code'), ['one_time_code'])
        batch_op.drop_constraint('code_attempts', type_='check')
        batch_op.drop_constraint('status', type_='check')
        batch_op.create_check_constraint('status', OLD_STATUSES)
        batch_op.drop_column('code_attempts')

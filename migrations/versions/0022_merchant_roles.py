"""coalition: a role for each member of a merchant's staff (owner, manager, cashier)

Revision ID: 0022_merchant_roles
Revises: 0021_merchant_terms

Every member of staff so far could do everything in the back office: they become owners.

Create Date: 2026-12-03 08:05:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0022_merchant_roles'
down_revision = '0021_merchant_terms'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('user', sa.Column('merchant_role', sa.String(length=12), nullable=True))
    op.execute("UPDATE \"user\" SET merchant_role = 'owner' WHERE role = 'merchant'")


def downgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('merchant_role')

"""partial refunds: how many units of an order line were refunded

Revision ID: 0007_partial_refunds
Revises: 0006_charity
"""
from alembic import op
import sqlalchemy as sa

revision = "0007_partial_refunds"
down_revision = "0006_charity"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("order_line", schema=None) as batch_op:
        batch_op.add_column(sa.Column("refunded_quantity", sa.Integer(), nullable=False, server_default=sa.text("0")))
        batch_op.create_check_constraint("refunded", "refunded_quantity >= 0 AND refunded_quantity <= quantity")


def downgrade():
    with op.batch_alter_table("order_line", schema=None) as batch_op:
        batch_op.drop_constraint("refunded", type_="check")
        batch_op.drop_column("refunded_quantity")

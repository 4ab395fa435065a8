"""coalition: each merchant's terms

Revision ID: 0021_merchant_terms
Revises: 0020_earning_channels

Each merchant may have its own issuance fee and reimbursement per point, share of a till bill payable
with points (up to 100 %), whether it accepts game coupons, and its settlement cycle; a figure left
empty is the programme's default (the configuration).

Create Date: 2026-12-03 07:31:10.118746

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0021_merchant_terms'
down_revision = '0020_earning_channels'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('merchant', sa.Column('issuance_fee_fen_per_point', sa.Integer(), nullable=True))
    op.add_column('merchant', sa.Column('reimbursement_fen_per_point', sa.Integer(), nullable=True))
    op.add_column('merchant', sa.Column('bill_max_share_percent', sa.Integer(), nullable=True))
    op.add_column('merchant', sa.Column('accepts_game_coupons', sa.Boolean(), nullable=False,
                                        server_default=sa.true()))
    op.add_column('merchant', sa.Column('settlement_cycle', sa.String(length=8), nullable=False,
                                        server_default='monthly'))
    if op.get_bind().dialect.name == 'postgresql':  # SQLite adds a CHECK only by rebuilding the table
        op.create_check_constraint('ck_merchant_bill_share', 'merchant',
                                   'bill_max_share_percent IS NULL OR bill_max_share_percent BETWEEN 0 AND 100')
        op.create_check_constraint('ck_merchant_settlement_cycle', 'merchant',
                                   "settlement_cycle IN ('weekly', 'monthly')")


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_constraint('ck_merchant_settlement_cycle', 'merchant', type_='check')
        op.drop_constraint('ck_merchant_bill_share', 'merchant', type_='check')
    with op.batch_alter_table('merchant', schema=None) as batch_op:
        batch_op.drop_column('settlement_cycle')
        batch_op.drop_column('accepts_game_coupons')
        batch_op.drop_column('bill_max_share_percent')
        batch_op.drop_column('reimbursement_fen_per_point')
        batch_op.drop_column('issuance_fee_fen_per_point')


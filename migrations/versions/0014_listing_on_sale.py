"""catalog: an index of the listings with a sale, so a page ordered by the price in force finds them

Revision ID: 0014_listing_on_sale
Revises: 0013_ledger_blocks

"""
from alembic import op
import sqlalchemy as sa


revision = '0014_listing_on_sale'
down_revision = '0013_ledger_blocks'
branch_labels = None
depends_on = None

WHERE = sa.text("sale_points_price IS NOT NULL")


def upgrade():
    op.create_index('ix_listing_on_sale', 'listing', ['status', 'sale_ends_at'], unique=False,
                    sqlite_where=WHERE, postgresql_where=WHERE)


def downgrade():
    op.drop_index('ix_listing_on_sale', table_name='listing')

"""catalog: an index of when each listing last changed (the newest change versions the page cache)

Revision ID: 0016_listing_updated_at
Revises: 0015_listing_search_terms

"""
from alembic import op


revision = '0016_listing_updated_at'
down_revision = '0015_listing_search_terms'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_listing_updated_at', 'listing', ['updated_at'], unique=False)


def downgrade():
    op.drop_index('ix_listing_updated_at', table_name='listing')

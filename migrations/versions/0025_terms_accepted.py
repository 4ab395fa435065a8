"""account: when a member agreed to the earning rules and the privacy page

Revision ID: 0025_terms_accepted
Revises: 0024_bilingual_factor_sources

Joining asks for the member's agreement; the moment is kept with the account. Accounts made before
carry none (they joined under the pages as they stood then).

Create Date: 2026-12-04 21:25:00

"""
from alembic import op
import sqlalchemy as sa

import mall.models


# revision identifiers, used by Alembic.
revision = '0025_terms_accepted'
down_revision = '0024_bilingual_factor_sources'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('terms_accepted_at', mall.models.UTCDateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('terms_accepted_at')

"""coalition: merchant applications; a merchant's public profile

Revision ID: 0019_merchant_applications
Revises: 0018_messages

Businesses apply to join (the owner's account, their credit code, contact, address, hours and green
statement) and an operator approves, refuses or asks for more; an approved merchant's page shows
its address, hours and green statement.

Create Date: 2026-12-03 06:55:20

"""
from alembic import op
import sqlalchemy as sa

import mall.models


# revision identifiers, used by Alembic.
revision = '0019_merchant_applications'
down_revision = '0018_messages'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('merchant_application',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('applicant_id', sa.Integer(), nullable=False),
    sa.Column('name_zh', sa.String(length=120), nullable=False),
    sa.Column('name_en', sa.String(length=120), nullable=False),
    sa.Column('category', sa.String(length=40), nullable=False),
    sa.Column('credit_code', sa.String(length=18), nullable=False),
    sa.Column('contact_name', sa.String(length=60), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('address', sa.String(length=300), nullable=False),
    sa.Column('opening_hours', sa.String(length=120), nullable=False),
    sa.Column('green_statement', sa.String(length=1000), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=True),
    sa.Column('reviewed_by', sa.Integer(), nullable=True),
    sa.Column('created_at', mall.models.UTCDateTime(), nullable=False),
    sa.Column('updated_at', mall.models.UTCDateTime(), nullable=False),
    sa.Column('decided_at', mall.models.UTCDateTime(), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'needs_info', 'approved', 'refused')", name=op.f('ck_merchant_application_status')),
    sa.ForeignKeyConstraint(['applicant_id'], ['user.id'], name=op.f('fk_merchant_application_applicant_id_user')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchant.id'], name=op.f('fk_merchant_application_merchant_id_merchant')),
    sa.ForeignKeyConstraint(['reviewed_by'], ['user.id'], name=op.f('fk_merchant_application_reviewed_by_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_merchant_application'))
    )
    with op.batch_alter_table('merchant_application', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_merchant_application_applicant_id'), ['applicant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_merchant_application_credit_code'), ['credit_code'], unique=False)

    for name, size in (('address', 300), ('opening_hours', 120), ('green_statement', 1000), ('phone', 20)):
        op.add_column('merchant', sa.Column(name, sa.String(length=size), nullable=False, server_default=''))
    op.add_column('merchant', sa.Column('credit_code', sa.String(length=18), nullable=True))
    op.create_index('ix_merchant_credit_code', 'merchant', ['credit_code'], unique=True)



def downgrade():
    op.drop_index('ix_merchant_credit_code', table_name='merchant')
    with op.batch_alter_table('merchant', schema=None) as batch_op:
        for name in ('credit_code', 'phone', 'green_statement', 'opening_hours', 'address'):
            batch_op.drop_column(name)

    with op.batch_alter_table('merchant_application', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_merchant_application_credit_code'))
        batch_op.drop_index(batch_op.f('ix_merchant_application_applicant_id'))

    op.drop_table('merchant_application')

"""coalition: merchants' own campaigns, logos, staff invited by member code

Revision ID: 0023_campaigns_logos_invitations
Revises: 0022_merchant_roles

A merchant's campaign (double points or a bonus on purchases at its tills) within the limits the
published rule set gives (``merchant_campaigns``; a rule set without them gets the engine's defaults);
a logo on the application and on the merchant it becomes; an owner's invitation of a member, by member
code, to the staff in a role.

Create Date: 2026-12-03 11:05:54.241766

"""
from alembic import op
import sqlalchemy as sa

import mall.models


# revision identifiers, used by Alembic.
revision = '0023_campaigns_logos_invitations'
down_revision = '0022_merchant_roles'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('merchant_campaign',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('name_zh', sa.String(length=60), nullable=False),
    sa.Column('name_en', sa.String(length=60), nullable=False),
    sa.Column('multiplier', sa.String(length=8), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('categories', sa.JSON(), nullable=False),
    sa.Column('starts_at', mall.models.UTCDateTime(), nullable=False),
    sa.Column('ends_at', mall.models.UTCDateTime(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', mall.models.UTCDateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('multiplier', 'bonus')", name=op.f('ck_merchant_campaign_kind')),
    sa.CheckConstraint("status IN ('scheduled', 'ended', 'withdrawn', 'suspended')", name=op.f('ck_merchant_campaign_status')),
    sa.CheckConstraint('ends_at >= starts_at', name=op.f('ck_merchant_campaign_window')),
    sa.CheckConstraint('points >= 0', name=op.f('ck_merchant_campaign_points_not_negative')),
    sa.ForeignKeyConstraint(['created_by'], ['user.id'], name=op.f('fk_merchant_campaign_created_by_user')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchant.id'], name=op.f('fk_merchant_campaign_merchant_id_merchant')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_merchant_campaign'))
    )
    with op.batch_alter_table('merchant_campaign', schema=None) as batch_op:
        batch_op.create_index('ix_merchant_campaign_merchant_window', ['merchant_id', 'ends_at'], unique=False)
        batch_op.create_index('ix_merchant_campaign_window', ['ends_at', 'starts_at'], unique=False)

    op.create_table('staff_invitation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=12), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('invited_by', sa.Integer(), nullable=True),
    sa.Column('created_at', mall.models.UTCDateTime(), nullable=False),
    sa.Column('decided_at', mall.models.UTCDateTime(), nullable=True),
    sa.CheckConstraint("role IN ('owner', 'manager', 'cashier')", name=op.f('ck_staff_invitation_role')),
    sa.CheckConstraint("status IN ('pending', 'accepted', 'declined', 'withdrawn', 'ended')", name=op.f('ck_staff_invitation_status')),
    sa.ForeignKeyConstraint(['invited_by'], ['user.id'], name=op.f('fk_staff_invitation_invited_by_user')),
    sa.ForeignKeyConstraint(['member_id'], ['user.id'], name=op.f('fk_staff_invitation_member_id_user'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchant.id'], name=op.f('fk_staff_invitation_merchant_id_merchant')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_invitation'))
    )
    with op.batch_alter_table('staff_invitation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_invitation_member_id'), ['member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_staff_invitation_merchant_id'), ['merchant_id'], unique=False)

    with op.batch_alter_table('merchant', schema=None) as batch_op:
        batch_op.add_column(sa.Column('logo', sa.String(length=80), nullable=True))

    with op.batch_alter_table('merchant_application', schema=None) as batch_op:
        batch_op.add_column(sa.Column('logo', sa.String(length=80), nullable=True))



def downgrade():
    with op.batch_alter_table('merchant_application', schema=None) as batch_op:
        batch_op.drop_column('logo')

    with op.batch_alter_table('merchant', schema=None) as batch_op:
        batch_op.drop_column('logo')

    with op.batch_alter_table('staff_invitation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_invitation_merchant_id'))
        batch_op.drop_index(batch_op.f('ix_staff_invitation_member_id'))

    op.drop_table('staff_invitation')
    with op.batch_alter_table('merchant_campaign', schema=None) as batch_op:
        batch_op.drop_index('ix_merchant_campaign_window')
        batch_op.drop_index('ix_merchant_campaign_merchant_window')

    op.drop_table('merchant_campaign')

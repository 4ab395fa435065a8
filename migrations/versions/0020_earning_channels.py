"""rules: earning channels, members' linked accounts, channel events

Revision ID: 0020_earning_channels
Revises: 0019_merchant_applications

A partner outside the mall (a bank's green card programme, a transit operator, an EV charging
network) is a coalition merchant with a channel row: its kind, its points per ride or kWh and its rule
in words. Members link cards and accounts (a keyed hash of the number and a masked number); each
event a channel posts is kept with its reference (unique per channel) and the purchase it became.

Create Date: 2026-12-03 07:14:39.251719

"""
from alembic import op
import sqlalchemy as sa

import mall.models


# revision identifiers, used by Alembic.
revision = '0020_earning_channels'
down_revision = '0019_merchant_applications'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('earning_channel',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('name_zh', sa.String(length=120), nullable=False),
    sa.Column('name_en', sa.String(length=120), nullable=False),
    sa.Column('points_per_unit', sa.Integer(), nullable=False),
    sa.Column('rule_zh', sa.String(length=300), nullable=False),
    sa.Column('rule_en', sa.String(length=300), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', mall.models.UTCDateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('bank_card', 'transit', 'ev_charging')", name=op.f('ck_earning_channel_kind')),
    sa.CheckConstraint('points_per_unit >= 0 AND points_per_unit <= 1000', name=op.f('ck_earning_channel_per_unit')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchant.id'], name=op.f('fk_earning_channel_merchant_id_merchant')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_earning_channel')),
    sa.UniqueConstraint('merchant_id', name=op.f('uq_earning_channel_merchant_id'))
    )
    op.create_table('channel_link',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('masked', sa.String(length=24), nullable=False),
    sa.Column('created_at', mall.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['channel_id'], ['earning_channel.id'], name=op.f('fk_channel_link_channel_id_earning_channel')),
    sa.ForeignKeyConstraint(['member_id'], ['user.id'], name=op.f('fk_channel_link_member_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_link')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_channel_link_token_hash'))
    )
    with op.batch_alter_table('channel_link', schema=None) as batch_op:
        batch_op.create_index('ix_channel_link_member', ['member_id', 'channel_id'], unique=False)

    op.create_table('channel_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel_id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=64), nullable=False),
    sa.Column('purchase_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('created_at', mall.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['channel_id'], ['earning_channel.id'], name=op.f('fk_channel_event_channel_id_earning_channel')),
    sa.ForeignKeyConstraint(['purchase_id'], ['purchase.id'], name=op.f('fk_channel_event_purchase_id_purchase')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_event')),
    sa.UniqueConstraint('channel_id', 'reference', name='uq_channel_event_reference'),
    sa.UniqueConstraint('purchase_id', name=op.f('uq_channel_event_purchase_id'))
    )


def downgrade():
    op.drop_table('channel_event')
    with op.batch_alter_table('channel_link', schema=None) as batch_op:
        batch_op.drop_index('ix_channel_link_member')

    op.drop_table('channel_link')
    op.drop_table('earning_channel')

"""messages: outbox, deliveries, preferences, webhook endpoints; a gift's note

Revision ID: 0018_messages
Revises: 0017_listing_search_vector

The transactional outbox (one row per message and channel, unique by its cause), each delivery
attempt, members' choices per topic and channel, their quiet hours and confirmed address, merchants'
webhook endpoints; and the note a member may add to a gift of points.
"""
from alembic import op
import sqlalchemy as sa

import mall.models


# revision identifiers, used by Alembic.
revision = '0018_messages'
down_revision = '0017_listing_search_vector'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('message_preference',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('topic', sa.String(length=40), nullable=False),
    sa.Column('channel', sa.String(length=12), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('updated_at', mall.models.UTCDateTime(), nullable=False),
    sa.CheckConstraint("channel IN ('inapp', 'email', 'sms')", name=op.f('ck_message_preference_channel')),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_message_preference_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message_preference')),
    sa.UniqueConstraint('user_id', 'topic', 'channel', name='uq_message_preference_choice')
    )
    with op.batch_alter_table('message_preference', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_preference_user_id'), ['user_id'], unique=False)

    op.create_table('message_profile',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('quiet_hours', sa.Boolean(), nullable=False),
    sa.Column('quiet_start', sa.Integer(), nullable=False),
    sa.Column('quiet_end', sa.Integer(), nullable=False),
    sa.Column('verified_email', sa.String(length=254), nullable=True),
    sa.Column('verified_at', mall.models.UTCDateTime(), nullable=True),
    sa.Column('updated_at', mall.models.UTCDateTime(), nullable=False),
    sa.CheckConstraint('quiet_start BETWEEN 0 AND 23 AND quiet_end BETWEEN 0 AND 23', name=op.f('ck_message_profile_hours')),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_message_profile_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_message_profile'))
    )
    op.create_table('webhook_endpoint',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('secret', sa.String(length=80), nullable=False),
    sa.Column('events', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', mall.models.UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['user.id'], name=op.f('fk_webhook_endpoint_created_by_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchant.id'], name=op.f('fk_webhook_endpoint_merchant_id_merchant')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_endpoint'))
    )
    with op.batch_alter_table('webhook_endpoint', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_endpoint_merchant_id'), ['merchant_id'], unique=False)

    op.create_table('outbox_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=160), nullable=False),
    sa.Column('topic', sa.String(length=40), nullable=False),
    sa.Column('channel', sa.String(length=12), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('merchant_id', sa.Integer(), nullable=True),
    sa.Column('endpoint_id', sa.Integer(), nullable=True),
    sa.Column('address', sa.String(length=500), nullable=False),
    sa.Column('locale', sa.String(length=16), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', mall.models.UTCDateTime(), nullable=False),
    sa.Column('lease_until', mall.models.UTCDateTime(), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=False),
    sa.Column('provider_ref', sa.String(length=120), nullable=False),
    sa.Column('created_at', mall.models.UTCDateTime(), nullable=False),
    sa.Column('sent_at', mall.models.UTCDateTime(), nullable=True),
    sa.CheckConstraint("channel IN ('email', 'sms', 'webhook')", name=op.f('ck_outbox_message_channel')),
    sa.CheckConstraint("status IN ('pending', 'sending', 'sent', 'dead', 'discarded', 'skipped')", name=op.f('ck_outbox_message_status')),
    sa.ForeignKeyConstraint(['endpoint_id'], ['webhook_endpoint.id'], name=op.f('fk_outbox_message_endpoint_id_webhook_endpoint'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchant.id'], name=op.f('fk_outbox_message_merchant_id_merchant')),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_outbox_message_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_message')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_outbox_message_dedupe_key'))
    )
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_message_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_outbox_message_merchant', ['merchant_id', 'id'], unique=False)
        batch_op.create_index('ix_outbox_message_user', ['user_id', 'id'], unique=False)

    op.create_table('delivery_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('attempted_at', mall.models.UTCDateTime(), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('error', sa.String(length=500), nullable=False),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['outbox_message.id'], name=op.f('fk_delivery_attempt_message_id_outbox_message'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_attempt'))
    )
    with op.batch_alter_table('delivery_attempt', schema=None) as batch_op:
        batch_op.create_index('ix_delivery_attempt_message', ['message_id', 'id'], unique=False)

    op.add_column('family_gift', sa.Column('note', sa.String(length=140), nullable=False, server_default=''))



def downgrade():
    with op.batch_alter_table('family_gift', schema=None) as batch_op:
        batch_op.drop_column('note')

    with op.batch_alter_table('delivery_attempt', schema=None) as batch_op:
        batch_op.drop_index('ix_delivery_attempt_message')

    op.drop_table('delivery_attempt')
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_message_user')
        batch_op.drop_index('ix_outbox_message_merchant')
        batch_op.drop_index('ix_outbox_message_due')

    op.drop_table('outbox_message')
    with op.batch_alter_table('webhook_endpoint', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_endpoint_merchant_id'))

    op.drop_table('webhook_endpoint')
    op.drop_table('message_profile')
    with op.batch_alter_table('message_preference', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_preference_user_id'))

    op.drop_table('message_preference')

"""green impact (CO2e per green line, published factors, certificate links), tasks, check-in,
survey, reviews, badge-set rewards, games, plays, free plays and coupons

Seeds the default CO2e factors (with sources) and tasks. Purchases and orders made before this
revision get their CO2e from `flask impact backfill` (idempotent), not from this migration.

Revision ID: 0009_impact_games
Revises: 0008_audit_profile
"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009_impact_games'
down_revision = '0008_audit_profile'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('engage_game',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('name_zh', sa.String(length=60), nullable=False),
    sa.Column('name_en', sa.String(length=60), nullable=False),
    sa.Column('cost_points', sa.BigInteger(), nullable=False),
    sa.Column('daily_limit', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('wheel', 'scratch')", name=op.f('ck_engage_game_kind')),
    sa.CheckConstraint("status IN ('open', 'paused')", name=op.f('ck_engage_game_status')),
    sa.CheckConstraint('cost_points >= 0 AND daily_limit > 0', name=op.f('ck_engage_game_terms')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_engage_game')),
    sa.UniqueConstraint('slug', name=op.f('uq_engage_game_slug'))
    )
    op.create_table('engage_task',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('free_plays', sa.Integer(), nullable=False),
    sa.Column('member_limit', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('member_limit IS NULL OR member_limit > 0', name=op.f('ck_engage_task_member_limit')),
    sa.CheckConstraint('points >= 0 AND free_plays >= 0', name=op.f('ck_engage_task_rewards')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_engage_task')),
    sa.UniqueConstraint('code', name=op.f('uq_engage_task_code'))
    )
    op.create_table('engage_prize',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('game_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('weight', sa.Integer(), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('coupon_value_fen', sa.BigInteger(), nullable=False),
    sa.Column('coupon_min_fen', sa.BigInteger(), nullable=False),
    sa.Column('label_zh', sa.String(length=60), nullable=False),
    sa.Column('label_en', sa.String(length=60), nullable=False),
    sa.CheckConstraint("kind IN ('points', 'coupon', 'none')", name=op.f('ck_engage_prize_kind')),
    sa.CheckConstraint('weight > 0 AND points >= 0 AND coupon_value_fen >= 0', name=op.f('ck_engage_prize_amounts')),
    sa.ForeignKeyConstraint(['game_id'], ['engage_game.id'], name=op.f('fk_engage_prize_game_id_engage_game')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_engage_prize')),
    sa.UniqueConstraint('game_id', 'position', name='uq_engage_prize_position')
    )
    op.create_table('engage_badge_reward',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('set_code', sa.String(length=32), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('transfer_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['user.id'], name=op.f('fk_engage_badge_reward_member_id_user')),
    sa.ForeignKeyConstraint(['transfer_id'], ['ledger_transfer.id'], name=op.f('fk_engage_badge_reward_transfer_id_ledger_transfer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_engage_badge_reward')),
    sa.UniqueConstraint('member_id', 'set_code', name='uq_engage_badge_reward_set')
    )
    op.create_table('engage_checkin',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('streak', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['user.id'], name=op.f('fk_engage_checkin_member_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_engage_checkin')),
    sa.UniqueConstraint('member_id', 'day', name='uq_engage_checkin_day')
    )
    op.create_table('engage_completion',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('period_key', sa.String(length=40), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('free_plays', sa.Integer(), nullable=False),
    sa.Column('transfer_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['user.id'], name=op.f('fk_engage_completion_member_id_user')),
    sa.ForeignKeyConstraint(['task_id'], ['engage_task.id'], name=op.f('fk_engage_completion_task_id_engage_task')),
    sa.ForeignKeyConstraint(['transfer_id'], ['ledger_transfer.id'], name=op.f('fk_engage_completion_transfer_id_ledger_transfer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_engage_completion')),
    sa.UniqueConstraint('task_id', 'member_id', 'period_key', name='uq_engage_completion_period')
    )
    with op.batch_alter_table('engage_completion', schema=None) as batch_op:
        batch_op.create_index('ix_engage_completion_member', ['member_id', 'id'], unique=False)

    op.create_table('engage_play',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('game_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('paid_points', sa.BigInteger(), nullable=False),
    sa.Column('free', sa.Boolean(), nullable=False),
    sa.Column('prize_id', sa.Integer(), nullable=False),
    sa.Column('prize_kind', sa.String(length=8), nullable=False),
    sa.Column('prize_points', sa.BigInteger(), nullable=False),
    sa.Column('draw', sa.Integer(), nullable=False),
    sa.Column('total_weight', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('seq > 0', name=op.f('ck_engage_play_seq')),
    sa.ForeignKeyConstraint(['game_id'], ['engage_game.id'], name=op.f('fk_engage_play_game_id_engage_game')),
    sa.ForeignKeyConstraint(['member_id'], ['user.id'], name=op.f('fk_engage_play_member_id_user')),
    sa.ForeignKeyConstraint(['prize_id'], ['engage_prize.id'], name=op.f('fk_engage_play_prize_id_engage_prize')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_engage_play')),
    sa.UniqueConstraint('game_id', 'member_id', 'day', 'seq', name='uq_engage_play_daily_seq'),
    sa.UniqueConstraint('member_id', 'token', name='uq_engage_play_token')
    )
    with op.batch_alter_table('engage_play', schema=None) as batch_op:
        batch_op.create_index('ix_engage_play_game', ['game_id', 'id'], unique=False)

    op.create_table('engage_survey_answer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('survey', sa.String(length=20), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('comment', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('score >= 0 AND score <= 10', name=op.f('ck_engage_survey_answer_score')),
    sa.ForeignKeyConstraint(['member_id'], ['user.id'], name=op.f('fk_engage_survey_answer_member_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_engage_survey_answer')),
    sa.UniqueConstraint('member_id', 'survey', name='uq_engage_survey_member')
    )
    op.create_table('impact_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=12), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=40), nullable=False),
    sa.Column('grams', sa.BigInteger(), nullable=False),
    sa.Column('net_grams', sa.BigInteger(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("source IN ('purchase', 'order')", name=op.f('ck_impact_entry_source')),
    sa.CheckConstraint('net_grams >= 0 AND net_grams <= grams', name=op.f('ck_impact_entry_net_in_range')),
    sa.ForeignKeyConstraint(['member_id'], ['user.id'], name=op.f('fk_impact_entry_member_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_impact_entry')),
    sa.UniqueConstraint('source', 'source_id', 'line', name='uq_impact_entry_line')
    )
    with op.batch_alter_table('impact_entry', schema=None) as batch_op:
        batch_op.create_index('ix_impact_entry_member_month', ['member_id', 'month'], unique=False)
        batch_op.create_index('ix_impact_entry_month', ['month'], unique=False)

    op.create_table('impact_factor',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('grams', sa.BigInteger(), nullable=False),
    sa.Column('source', sa.String(length=300), nullable=False),
    sa.Column('updated_by', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('grams >= 0', name=op.f('ck_impact_factor_grams_not_negative')),
    sa.ForeignKeyConstraint(['updated_by'], ['user.id'], name=op.f('fk_impact_factor_updated_by_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_impact_factor')),
    sa.UniqueConstraint('key', name=op.f('uq_impact_factor_key'))
    )
    op.create_table('impact_share',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=48), nullable=False),
    sa.Column('show_name', sa.Boolean(), nullable=False),
    sa.Column('show_categories', sa.Boolean(), nullable=False),
    sa.Column('show_chart', sa.Boolean(), nullable=False),
    sa.Column('show_trees', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['member_id'], ['user.id'], name=op.f('fk_impact_share_member_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_impact_share')),
    sa.UniqueConstraint('token', name=op.f('uq_impact_share_token'))
    )
    with op.batch_alter_table('impact_share', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_impact_share_member_id'), ['member_id'], unique=False)

    op.create_table('engage_coupon',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('play_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('value_fen', sa.BigInteger(), nullable=False),
    sa.Column('min_spend_fen', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('valid_until', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.Column('used_merchant_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("status IN ('active', 'used', 'expired')", name=op.f('ck_engage_coupon_status')),
    sa.ForeignKeyConstraint(['member_id'], ['user.id'], name=op.f('fk_engage_coupon_member_id_user')),
    sa.ForeignKeyConstraint(['used_merchant_id'], ['merchant.id'], name=op.f('fk_engage_coupon_used_merchant_id_merchant')),
    sa.ForeignKeyConstraint(['play_id'], ['engage_play.id'], name=op.f('fk_engage_coupon_play_id_engage_play')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_engage_coupon')),
    sa.UniqueConstraint('code', name=op.f('uq_engage_coupon_code')),
    sa.UniqueConstraint('play_id', name=op.f('uq_engage_coupon_play_id'))
    )
    with op.batch_alter_table('engage_coupon', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_engage_coupon_member_id'), ['member_id'], unique=False)

    op.create_table('engage_free_play',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('completion_id', sa.Integer(), nullable=True),
    sa.Column('play_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['completion_id'], ['engage_completion.id'], name=op.f('fk_engage_free_play_completion_id_engage_completion')),
    sa.ForeignKeyConstraint(['member_id'], ['user.id'], name=op.f('fk_engage_free_play_member_id_user')),
    sa.ForeignKeyConstraint(['play_id'], ['engage_play.id'], name=op.f('fk_engage_free_play_play_id_engage_play')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_engage_free_play')),
    sa.UniqueConstraint('play_id', name=op.f('uq_engage_free_play_play_id'))
    )
    with op.batch_alter_table('engage_free_play', schema=None) as batch_op:
        batch_op.create_index('ix_engage_free_play_member', ['member_id', 'play_id'], unique=False)

    op.create_table('engage_review',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('rating', sa.Integer(), nullable=False),
    sa.Column('body', sa.String(length=1000), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('moderated_by', sa.Integer(), nullable=True),
    sa.Column('moderated_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'approved', 'rejected')", name=op.f('ck_engage_review_status')),
    sa.CheckConstraint('rating >= 1 AND rating <= 5', name=op.f('ck_engage_review_rating')),
    sa.ForeignKeyConstraint(['member_id'], ['user.id'], name=op.f('fk_engage_review_member_id_user')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchant.id'], name=op.f('fk_engage_review_merchant_id_merchant')),
    sa.ForeignKeyConstraint(['moderated_by'], ['user.id'], name=op.f('fk_engage_review_moderated_by_user')),
    sa.ForeignKeyConstraint(['order_id'], ['order.id'], name=op.f('fk_engage_review_order_id_order')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_engage_review')),
    sa.UniqueConstraint('order_id', name=op.f('uq_engage_review_order_id'))
    )
    with op.batch_alter_table('engage_review', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_engage_review_member_id'), ['member_id'], unique=False)
        batch_op.create_index('ix_engage_review_status', ['status', 'id'], unique=False)

    now = datetime.now(timezone.utc).replace(tzinfo=None)
    factor = sa.table('impact_factor', sa.column('key', sa.String), sa.column('grams', sa.BigInteger),
                      sa.column('source', sa.String), sa.column('updated_at', sa.DateTime))
    op.bulk_insert(factor, [{'key': key, 'grams': grams, 'source': source, 'updated_at': now}
                            for key, (grams, source) in FACTORS.items()])
    task = sa.table('engage_task', sa.column('code', sa.String), sa.column('points', sa.BigInteger),
                    sa.column('free_plays', sa.Integer), sa.column('member_limit', sa.Integer),
                    sa.column('active', sa.Boolean), sa.column('updated_at', sa.DateTime))
    op.bulk_insert(task, [{'code': code, 'points': points, 'free_plays': plays, 'member_limit': limit,
                           'active': True, 'updated_at': now} for code, (points, plays, limit) in TASKS.items()])


# A copy, as of this revision, of mall.impact.service.DEFAULT_FACTORS and mall.engage.service.DEFAULT_TASKS.
FACTORS = {
    "public_transport": (150, "Bus/metro fare vs. the same trip by private car: China urban passenger-km "
                              "factors (MEE 2022 guidance), about ¥2 per 8 km trip"),
    "appliances": (400, "Tier-1 vs. tier-3 energy label, 10-year use, China grid 0.57 kg/kWh (MEE 2023)"),
    "second_hand": (300, "Avoided manufacture of a new item, WRAP (UK) 2022 re-use factors"),
    "refills": (250, "Avoided single-use packaging per yuan of refill, Ellen MacArthur Foundation 2019"),
    "ev_charging": (200, "EV vs. petrol car per yuan of charging, China grid 0.57 kg/kWh (MEE 2023)"),
    "other": (100, "Conservative default for other green-labelled items (programme estimate)"),
    "tree": (18000, "A mature tree absorbs about 18 kg CO2 a year (Chinese Academy of Forestry, urban trees)"),
}
TASKS = {"profile": (50, 1, 1), "first_green_purchase": (100, 1, 1), "survey": (30, 0, 1),
         "checkin": (5, 0, None), "review": (20, 0, 20)}


def downgrade():
    with op.batch_alter_table('engage_review', schema=None) as batch_op:
        batch_op.drop_index('ix_engage_review_status')
        batch_op.drop_index(batch_op.f('ix_engage_review_member_id'))

    op.drop_table('engage_review')
    with op.batch_alter_table('engage_free_play', schema=None) as batch_op:
        batch_op.drop_index('ix_engage_free_play_member')

    op.drop_table('engage_free_play')
    with op.batch_alter_table('engage_coupon', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_engage_coupon_member_id'))

    op.drop_table('engage_coupon')
    with op.batch_alter_table('impact_share', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_impact_share_member_id'))

    op.drop_table('impact_share')
    op.drop_table('impact_factor')
    with op.batch_alter_table('impact_entry', schema=None) as batch_op:
        batch_op.drop_index('ix_impact_entry_month')
        batch_op.drop_index('ix_impact_entry_member_month')

    op.drop_table('impact_entry')
    op.drop_table('engage_survey_answer')
    with op.batch_alter_table('engage_play', schema=None) as batch_op:
        batch_op.drop_index('ix_engage_play_game')

    op.drop_table('engage_play')
    with op.batch_alter_table('engage_completion', schema=None) as batch_op:
        batch_op.drop_index('ix_engage_completion_member')

    op.drop_table('engage_completion')
    op.drop_table('engage_checkin')
    op.drop_table('engage_badge_reward')
    op.drop_table('engage_prize')
    op.drop_table('engage_task')
    op.drop_table('engage_game')

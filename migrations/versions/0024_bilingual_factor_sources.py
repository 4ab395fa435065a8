"""impact: the default factors' sources in both languages

Revision ID: 0024_bilingual_factor_sources
Revises: 0023_campaigns_logos_invitations

The CO2e factors 0009 published carry English sources, which a Chinese page showed as they were. Each
one still as 0009 wrote it becomes "中文 / English" (pages show the half in their language); a source
an operator has changed since is left as they wrote it.

Create Date: 2026-12-04 20:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0024_bilingual_factor_sources'
down_revision = '0023_campaigns_logos_invitations'
branch_labels = None
depends_on = None

# 0009's sources, and the same in both languages
OLD = {
    "public_transport": (150, "Bus/metro fare vs. the same trip by private car: China urban passenger-km "
                              "factors (MEE 2022 guidance), about ¥2 per 8 km trip"),
    "appliances": (400, "Tier-1 vs. tier-3 energy label, 10-year use, China grid 0.57 kg/kWh (MEE 2023)"),
    "second_hand": (300, "Avoided manufacture of a new item, WRAP (UK) 2022 re-use factors"),
    "refills": (250, "Avoided single-use packaging per yuan of refill, Ellen MacArthur Foundation 2019"),
    "ev_charging": (200, "EV vs. petrol car per yuan of charging, China grid 0.57 kg/kWh (MEE 2023)"),
    "other": (100, "Conservative default for other green-labelled items (programme estimate)"),
    "tree": (18000, "A mature tree absorbs about 18 kg CO2 a year (Chinese Academy of Forestry, urban trees)"),
}
NEW = {  # mall.impact.service.DEFAULT_FACTORS as of this revision: each source "中文 / English"
    'public_transport': '公交、地铁与私家车同程出行之差：生态环境部 2022 年城市客运人公里排放因子，单程约 8 公里、票价约 2 元 / Bus/metro fare vs. the same trip by private car: China urban passenger-km factors (MEE 2022 guidance), about ¥2 per 8 km trip',
    'appliances': '一级与三级能效标识之差，使用 10 年，全国电网 0.57 千克/千瓦时（生态环境部 2023） / Tier-1 vs. tier-3 energy label, 10-year use, China grid 0.57 kg/kWh (MEE 2023)',
    'second_hand': '少造一件新品：英国 WRAP 2022 年再利用排放因子 / Avoided manufacture of a new item, WRAP (UK) 2022 re-use factors',
    'refills': '每元散装补充装少用的一次性包装：艾伦·麦克阿瑟基金会 2019 / Avoided single-use packaging per yuan of refill, Ellen MacArthur Foundation 2019',
    'ev_charging': '每元充电的电动车与燃油车之差，全国电网 0.57 千克/千瓦时（生态环境部 2023） / EV vs. petrol car per yuan of charging, China grid 0.57 kg/kWh (MEE 2023)',
    'other': '其他绿色标识商品的保守默认值（积分计划估算） / Conservative default for other green-labelled items (programme estimate)',
    'tree': '一棵成年树每年约吸收 18 千克二氧化碳（中国林业科学研究院，城市树木） / A mature tree absorbs about 18 kg CO2 a year (Chinese Academy of Forestry, urban trees)',
}

factor = sa.table("impact_factor", sa.column("key", sa.String), sa.column("source", sa.String))


def upgrade():
    for key, (_grams, source) in OLD.items():
        op.execute(factor.update().where(factor.c.key == key, factor.c.source == source).values(source=NEW[key]))


def downgrade():
    for key, (_grams, source) in OLD.items():
        op.execute(factor.update().where(factor.c.key == key, factor.c.source == NEW[key]).values(source=source))

"""Demo tasks, games, a funded game budget and green history for `flask seed-demo` (safe to run again)."""
import secrets
from datetime import timedelta

from sqlalchemy import select

from mall.account import service as accounts
from mall.db import write
from mall.engage import service
from mall.engage.models import CheckIn, GamePlay
from mall.errors import DomainError
from mall.impact import service as impact
from mall.merchant import service as merchants
from mall.models import utcnow
from mall.rules import service as rules
from mall.rules.models import Purchase

BUDGET_POINTS = 200_000
# Monthly green habits over the past months (merchant slug, category, name, amount_fen), so charts have a shape.
HABITS = {
    "member@demo.test": [("lvlin-mart", "public_transport", "公交月卡充值", 8000),
                         ("lvlin-mart", "refills", "洗衣液补充装", 3900)],
    "li.na@demo.test": [("mianyu-home", "second_hand", "二手实木书架", 26000)],
    "wang.qiang@demo.test": [("lvlin-mart", "public_transport", "地铁充值", 10000)],
    "chen.jing@demo.test": [("lvlin-mart", "ev_charging", "充电桩充电", 12000),
                            ("lvlin-mart", "refills", "自带杯咖啡", 1500)],
}


def prepare(session) -> None:
    """Factors, tasks, games and the budget, before demo purchases (so their task rewards are paid)."""
    impact.ensure_default_factors(session)
    service.ensure_default_tasks(session)
    service.ensure_demo_games(session)
    operator = accounts.find_by_email(session, "operator@demo.test")
    service.fund_budget(session, operator, BUDGET_POINTS, "Demo programme: game and task budget", "demo-seed")


def seed_history(session) -> None:
    """Green purchases in each of the past months, check-ins and a few plays, once per member."""
    now = utcnow()
    for email, habits in HABITS.items():
        with write(session):
            user = accounts.find_by_email(session, email)
            if session.scalar(select(Purchase.id).where(Purchase.member_id == user.id,
                                                        Purchase.occurred_at < now - timedelta(days=40)).limit(1)):
                continue
            for months_ago in range(9, 1, -1):
                for n, (slug, category, name, amount) in enumerate(habits):
                    when = now - timedelta(days=30 * months_ago + 3 * n + len(email) % 5)
                    item = rules.engine.Item(category=category, amount_fen=amount * (10 + months_ago % 3) // 10,
                                             green=True, name=name)
                    try:
                        rules.award_purchase(session, merchants.get_by_slug(session, slug),
                                             rules.PurchaseInput(user.member_code, item.amount_fen, when, (item,)))
                    except DomainError:
                        continue  # before the first rule set took effect
    with write(session):
        member = accounts.find_by_email(session, "member@demo.test")
        if session.scalar(select(CheckIn.id).where(CheckIn.member_id == member.id).limit(1)) is None:
            for days_ago in (3, 2, 1):
                service.check_in(session, member, now=now - timedelta(days=days_ago))
    with write(session):
        if session.scalar(select(GamePlay.id).limit(1)) is None:
            for email in ("li.na@demo.test", "wang.qiang@demo.test"):
                user = accounts.find_by_email(session, email)
                for game in service.games(session):
                    service.play(session, user, game.id, token=secrets.token_hex(8), now=now - timedelta(days=1))

"""Demo tasks, games, a funded game budget and green history for `flask seed-demo` (safe to run again)."""
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from mall.account import service as accounts
from mall.clock import utcnow
from mall.db import write
from mall.engage import games, tasks
from mall.engage.budget import fund_budget
from mall.engage.games import PrizeDraft
from mall.engage.models import CheckIn, Game, GamePlay
from mall.errors import DomainError
from mall.impact import service as impact
from mall.coalition import service as merchants
from mall.rules import service as rules

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
DEMO_GAMES = [
    ("green-wheel", "wheel", "绿色转盘", "Green wheel", 20, 5, [
        PrizeDraft("none", 40, 0, 0, "谢谢参与", "No prize"),
        PrizeDraft("points", 25, 10, 0, "10 积分", "10 points"),
        PrizeDraft("points", 20, 20, 0, "20 积分", "20 points"),
        PrizeDraft("points", 9, 50, 0, "50 积分", "50 points"),
        PrizeDraft("coupon", 5, 0, 500, "5 元券", "¥5 coupon"),
        PrizeDraft("points", 1, 200, 0, "200 积分", "200 points"),
    ]),
    ("eco-scratch", "scratch", "环保刮刮卡", "Eco scratch card", 10, 3, [
        PrizeDraft("none", 50, 0, 0, "谢谢参与", "No prize"),
        PrizeDraft("points", 35, 10, 0, "10 积分", "10 points"),
        PrizeDraft("points", 14, 30, 0, "30 积分", "30 points"),
        PrizeDraft("points", 1, 100, 0, "100 积分", "100 points"),
    ]),
]


def ensure_demo_games(session: Session) -> list[Game]:
    """The two games a new installation offers (idempotent)."""
    have = {g.slug for g in games.games(session)}
    for slug, kind, name_zh, name_en, cost, limit, prizes in DEMO_GAMES:
        if slug in have:
            continue
        game = Game(slug=slug, kind=kind, name_zh=name_zh, name_en=name_en, cost_points=cost, daily_limit=limit)
        session.add(game)
        session.flush()
        games.add_prizes(session, game, prizes)
    return games.games(session)


def prepare(session: Session) -> None:
    """Factors, tasks, games and the budget, before demo purchases (so their task rewards are paid)."""
    impact.ensure_default_factors(session)
    tasks.ensure_default_tasks(session)
    ensure_demo_games(session)
    operator = accounts.find_by_email(session, "operator@demo.test")
    fund_budget(session, operator, BUDGET_POINTS, "Demo programme: game and task budget", "demo-seed")


def seed_history(session: Session) -> None:
    """Green purchases in each of the past months, check-ins and a few plays, once per member. Part of
    the seed-demo orchestrator: it commits in steps (each member's history, the check-ins, the plays)."""
    now = utcnow()
    for email, habits in HABITS.items():
        with write(session):
            user = accounts.find_by_email(session, email)
            if rules.count_purchases_of(session, user.id, before=now - timedelta(days=40)):
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
                tasks.check_in(session, member, now=now - timedelta(days=days_ago))
    with write(session):
        if session.scalar(select(GamePlay.id).limit(1)) is None:
            for email in ("li.na@demo.test", "wang.qiang@demo.test"):
                user = accounts.find_by_email(session, email)
                for game in games.games(session):
                    games.play(session, user, game.id, token=secrets.token_hex(8), now=now - timedelta(days=1))

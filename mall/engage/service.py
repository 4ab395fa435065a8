"""Tasks, check-in, survey, reviews, badges and games. Every reward and prize is paid from the
programme's game budget account under the ledger's locks; when the budget cannot cover a reward the
reward is refused, and a game whose largest prize it cannot cover is closed. Play costs are paid into
the game budget (published on the games page). Callers own the transaction; functions flush only.
"""
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mall.account.models import User
from mall.engage.models import (
    GAME_KINDS, PRIZE_KINDS, BadgeReward, CheckIn, Coupon, FreePlay, Game, GamePlay, GamePrize, Review, SurveyAnswer,
    Task, TaskCompletion,
)
from mall.db import unique_code
from mall.errors import Conflict, DomainError, NotFound
from mall.ledger import service as ledger
from mall.ledger.models import Account
from mall.models import utcnow
from mall.web import SHANGHAI

BUDGET = "game_budget"
MAX_POINTS = 10**7
SURVEY = "satisfaction-2026"
COUPON_DAYS = 30
_rng = secrets.SystemRandom()  # outcomes come from the operating system's CSPRNG

# How each task's completions are counted: once ever, once a day, once per order.
PERIODS = {"profile": "once", "first_green_purchase": "once", "survey": "once", "checkin": "day",
           "review": "order"}
# Ledger memos (bilingual, as merchants' names are) for the member's statement.
MEMOS = {"profile": "完善资料 / Profile completed", "first_green_purchase": "首次绿色消费 / First green purchase",
         "survey": "满意度调查 / Satisfaction survey", "checkin": "每日签到 / Daily check-in",
         "review": "商品评价 / Review approved", "green_starter": "绿色新手徽章套装 / Green starter badge set",
         "community": "社区建设者徽章套装 / Community builder badge set"}
# Defaults a new installation starts with; operators change points, free plays, limit and activity.
DEFAULT_TASKS = {"profile": (50, 1, 1), "first_green_purchase": (100, 1, 1), "survey": (30, 0, 1),
                 "checkin": (5, 0, None), "review": (20, 0, 20)}


class BudgetExhausted(Conflict):
    code = "budget-exhausted"


class NotEnoughPoints(Conflict):
    code = "insufficient-points"


def _require_member(user: User) -> None:
    if user is None or user.role != "member":
        raise DomainError(_l("Only members can take part."), code="not-a-member")


def _require_operator(user: User) -> None:
    if user is None or not user.is_operator:
        raise NotFound(_l("No such page."))


def local_day(now: datetime) -> date:
    return now.astimezone(SHANGHAI).date()


# ---------------------------------------------------------------- the game budget

def budget_account(session: Session):
    return ledger.system_account(session, BUDGET)


def budget_balance(session: Session) -> int:
    return budget_account(session).balance


def fund_budget(session: Session, operator: User, points, memo: str, key: str):
    """Move points from the programme's issuance account into the game budget, with a memo."""
    _require_operator(operator)
    if isinstance(points, bool) or not isinstance(points, int) or not 1 <= points <= 10**9:
        raise DomainError(_l("Enter a whole number of points from 1 to 1,000,000,000."), code="invalid-amount")
    memo = (memo or "").strip()
    if not 3 <= len(memo) <= 200:
        raise DomainError(_l("Say why the budget is funded (3 to 200 characters)."), code="invalid-memo")
    return ledger.transfer(session, ledger.system_account(session, "issuance"), budget_account(session), points,
                           "adjust", key=f"game-budget:{operator.id}:{key}", memo=memo, actor_id=operator.id,
                           ref=("game_budget", "fund"))


def budget_history(session: Session, limit: int = 20):
    from mall.ledger.models import Transfer

    account = budget_account(session)
    return session.scalars(select(Transfer).where(Transfer.credit_account_id == account.id,
                                                  Transfer.kind == "adjust")
                           .order_by(Transfer.id.desc()).limit(limit)).all()


def _pay(session: Session, budget: Account, wallet: Account, points: int, kind: str, key: str, memo: str,
         ref) -> int | None:
    """Pay a reward from the budget to the wallet; the caller has locked both (``ledger.lock_accounts``)
    and checked that the budget covers ``points``."""
    if not points:
        return None
    return ledger.transfer(session, budget, wallet, points, kind, key=key, memo=memo, ref=ref).transfer.id


# ---------------------------------------------------------------- tasks

def ensure_default_tasks(session: Session) -> None:
    have = set(session.scalars(select(Task.code)))
    for code, (points, plays, limit) in DEFAULT_TASKS.items():
        if code not in have:
            session.add(Task(code=code, points=points, free_plays=plays, member_limit=limit, active=True))
    session.flush()


def tasks(session: Session, active_only: bool = False) -> list[Task]:
    stmt = select(Task)
    if active_only:
        stmt = stmt.where(Task.active.is_(True))
    order = {code: i for i, code in enumerate(PERIODS)}
    return sorted(session.scalars(stmt), key=lambda t: order.get(t.code, 99))


def update_task(session: Session, operator: User, task_id: int, *, points, free_plays, member_limit,
                active: bool) -> Task:
    """An operator sets a task's reward, limit and whether it runs."""
    _require_operator(operator)
    task = session.get(Task, task_id)
    if task is None:
        raise NotFound(_l("No such task."))
    for value in (points, free_plays):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_POINTS:
            raise DomainError(_l("Rewards must be whole numbers from 0 to 10,000,000."), code="invalid-reward")
    if member_limit is not None and (isinstance(member_limit, bool) or not isinstance(member_limit, int)
                                     or not 1 <= member_limit <= 100000):
        raise DomainError(_l("The limit must be empty or a whole number from 1 to 100,000."), code="invalid-limit")
    if free_plays > 10:
        raise DomainError(_l("At most 10 free plays per completion."), code="invalid-reward")
    task.points, task.free_plays, task.member_limit, task.active = points, free_plays, member_limit, bool(active)
    task.updated_at = utcnow()
    session.flush()
    return task


def complete(session: Session, member: User, code: str, period_key: str, now: datetime | None = None) -> TaskCompletion:
    """Record a completion detected from a real event and pay its reward, within the task's limits.

    The ledger's locks are taken before anything is read, so concurrent attempts queue; the unique
    (task, member, period) row is the last line of defence. Refusals write nothing."""
    now = now or utcnow()
    _require_member(member)
    task = session.scalar(select(Task).where(Task.code == code))
    if task is None or not task.active:
        raise NotFound(_l("This task is not running."), code="task-inactive")
    budget, wallet = budget_account(session), ledger.member_account(session, member.id)
    locked = ledger.lock_accounts(session, [budget.id, wallet.id])
    if session.scalar(select(TaskCompletion.id).where(
            TaskCompletion.task_id == task.id, TaskCompletion.member_id == member.id,
            TaskCompletion.period_key == period_key)) is not None:
        raise Conflict(_l("You have already completed this task."), code="already-done")
    if task.member_limit is not None and session.scalar(select(func.count(TaskCompletion.id)).where(
            TaskCompletion.task_id == task.id, TaskCompletion.member_id == member.id)) >= task.member_limit:
        raise Conflict(_l("You have reached this task's limit."), code="limit-reached")
    if task.points and locked[budget.id].balance < task.points:
        raise BudgetExhausted(_l("The rewards budget is used up for now; please try again later."))
    done = TaskCompletion(task_id=task.id, member_id=member.id, period_key=period_key, points=task.points,
                          free_plays=task.free_plays, created_at=now)
    session.add(done)
    session.flush()
    done.transfer_id = _pay(session, locked[budget.id], locked[wallet.id], task.points, "award", f"task:{done.id}",
                            MEMOS.get(task.code, task.code),
                            ("task_completion", str(done.id)))
    for _ in range(task.free_plays):
        session.add(FreePlay(member_id=member.id, completion_id=done.id, created_at=now))
    session.flush()
    return done


def try_complete(session: Session, member: User, code: str, period_key: str) -> TaskCompletion | None:
    """``complete`` for event hooks: a refusal (done, limit, budget, inactive) leaves the event alone."""
    if member is None or member.role != "member":
        return None
    try:
        return complete(session, member, code, period_key)
    except DomainError:
        return None


def on_profile_updated(session: Session, user: User) -> None:
    from mall.account.service import profile_complete

    if profile_complete(user):
        try_complete(session, user, "profile", "once")


def on_purchase_awarded(session: Session, member: User, green_grams_or_lines: int) -> None:
    if green_grams_or_lines:
        try_complete(session, member, "first_green_purchase", "once")


def green_purchases(session: Session, member_id: int) -> int:
    from mall.rules.models import Purchase

    return int(session.scalar(select(func.count(Purchase.id)).where(
        Purchase.member_id == member_id, Purchase.green_fen > 0)) or 0)


def claim(session: Session, member: User, code: str) -> TaskCompletion:
    """Check a once-only task against the member's records (e.g. a profile completed before tasks
    existed) and reward it; nothing is taken on the member's word."""
    from mall.account.service import profile_complete

    if code == "profile":
        met = profile_complete(member)
    elif code == "first_green_purchase":
        met = green_purchases(session, member.id) > 0
    else:
        raise NotFound(_l("No such task."))
    if not met:
        raise DomainError(_l("Not done yet: the task's event has not happened."), code="not-met")
    return complete(session, member, code, "once")


def completions(session: Session, member: User) -> dict[int, int]:
    """Completions per task id for the member."""
    return dict(session.execute(select(TaskCompletion.task_id, func.count(TaskCompletion.id)).where(
        TaskCompletion.member_id == member.id).group_by(TaskCompletion.task_id)).all())


# ---------------------------------------------------------------- check-in, survey, reviews

def checkin_status(session: Session, member: User, now: datetime | None = None) -> tuple[int, bool]:
    """(the current run of daily check-ins, checked in today), from the member's last check-in: the
    run is still alive if that was today or yesterday."""
    today = local_day(now or utcnow())
    last = session.scalar(select(CheckIn).where(CheckIn.member_id == member.id).order_by(CheckIn.day.desc()).limit(1))
    if last is None or last.day < today - timedelta(days=1):
        return 0, False
    return last.streak, last.day == today


def check_in(session: Session, member: User, now: datetime | None = None) -> CheckIn:
    """Today's check-in (Asia/Shanghai), extending yesterday's streak; the task pays if it runs."""
    now = now or utcnow()
    _require_member(member)
    budget, wallet = budget_account(session), ledger.member_account(session, member.id)
    ledger.lock_accounts(session, [budget.id, wallet.id])
    today = local_day(now)
    if session.scalar(select(CheckIn.id).where(CheckIn.member_id == member.id, CheckIn.day == today)):
        raise Conflict(_l("You have already checked in today."), code="already-done")
    yesterday = session.scalar(select(CheckIn).where(CheckIn.member_id == member.id,
                                                     CheckIn.day == today - timedelta(days=1)))
    row = CheckIn(member_id=member.id, day=today, streak=(yesterday.streak + 1) if yesterday else 1, created_at=now)
    session.add(row)
    session.flush()
    try_complete(session, member, "checkin", today.isoformat())
    return row


def answer_survey(session: Session, member: User, score, comment: str) -> SurveyAnswer:
    _require_member(member)
    if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 10:
        raise DomainError(_l("Choose a score from 0 to 10."), code="invalid-score")
    ledger.lock_accounts(session, [budget_account(session).id, ledger.member_account(session, member.id).id])
    if session.scalar(select(SurveyAnswer.id).where(SurveyAnswer.member_id == member.id,
                                                    SurveyAnswer.survey == SURVEY)):
        raise Conflict(_l("You have already answered this survey. Thank you!"), code="already-done")
    answer = SurveyAnswer(member_id=member.id, survey=SURVEY, score=score, comment=(comment or "").strip()[:500])
    session.add(answer)
    session.flush()
    try_complete(session, member, "survey", "once")
    return answer


def survey_answered(session: Session, member: User) -> bool:
    return session.scalar(select(SurveyAnswer.id).where(SurveyAnswer.member_id == member.id,
                                                        SurveyAnswer.survey == SURVEY)) is not None


def reviewable_orders(session: Session, member: User, limit: int = 20):
    """The member's fulfilled orders not yet reviewed, newest first."""
    from mall.checkout.models import Order

    reviewed = select(Review.order_id).where(Review.member_id == member.id)
    return session.scalars(select(Order).where(Order.member_id == member.id, Order.status == "fulfilled",
                                               Order.id.not_in(reviewed))
                           .order_by(Order.id.desc()).limit(limit)).all()


def submit_review(session: Session, member: User, order_id: int, rating, body: str) -> Review:
    """Review a fulfilled order (one review per order); it waits for moderation."""
    from mall.checkout.models import Order

    _require_member(member)
    order = session.get(Order, order_id)
    if order is None or order.member_id != member.id:
        raise NotFound(_l("No such order."))
    if order.status != "fulfilled":
        raise DomainError(_l("You can review an order once it has been fulfilled."), code="not-fulfilled")
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise DomainError(_l("Choose a rating from 1 to 5 stars."), code="invalid-rating")
    body = (body or "").strip()
    if not 5 <= len(body) <= 1000:
        raise DomainError(_l("Write 5 to 1,000 characters."), code="invalid-body")
    ledger.lock_accounts(session, [budget_account(session).id])
    if session.scalar(select(Review.id).where(Review.order_id == order.id)):
        raise Conflict(_l("This order has already been reviewed."), code="already-reviewed")
    review = Review(order_id=order.id, member_id=member.id, merchant_id=order.merchant_id, rating=rating, body=body)
    session.add(review)
    session.flush()
    return review


def listing_reviews(session: Session, listing_id: int, limit: int = 10) -> list[Review]:
    """Approved reviews of orders that contained the listing, newest first (shown without names)."""
    from mall.checkout.models import OrderLine

    return session.scalars(select(Review).where(Review.status == "approved", Review.order_id.in_(
        select(OrderLine.order_id).where(OrderLine.listing_id == listing_id))).order_by(Review.id.desc())
        .limit(limit)).all()


def member_reviews(session: Session, member: User, limit: int = 20) -> list[Review]:
    return session.scalars(select(Review).where(Review.member_id == member.id)
                           .order_by(Review.id.desc()).limit(limit)).all()


def pending_reviews(session: Session, limit: int = 50) -> list[Review]:
    return session.scalars(select(Review).where(Review.status == "pending").order_by(Review.id).limit(limit)).all()


def moderate_review(session: Session, operator: User, review_id: int, approve: bool) -> Review:
    """Approve (the review task then pays, once per order) or reject a pending review."""
    _require_operator(operator)
    ledger.lock_accounts(session, [budget_account(session).id])
    review = session.get(Review, review_id)
    if review is None:
        raise NotFound(_l("No such review."))
    if review.status != "pending":
        raise Conflict(_l("This review has already been moderated."), code="moderated")
    review.status = "approved" if approve else "rejected"
    review.moderated_by, review.moderated_at = operator.id, utcnow()
    session.flush()
    if approve:
        try_complete(session, session.get(User, review.member_id), "review", f"order:{review.order_id}")
    return review


# ---------------------------------------------------------------- badges

@dataclass(frozen=True)
class Badge:
    code: str
    target: int
    progress: int

    @property
    def earned(self) -> bool:
        return self.progress >= self.target

    @property
    def percent(self) -> int:
        return min(100, self.progress * 100 // self.target)


BADGE_TARGETS = {"first_redemption": 1, "green_10": 10, "first_donation": 1, "family_founder": 1,
                 "streak_7": 7, "co2_100kg": 100}
BADGE_SETS = {"green_starter": (("first_redemption", "green_10", "first_donation"), 300),
              "community": (("family_founder", "streak_7", "co2_100kg"), 500)}


def badges(session: Session, member: User) -> list[Badge]:
    """Milestones with progress, all read from the member's own records."""
    from mall.charity.models import Donation
    from mall.checkout.models import Order
    from mall.family.models import Family
    from mall.impact import service as impact

    redeemed = session.scalar(select(func.count(Order.id)).where(Order.member_id == member.id,
                                                                Order.status != "cancelled"))
    donated = session.scalar(select(func.count(Donation.id)).where(Donation.donor_id == member.id))
    founded = session.scalar(select(func.count(Family.id)).where(Family.head_id == member.id))
    best_streak = session.scalar(select(func.max(CheckIn.streak)).where(CheckIn.member_id == member.id))
    progress = {"first_redemption": redeemed, "green_10": green_purchases(session, member.id),
                "first_donation": donated, "family_founder": founded, "streak_7": best_streak,
                "co2_100kg": impact.member_total(session, member.id) // 1000}
    return [Badge(code, target, int(progress[code] or 0)) for code, target in BADGE_TARGETS.items()]


def claimed_sets(session: Session, member: User) -> set[str]:
    return set(session.scalars(select(BadgeReward.set_code).where(BadgeReward.member_id == member.id)))


def complete_sets(collection) -> set[str]:
    """The badge sets whose every badge is in ``collection`` (from ``badges()``) and earned."""
    earned = {b.code for b in collection if b.earned}
    return {code for code, (members, _points) in BADGE_SETS.items() if set(members) <= earned}


def claim_set(session: Session, member: User, set_code: str) -> BadgeReward:
    """Pay a collected set's published reward from the budget, once."""
    _require_member(member)
    if set_code not in BADGE_SETS:
        raise NotFound(_l("No such badge set."))
    points = BADGE_SETS[set_code][1]
    budget, wallet = budget_account(session), ledger.member_account(session, member.id)
    locked = ledger.lock_accounts(session, [budget.id, wallet.id])
    if set_code not in complete_sets(badges(session, member)):
        raise DomainError(_l("Collect every badge of the set first."), code="not-collected")
    if set_code in claimed_sets(session, member):
        raise Conflict(_l("You have already collected this reward."), code="already-done")
    if locked[budget.id].balance < points:
        raise BudgetExhausted(_l("The rewards budget is used up for now; please try again later."))
    reward = BadgeReward(member_id=member.id, set_code=set_code, points=points)
    session.add(reward)
    session.flush()
    reward.transfer_id = _pay(session, locked[budget.id], locked[wallet.id], points, "award", f"badge-set:{reward.id}",
                              MEMOS.get(set_code, set_code), ("badge_reward", str(reward.id)))
    session.flush()
    return reward


# ---------------------------------------------------------------- games

def games(session: Session) -> list[Game]:
    return session.scalars(select(Game).order_by(Game.id)).all()


def get_game(session: Session, game_id: int) -> Game:
    game = session.get(Game, game_id)
    if game is None:
        raise NotFound(_l("No such game."))
    return game


def odds(game: Game) -> list[tuple[GamePrize, Fraction]]:
    total = sum(p.weight for p in game.prizes)
    return [(p, Fraction(p.weight, total)) for p in game.prizes]


def expected_points(game: Game) -> Fraction:
    """The average points a play returns, less what it costs (negative: the game keeps points)."""
    return sum((chance * p.points for p, chance in odds(game)), Fraction(0)) - game.cost_points


def expected_coupon_fen(game: Game) -> Fraction:
    return sum((chance * p.coupon_value_fen for p, chance in odds(game) if p.kind == "coupon"), Fraction(0))


def max_prize(game: Game) -> int:
    return max((p.points for p in game.prizes), default=0)


def state(session: Session, game: Game, balance: int | None = None) -> str:
    """open, paused (by an operator) or closed (the budget cannot cover the largest prize)."""
    if game.status != "open":
        return "paused"
    balance = budget_balance(session) if balance is None else balance
    return "open" if balance >= max_prize(game) else "closed"


def draw(prizes: list[GamePrize], rng) -> tuple[GamePrize, int, int]:
    """Pick a prize with probability weight / total: one uniform integer in [0, total)."""
    total = sum(p.weight for p in prizes)
    number = rng.randrange(total)
    cumulative = 0
    for prize in prizes:
        cumulative += prize.weight
        if number < cumulative:
            return prize, number, total
    raise AssertionError("unreachable")


def plays_today(session: Session, member: User, game: Game, now: datetime | None = None) -> int:
    return int(session.scalar(select(func.count(GamePlay.id)).where(
        GamePlay.game_id == game.id, GamePlay.member_id == member.id,
        GamePlay.day == local_day(now or utcnow()))) or 0)


def free_plays(session: Session, member: User) -> int:
    return int(session.scalar(select(func.count(FreePlay.id)).where(
        FreePlay.member_id == member.id, FreePlay.play_id.is_(None))) or 0)


COUPON_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


@dataclass
class Played:
    play: GamePlay
    coupon: Coupon | None = None
    replayed: bool = False


def play(session: Session, member: User, game_id: int, *, token: str, free: bool = False,
         now: datetime | None = None, rng=None) -> Played:
    """One play: pay the cost (or use a free play), draw on the server, pay the prize from the budget.

    The same ``token`` again returns the first play. Refused, writing nothing, when the game is paused
    or closed, the daily limit is reached, or the member lacks points or a free play."""
    now = now or utcnow()
    _require_member(member)
    if not token or len(token) > 64:
        raise DomainError(_l("This form has expired. Please try again."), code="invalid-token")
    game = get_game(session, game_id)
    budget, wallet = budget_account(session), ledger.member_account(session, member.id)
    locked = ledger.lock_accounts(session, [budget.id, wallet.id])
    done = session.scalar(select(GamePlay).where(GamePlay.member_id == member.id, GamePlay.token == token))
    if done is not None:
        return Played(done, coupon_of(session, done), replayed=True)
    status = state(session, game, locked[budget.id].balance)
    if status == "paused":
        raise Conflict(_l("This game is paused."), code="game-paused")
    if status == "closed":
        raise BudgetExhausted(_l("This game is closed: its prize budget is used up."))
    count = plays_today(session, member, game, now)
    if count >= game.daily_limit:
        raise Conflict(_l("You have used today's %(num)s plays of this game. Come back tomorrow!",
                          num=game.daily_limit), code="daily-limit")
    ticket = None
    if free:
        ticket = session.scalar(select(FreePlay).where(FreePlay.member_id == member.id, FreePlay.play_id.is_(None))
                                .order_by(FreePlay.id).limit(1))
        if ticket is None:
            raise Conflict(_l("You have no free plays."), code="no-free-play")
    cost = 0 if ticket else game.cost_points
    if cost:
        have = ledger.spendable(session, locked[wallet.id], now)
        if have < cost:
            raise NotEnoughPoints(_l("Not enough points: a play costs %(num)s.", num=f"{cost:,}"))
    prize, number, total = draw(list(game.prizes), rng or _rng)
    row = GamePlay(game_id=game.id, member_id=member.id, day=local_day(now), seq=count + 1, token=token,
                   paid_points=cost, free=ticket is not None, prize_id=prize.id, prize_kind=prize.kind,
                   prize_points=prize.points if prize.kind == "points" else 0, draw=number, total_weight=total,
                   created_at=now)
    session.add(row)
    session.flush()
    if ticket is not None:
        ticket.play_id = row.id
    legs = []
    if cost:
        legs.append(ledger.Leg(locked[wallet.id], locked[budget.id], cost, "game", f"游戏 / game play #{row.id}"))
    if row.prize_points:
        legs.append(ledger.Leg(locked[budget.id], locked[wallet.id], row.prize_points, "game",
                               f"奖品 / prize, play #{row.id}"))
    if legs:
        ledger.post(session, key=f"game-play:{row.id}", legs=legs, actor_id=member.id,
                    ref=("game_play", str(row.id)), now=now)
    if locked[budget.id].balance < 0:  # cannot happen: the state check above covers the largest prize
        raise BudgetExhausted(_l("This game is closed: its prize budget is used up."))
    coupon = None
    if prize.kind == "coupon":
        coupon = Coupon(member_id=member.id, play_id=row.id,
                        code=unique_code(session, Coupon.code, COUPON_ALPHABET, 10, prefix="GC"),
                        value_fen=prize.coupon_value_fen, min_spend_fen=prize.coupon_min_fen,
                        valid_until=now + timedelta(days=COUPON_DAYS), created_at=now)
        session.add(coupon)
    session.flush()
    return Played(row, coupon)


def get_play_for(session: Session, member: User, play_id: int) -> GamePlay:
    row = session.get(GamePlay, play_id)
    if row is None or row.member_id != member.id:
        raise NotFound(_l("No such play."))
    return row


def member_plays(session: Session, member: User, limit: int = 20) -> list[GamePlay]:
    return session.scalars(select(GamePlay).where(GamePlay.member_id == member.id)
                           .order_by(GamePlay.id.desc()).limit(limit)).all()


def member_plays_of(session: Session, member: User, game_id: int) -> list[GamePlay]:
    """The member's plays of one game, among their latest plays (none for a visitor)."""
    if not member.is_authenticated:
        return []
    return [p for p in member_plays(session, member) if p.game_id == game_id]


def coupon_of(session: Session, play: GamePlay) -> Coupon | None:
    return session.scalar(select(Coupon).where(Coupon.play_id == play.id))


def played(session: Session, play: GamePlay) -> Played:
    """A recorded play with the coupon it won, if any."""
    return Played(play, coupon_of(session, play))


def coupons(session: Session, member: User) -> list[Coupon]:
    return session.scalars(select(Coupon).where(Coupon.member_id == member.id).order_by(Coupon.id.desc())).all()


def accept_coupon(session: Session, merchant, code: str, now: datetime | None = None) -> Coupon:
    """A participating merchant accepts a game coupon at the till: active, unexpired, only once."""
    from mall.db import lock

    now = now or utcnow()
    found = session.scalar(select(Coupon.id).where(Coupon.code == (code or "").strip().upper()[:16]))
    if found is None:
        raise NotFound(_l("No coupon has this code."))
    coupon = lock(session, Coupon, [found])[found]
    if coupon.status != "active":
        raise Conflict(_l("This coupon has already been used."), code="coupon-used")
    if coupon.valid_until <= now:
        raise Conflict(_l("This coupon has expired."), code="coupon-expired")
    coupon.status, coupon.used_at, coupon.used_merchant_id = "used", now, merchant.id
    session.flush()
    return coupon


def observed(session: Session, game: Game) -> tuple[dict[int, int], int]:
    """How often each prize has come up so far (published beside the odds)."""
    counts = dict(session.execute(select(GamePlay.prize_id, func.count(GamePlay.id)).where(
        GamePlay.game_id == game.id).group_by(GamePlay.prize_id)).all())
    return counts, sum(counts.values())


def recent_plays(session: Session, game: Game | None = None, limit: int = 50) -> list[GamePlay]:
    stmt = select(GamePlay)
    if game is not None:
        stmt = stmt.where(GamePlay.game_id == game.id)
    return session.scalars(stmt.order_by(GamePlay.id.desc()).limit(limit)).all()


@dataclass
class PrizeDraft:
    kind: str
    weight: int
    points: int
    coupon_value_fen: int
    label_zh: str
    label_en: str


@dataclass
class GameDraft:
    slug: str
    kind: str
    name_zh: str
    name_en: str
    cost_points: int
    daily_limit: int
    prizes: list


def _whole(value, low: int, high: int, message) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise DomainError(message, code="invalid-number")
    return value


def _check_game(draft: GameDraft) -> None:
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,38}", draft.slug or ""):
        raise DomainError(_l("The short name is 2 to 39 lowercase letters, digits or hyphens."), code="invalid-slug")
    if draft.kind not in GAME_KINDS:
        raise DomainError(_l("Choose a spin wheel or a scratch card."), code="invalid-kind")
    if not (draft.name_zh or "").strip() or not (draft.name_en or "").strip():
        raise DomainError(_l("Give the game's name in both languages."), code="invalid-name")
    _whole(draft.cost_points, 0, 10**6, _l("A play costs 0 to 1,000,000 points."))
    _whole(draft.daily_limit, 1, 100, _l("The daily limit is 1 to 100 plays."))
    if not 2 <= len(draft.prizes) <= 12:
        raise DomainError(_l("A game needs 2 to 12 outcomes."), code="invalid-prizes")
    for prize in draft.prizes:
        if prize.kind not in PRIZE_KINDS:
            raise DomainError(_l("Each outcome is points, a coupon or no prize."), code="invalid-prizes")
        _whole(prize.weight, 1, 10**6, _l("Each weight is a whole number from 1 to 1,000,000."))
        _whole(prize.points, 0 if prize.kind != "points" else 1, 10**6,
               _l("A points prize is 1 to 1,000,000 points."))
        _whole(prize.coupon_value_fen, 0 if prize.kind != "coupon" else 1, 10**7,
               _l("A coupon is worth ¥0.01 to ¥100,000."))
        if not (prize.label_zh or "").strip() or not (prize.label_en or "").strip():
            raise DomainError(_l("Name every outcome in both languages."), code="invalid-label")


def save_game(session: Session, operator: User, game_id: int | None, draft: GameDraft) -> Game:
    """Create a game (paused, so its odds can be checked before it opens) or change one that has
    never been played: the odds of a game that has been played are part of its record and stay."""
    _require_operator(operator)
    _check_game(draft)
    if game_id is None:
        if session.scalar(select(Game.id).where(Game.slug == draft.slug)) is not None:
            raise Conflict(_l("Another game has this short name."), code="duplicate-slug")
        game = Game(slug=draft.slug, status="paused")
        session.add(game)
    else:
        game = get_game(session, game_id)
        if session.scalar(select(GamePlay.id).where(GamePlay.game_id == game.id).limit(1)) is not None:
            raise Conflict(_l("This game has been played: its published odds stay. Create a new game instead."),
                           code="played")
        if game.status != "paused":
            raise Conflict(_l("Pause the game before changing it."), code="not-paused")
        for prize in list(game.prizes):
            session.delete(prize)
        session.flush()
    game.kind, game.name_zh, game.name_en = draft.kind, draft.name_zh.strip(), draft.name_en.strip()
    game.cost_points, game.daily_limit = draft.cost_points, draft.daily_limit
    session.flush()
    _add_prizes(session, game, draft.prizes)
    session.expire(game, ["prizes"])
    return game


def _add_prizes(session: Session, game: Game, prizes: list[PrizeDraft]) -> None:
    """The game's outcomes in order; a coupon is usable on a bill of at least four times its value."""
    for position, prize in enumerate(prizes):
        session.add(GamePrize(game_id=game.id, position=position, kind=prize.kind, weight=prize.weight,
                              points=prize.points if prize.kind == "points" else 0,
                              coupon_value_fen=prize.coupon_value_fen if prize.kind == "coupon" else 0,
                              coupon_min_fen=prize.coupon_value_fen * 4 if prize.kind == "coupon" else 0,
                              label_zh=prize.label_zh.strip(), label_en=prize.label_en.strip()))
    session.flush()


def set_game_status(session: Session, operator: User, game_id: int, status: str) -> Game:
    _require_operator(operator)
    if status not in ("open", "paused"):
        raise DomainError(_l("Choose open or paused."), code="invalid-status")
    game = get_game(session, game_id)
    game.status = status
    session.flush()
    return game


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
    have = {g.slug for g in games(session)}
    for slug, kind, name_zh, name_en, cost, limit, prizes in DEMO_GAMES:
        if slug in have:
            continue
        game = Game(slug=slug, kind=kind, name_zh=name_zh, name_en=name_en, cost_points=cost, daily_limit=limit)
        session.add(game)
        session.flush()
        _add_prizes(session, game, prizes)
    return games(session)


# ---------------------------------------------------------------- personal data

def forget(session: Session, member: User) -> None:
    """On account deletion: the member's own words go (review texts, survey comments) and unused
    coupons are void; plays, completions and rewards stay, nameless, because they are ledger history."""
    for review in session.scalars(select(Review).where(Review.member_id == member.id)):
        review.body = ""
        if review.status == "pending":
            review.status = "rejected"
    for answer in session.scalars(select(SurveyAnswer).where(SurveyAnswer.member_id == member.id)):
        answer.comment = ""
    for coupon in session.scalars(select(Coupon).where(Coupon.member_id == member.id, Coupon.status == "active")):
        coupon.status = "expired"
    session.flush()

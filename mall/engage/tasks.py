"""Tasks completed by real events, within their limits and the game budget, and the daily check-in.
Callers own the transaction; functions flush only.
"""
from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mall.account.models import User
from mall.account.service import profile_complete
from mall.clock import shanghai, utcnow
from mall.engage.budget import BudgetExhausted, budget_account, pay, require_member, require_operator
from mall.engage.models import CheckIn, FreePlay, Task, TaskCompletion
from mall.errors import Conflict, DomainError, NotFound
from mall.ledger import service as ledger
from mall.rules import service as rules
from mall.validation import is_whole

MAX_POINTS = 10**7
# How each task's completions are counted: once ever, once a day, once per order.
PERIODS = {"profile": "once", "first_green_purchase": "once", "survey": "once", "checkin": "day",
           "review": "order"}
# Ledger memos (bilingual, as merchants' names are) for the member's statement.
MEMOS = {"profile": "完善资料 / Profile completed", "first_green_purchase": "首次绿色消费 / First green purchase",
         "survey": "满意度调查 / Satisfaction survey", "checkin": "每日签到 / Daily check-in",
         "review": "商品评价 / Review approved"}
# Defaults a new installation starts with; operators change points, free plays, limit and activity.
DEFAULT_TASKS = {"profile": (50, 1, 1), "first_green_purchase": (100, 1, 1), "survey": (30, 0, 1),
                 "checkin": (5, 0, None), "review": (20, 0, 20)}


def local_day(now: datetime) -> date:
    """The Asia/Shanghai calendar day of an instant."""
    return shanghai(now).date()


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
    require_operator(operator)
    task = session.get(Task, task_id)
    if task is None:
        raise NotFound(_l("No such task."))
    for value in (points, free_plays):
        if not is_whole(value, 0, MAX_POINTS):
            raise DomainError(_l("Rewards must be whole numbers from 0 to 10,000,000."), code="invalid-reward")
    if member_limit is not None and (not is_whole(member_limit, 1, 100000)):
        raise DomainError(_l("The limit must be empty or a whole number from 1 to 100,000."), code="invalid-limit")
    if free_plays > 10:
        raise DomainError(_l("At most 10 free plays per completion."), code="invalid-reward")
    task.points, task.free_plays, task.member_limit, task.active = points, free_plays, member_limit, bool(active)
    task.updated_at = utcnow()
    session.flush()
    return task


def complete(session: Session, member: User, code: str, period_key: str, now: datetime | None = None) -> TaskCompletion:
    """Record a completion detected from a real event and pay its reward, within the task's limits.

    A completion already committed is refused on a plain read, before any lock: completions are never
    removed, and the budget account every reward is paid from must not become a row that every green
    purchase queues on. Otherwise the ledger's locks are taken before anything else is read, so
    concurrent attempts queue, and the check is made again under them; the unique (task, member,
    period) row is the last line of defence. Refusals write nothing."""
    now = now or utcnow()
    require_member(member)
    task = session.scalar(select(Task).where(Task.code == code))
    if task is None or not task.active:
        raise NotFound(_l("This task is not running."), code="task-inactive")
    _refuse_done(session, task, member, period_key)
    budget, wallet = budget_account(session), ledger.member_account(session, member.id)
    locked = ledger.lock_accounts(session, [budget.id, wallet.id])
    _refuse_done(session, task, member, period_key)
    if task.member_limit is not None and session.scalar(select(func.count(TaskCompletion.id)).where(
            TaskCompletion.task_id == task.id, TaskCompletion.member_id == member.id)) >= task.member_limit:
        raise Conflict(_l("You have reached this task's limit."), code="limit-reached")
    if task.points and locked[budget.id].balance < task.points:
        raise BudgetExhausted(_l("The rewards budget is used up for now; please try again later."))
    done = TaskCompletion(task_id=task.id, member_id=member.id, period_key=period_key, points=task.points,
                          free_plays=task.free_plays, created_at=now)
    session.add(done)
    session.flush()
    done.transfer_id = pay(session, locked[budget.id], locked[wallet.id], task.points, f"task:{done.id}",
                           MEMOS.get(task.code, task.code), ("task_completion", str(done.id)))
    for _ in range(task.free_plays):
        session.add(FreePlay(member_id=member.id, completion_id=done.id, created_at=now))
    session.flush()
    return done


def _refuse_done(session: Session, task: Task, member: User, period_key: str) -> None:
    if session.scalar(select(TaskCompletion.id).where(
            TaskCompletion.task_id == task.id, TaskCompletion.member_id == member.id,
            TaskCompletion.period_key == period_key)) is not None:
        raise Conflict(_l("You have already completed this task."), code="already-done")


def try_complete(session: Session, member: User, code: str, period_key: str) -> TaskCompletion | None:
    """``complete`` for event hooks: a refusal (done, limit, budget, inactive) leaves the event alone."""
    if member is None or member.role != "member":
        return None
    try:
        return complete(session, member, code, period_key)
    except DomainError:
        return None


def claim(session: Session, member: User, code: str) -> TaskCompletion:
    """Check a once-only task against the member's records (e.g. a profile completed before tasks
    existed) and reward it; nothing is taken on the member's word."""
    if code == "profile":
        met = profile_complete(member)
    elif code == "first_green_purchase":
        met = rules.count_purchases_of(session, member.id, green_only=True) > 0
    else:
        raise NotFound(_l("No such task."))
    if not met:
        raise DomainError(_l("Not done yet: the task's event has not happened."), code="not-met")
    return complete(session, member, code, "once")


def completions(session: Session, member: User) -> dict[int, int]:
    """Completions per task id for the member."""
    return dict(session.execute(select(TaskCompletion.task_id, func.count(TaskCompletion.id)).where(
        TaskCompletion.member_id == member.id).group_by(TaskCompletion.task_id)).all())


# ---------------------------------------------------------------- check-in

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
    require_member(member)
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


def best_streak(session: Session, member_id: int) -> int:
    """The member's longest run of daily check-ins."""
    return int(session.scalar(select(func.max(CheckIn.streak)).where(CheckIn.member_id == member_id)) or 0)

"""Badges: milestones read from the member's own records, and the published rewards of complete sets,
paid from the game budget. Callers own the transaction; functions flush only.
"""
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from mall.account.models import User
from mall.charity import service as charity
from mall.checkout import service as checkout
from mall.engage.budget import BudgetExhausted, budget_account, pay, require_member
from mall.engage.models import BadgeReward
from mall.engage.tasks import best_streak
from mall.errors import Conflict, DomainError, NotFound
from mall.family import service as family
from mall.impact import service as impact
from mall.ledger import service as ledger
from mall.rules import service as rules


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
# Ledger memos (bilingual) for the member's statement.
MEMOS = {"green_starter": "绿色新手徽章套装 / Green starter badge set",
         "community": "社区建设者徽章套装 / Community builder badge set"}


def badges(session: Session, member: User) -> list[Badge]:
    """Milestones with progress, all read from the member's own records."""
    progress = {"first_redemption": checkout.count_orders_of(session, member.id),
                "green_10": rules.count_purchases_of(session, member.id, green_only=True),
                "first_donation": charity.count_donations_of(session, member.id),
                "family_founder": family.count_families_headed_by(session, member.id),
                "streak_7": best_streak(session, member.id),
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
    require_member(member)
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
    reward.transfer_id = pay(session, locked[budget.id], locked[wallet.id], points, f"badge-set:{reward.id}",
                             MEMOS.get(set_code, set_code), ("badge_reward", str(reward.id)))
    session.flush()
    return reward

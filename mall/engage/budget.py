"""The game budget: the programme's account that pays every task reward, set reward and game prize, and
receives play costs. A reward the budget cannot cover is refused. Also who may take part. Callers own
the transaction; functions flush only.
"""
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from mall.account.models import User
from mall.errors import Conflict, DomainError, NotFound
from mall.ledger import service as ledger
from mall.ledger.models import Account, Transfer
from mall.validation import is_whole

BUDGET = "game_budget"


class BudgetExhausted(Conflict):
    """The game budget cannot cover a reward or a game's largest prize."""

    code = "budget-exhausted"


def require_member(user: User) -> None:
    if user is None or user.role != "member":
        raise DomainError(_l("Only members can take part."), code="not-a-member")


def require_operator(user: User) -> None:
    if user is None or not user.is_operator:
        raise NotFound(_l("No such page."))


def budget_account(session: Session) -> Account:
    return ledger.system_account(session, BUDGET)


def budget_balance(session: Session) -> int:
    return budget_account(session).balance


def fund_budget(session: Session, operator: User, points, memo: str, key: str):
    """Move points from the programme's issuance account into the game budget, with a memo."""
    require_operator(operator)
    if not is_whole(points, 1, 10**9):
        raise DomainError(_l("Enter a whole number of points from 1 to 1,000,000,000."), code="invalid-amount")
    memo = (memo or "").strip()
    if not 3 <= len(memo) <= 200:
        raise DomainError(_l("Say why the budget is funded (3 to 200 characters)."), code="invalid-memo")
    return ledger.transfer(session, ledger.system_account(session, "issuance"), budget_account(session), points,
                           "adjust", key=f"game-budget:{operator.id}:{key}", memo=memo, actor_id=operator.id,
                           ref=("game_budget", "fund"))


def budget_history(session: Session, limit: int = 20) -> list[Transfer]:
    """The latest fundings of the budget, newest first."""
    account = budget_account(session)
    return session.scalars(select(Transfer).where(Transfer.credit_account_id == account.id,
                                                  Transfer.kind == "adjust")
                           .order_by(Transfer.id.desc()).limit(limit)).all()


def pay(session: Session, budget: Account, wallet: Account, points: int, key: str, memo: str, ref) -> int | None:
    """Pay a reward from the budget to the wallet; the caller has locked both (``ledger.lock_accounts``)
    and checked that the budget covers ``points``. Returns the transfer's id (None for no points)."""
    if not points:
        return None
    return ledger.transfer(session, budget, wallet, points, "award", key=key, memo=memo, ref=ref).transfer.id

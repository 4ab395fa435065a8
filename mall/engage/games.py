"""Fair games: published odds and expected value, plays drawn on the server from the operating system's
CSPRNG, prizes paid from the game budget (a game whose largest prize the budget cannot cover is closed),
play costs paid into it, and the coupons prizes give. Callers own the transaction; functions flush only.
"""
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mall.account.models import User
from mall.references import Reference
from mall.clock import shanghai, utcnow
from mall.db import lock, unique_code
from mall.engage.budget import BudgetExhausted, budget_account, budget_balance, require_member, require_operator
from mall.engage.models import GAME_KINDS, PRIZE_KINDS, Coupon, FreePlay, Game, GamePlay, GamePrize
from mall.errors import Conflict, DomainError, InsufficientPoints, NotFound
from mall.ledger import service as ledger
from mall.validation import is_whole

COUPON_DAYS = 30
COUPON_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_rng = secrets.SystemRandom()  # outcomes come from the operating system's CSPRNG


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
        GamePlay.day == shanghai(now or utcnow()).date())) or 0)


def free_plays(session: Session, member: User) -> int:
    return int(session.scalar(select(func.count(FreePlay.id)).where(
        FreePlay.member_id == member.id, FreePlay.play_id.is_(None))) or 0)



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
    require_member(member)
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
            raise InsufficientPoints(_l("Not enough points: a play costs %(num)s.", num=f"{cost:,}"),
                                     needed=cost - have)
    prize, number, total = draw(list(game.prizes), rng or _rng)
    row = GamePlay(game_id=game.id, member_id=member.id, day=shanghai(now).date(), seq=count + 1, token=token,
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
    now = now or utcnow()
    if not merchant.accepts_game_coupons:  # its terms, set by the programme
        raise DomainError(_l("This merchant does not accept game coupons."), code="coupons-not-accepted")
    found = session.scalar(select(Coupon.id).where(Coupon.code == (code or "").strip().upper()[:16]))
    if found is None:
        # a mistyped code on the till's form, not a missing page: the form shows it
        raise DomainError(_l("No coupon has this code."), code="unknown-coupon")
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
    if not is_whole(value, low, high):
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
    require_operator(operator)
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
    add_prizes(session, game, draft.prizes)
    session.expire(game, ["prizes"])
    return game


def add_prizes(session: Session, game: Game, prizes: list[PrizeDraft]) -> None:
    """The game's outcomes in order; a coupon is usable on a bill of at least four times its value."""
    for position, prize in enumerate(prizes):
        session.add(GamePrize(game_id=game.id, position=position, kind=prize.kind, weight=prize.weight,
                              points=prize.points if prize.kind == "points" else 0,
                              coupon_value_fen=prize.coupon_value_fen if prize.kind == "coupon" else 0,
                              coupon_min_fen=prize.coupon_value_fen * 4 if prize.kind == "coupon" else 0,
                              label_zh=prize.label_zh.strip(), label_en=prize.label_en.strip()))
    session.flush()


def set_game_status(session: Session, operator: User, game_id: int, status: str) -> Game:
    require_operator(operator)
    if status not in ("open", "paused"):
        raise DomainError(_l("Choose open or paused."), code="invalid-status")
    game = get_game(session, game_id)
    game.status = status
    session.flush()
    return game


def void_coupons(session: Session, member_id: int) -> None:
    """On account deletion: the member's unused coupons are void (plays stay, nameless: ledger history)."""
    for coupon in session.scalars(select(Coupon).where(Coupon.member_id == member_id, Coupon.status == "active")):
        coupon.status = "expired"
    session.flush()


def play_references(session: Session, user_id: int, ids: set[str], locale: str) -> dict:
    """The statement's words for the member's plays ``ids``: the game, linking to the play's page."""
    wanted = {int(i) for i in ids if i.isdigit()}
    rows = session.execute(select(GamePlay.id, Game).join(Game, Game.id == GamePlay.game_id).where(
        GamePlay.id.in_(wanted), GamePlay.member_id == user_id)).all() if wanted else []
    return {str(play_id): Reference(game.name(locale), "engage.play_result", {"play_id": play_id})
            for play_id, game in rows}

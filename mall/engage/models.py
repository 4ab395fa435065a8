"""Tasks and their completions, check-ins, survey answers, reviews, badge-set rewards, games and plays."""
from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mall.models import Base, UTCDateTime, utcnow

GAME_KINDS = ("wheel", "scratch")
PRIZE_KINDS = ("points", "coupon", "none")


class Task(Base):
    """A task an operator configures: its reward (points from the game budget, free plays) and limit."""

    __tablename__ = "engage_task"
    __table_args__ = (
        CheckConstraint("points >= 0 AND free_plays >= 0", name="rewards"),
        CheckConstraint("member_limit IS NULL OR member_limit > 0", name="member_limit"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    points: Mapped[int] = mapped_column(BigInteger, default=0)
    free_plays: Mapped[int] = mapped_column(default=0)
    member_limit: Mapped[int | None] = mapped_column()  # completions per member, ever (None: no limit)
    active: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TaskCompletion(Base):
    """One completion; the unique period key makes a second completion of the same period impossible."""

    __tablename__ = "engage_completion"
    __table_args__ = (UniqueConstraint("task_id", "member_id", "period_key", name="uq_engage_completion_period"),
                      Index("ix_engage_completion_member", "member_id", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("engage_task.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    period_key: Mapped[str] = mapped_column(String(40))
    points: Mapped[int] = mapped_column(BigInteger, default=0)
    free_plays: Mapped[int] = mapped_column(default=0)
    transfer_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transfer.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    task = relationship("Task", lazy="joined")


class CheckIn(Base):
    __tablename__ = "engage_checkin"
    __table_args__ = (UniqueConstraint("member_id", "day", name="uq_engage_checkin_day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    day: Mapped[date] = mapped_column(Date)  # Asia/Shanghai
    streak: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SurveyAnswer(Base):
    __tablename__ = "engage_survey_answer"
    __table_args__ = (UniqueConstraint("member_id", "survey", name="uq_engage_survey_member"),
                      CheckConstraint("score >= 0 AND score <= 10", name="score"))

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    survey: Mapped[str] = mapped_column(String(20))
    score: Mapped[int] = mapped_column()
    comment: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Review(Base):
    """A member's review of a fulfilled order: one per order, shown only once an operator approves it."""

    __tablename__ = "engage_review"
    __table_args__ = (CheckConstraint("rating >= 1 AND rating <= 5", name="rating"),
                      CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="status"),
                      Index("ix_engage_review_status", "status", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("order.id"), unique=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id"))
    rating: Mapped[int] = mapped_column()
    body: Mapped[str] = mapped_column(String(1000), default="")
    status: Mapped[str] = mapped_column(String(12), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    moderated_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    moderated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BadgeReward(Base):
    """The published reward for collecting a badge set, paid once per member."""

    __tablename__ = "engage_badge_reward"
    __table_args__ = (UniqueConstraint("member_id", "set_code", name="uq_engage_badge_reward_set"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    set_code: Mapped[str] = mapped_column(String(32))
    points: Mapped[int] = mapped_column(BigInteger)
    transfer_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transfer.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Game(Base):
    __tablename__ = "engage_game"
    __table_args__ = (CheckConstraint("kind IN ('wheel', 'scratch')", name="kind"),
                      CheckConstraint("status IN ('open', 'paused')", name="status"),
                      CheckConstraint("cost_points >= 0 AND daily_limit > 0", name="terms"))

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(12))
    name_zh: Mapped[str] = mapped_column(String(60))
    name_en: Mapped[str] = mapped_column(String(60))
    cost_points: Mapped[int] = mapped_column(BigInteger)
    daily_limit: Mapped[int] = mapped_column()
    status: Mapped[str] = mapped_column(String(12), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    prizes = relationship("GamePrize", lazy="selectin", order_by="GamePrize.position")

    def name(self, locale: str) -> str:
        return self.name_en if locale.startswith("en") else self.name_zh


class GamePrize(Base):
    """One outcome of a game; its chance is weight / the sum of the game's weights (published)."""

    __tablename__ = "engage_prize"
    __table_args__ = (UniqueConstraint("game_id", "position", name="uq_engage_prize_position"),
                      CheckConstraint("kind IN ('points', 'coupon', 'none')", name="kind"),
                      CheckConstraint("weight > 0 AND points >= 0 AND coupon_value_fen >= 0", name="amounts"))

    id: Mapped[int] = mapped_column(primary_key=True)
    game_id: Mapped[int] = mapped_column(ForeignKey("engage_game.id"))
    position: Mapped[int] = mapped_column()
    kind: Mapped[str] = mapped_column(String(8))
    weight: Mapped[int] = mapped_column()
    points: Mapped[int] = mapped_column(BigInteger, default=0)
    coupon_value_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    coupon_min_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    label_zh: Mapped[str] = mapped_column(String(60))
    label_en: Mapped[str] = mapped_column(String(60))

    def label(self, locale: str) -> str:
        return self.label_en if locale.startswith("en") else self.label_zh


class FreePlay(Base):
    """A free play earned by a task, used by at most one play."""

    __tablename__ = "engage_free_play"
    __table_args__ = (Index("ix_engage_free_play_member", "member_id", "play_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    completion_id: Mapped[int | None] = mapped_column(ForeignKey("engage_completion.id"))
    play_id: Mapped[int | None] = mapped_column(ForeignKey("engage_play.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class GamePlay(Base):
    """One draw, kept for audit: who, when, what it cost, the random number and the outcome."""

    __tablename__ = "engage_play"
    __table_args__ = (UniqueConstraint("game_id", "member_id", "day", "seq", name="uq_engage_play_daily_seq"),
                      UniqueConstraint("member_id", "token", name="uq_engage_play_token"),
                      Index("ix_engage_play_game", "game_id", "id"),
                      CheckConstraint("seq > 0", name="seq"))

    id: Mapped[int] = mapped_column(primary_key=True)
    game_id: Mapped[int] = mapped_column(ForeignKey("engage_game.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    day: Mapped[date] = mapped_column(Date)  # Asia/Shanghai
    seq: Mapped[int] = mapped_column()  # the member's n-th play of this game that day
    token: Mapped[str] = mapped_column(String(64))
    paid_points: Mapped[int] = mapped_column(BigInteger, default=0)
    free: Mapped[bool] = mapped_column(default=False)
    prize_id: Mapped[int] = mapped_column(ForeignKey("engage_prize.id"))
    prize_kind: Mapped[str] = mapped_column(String(8))
    prize_points: Mapped[int] = mapped_column(BigInteger, default=0)
    draw: Mapped[int] = mapped_column()  # the uniform number drawn, in [0, total_weight)
    total_weight: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    game = relationship("Game", lazy="joined")
    prize = relationship("GamePrize", lazy="joined")


class Coupon(Base):
    """A coupon won in a game: a code the member shows at a participating merchant's till."""

    __tablename__ = "engage_coupon"
    __table_args__ = (CheckConstraint("status IN ('active', 'used', 'expired')", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    play_id: Mapped[int] = mapped_column(ForeignKey("engage_play.id"), unique=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    value_fen: Mapped[int] = mapped_column(BigInteger)
    min_spend_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(12), default="active")
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchant.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

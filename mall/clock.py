"""Time in the programme: instants are stored in UTC and shown in Asia/Shanghai, where days, weeks,
months and years begin. No Flask imports: the ledger and every service share it."""
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    """The current instant, timezone-aware UTC."""
    return datetime.now(timezone.utc)


def shanghai(value: datetime | None) -> datetime | None:
    """An aware UTC instant shown in Asia/Shanghai."""
    return None if value is None else value.astimezone(SHANGHAI)


def local_month(at: datetime) -> str:
    """The Shanghai calendar month of an instant, as YYYY-MM."""
    return at.astimezone(SHANGHAI).strftime("%Y-%m")


def local_period_start(period: str, now: datetime) -> datetime | None:
    """The start of the day, week (Monday), month or year containing ``now`` in Asia/Shanghai; None
    for any other period ("ever")."""
    start = now.astimezone(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return start
    if period == "week":
        return start - timedelta(days=start.weekday())
    if period == "month":
        return start.replace(day=1)
    if period == "year":
        return start.replace(month=1, day=1)
    return None

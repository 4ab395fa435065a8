"""When points expire. Years are counted in Asia/Shanghai, the programme's home time zone."""
from datetime import datetime, timedelta, timezone

from mall.clock import SHANGHAI


def expiry_for(earned_at: datetime, policy: str) -> datetime | None:
    """The instant (UTC) a lot earned at ``earned_at`` expires under ``policy``; None if never.

    ``calendar_year_after``: at the end of the calendar year after the year of earning,
    i.e. points earned any day of 2026 (Shanghai time) expire at 2028-01-01 00:00 Shanghai.
    ``months:N``: N calendar months after earning, at the same local time of day.
    ``never``: points do not expire.
    """
    if earned_at.tzinfo is None or earned_at.utcoffset() is None:
        raise ValueError("expiry_for needs an aware datetime (a naive one would depend on TZ)")
    local = earned_at.astimezone(SHANGHAI)
    if policy == "never":
        return None
    if policy == "calendar_year_after":
        return datetime(local.year + 2, 1, 1, tzinfo=SHANGHAI).astimezone(timezone.utc)
    if policy.startswith("months:"):
        months = _months(policy)
        month_index = local.month - 1 + months
        year, month = local.year + month_index // 12, month_index % 12 + 1
        day = min(local.day, _days_in_month(year, month))
        return local.replace(year=year, month=month, day=day).astimezone(timezone.utc)
    raise ValueError(f"unknown expiry policy {policy!r}")


def _months(policy: str) -> int:
    try:
        months = int(policy.split(":", 1)[1])
    except ValueError:
        months = 0
    if months < 1:
        raise ValueError(f"unknown expiry policy {policy!r}")
    return months


def _days_in_month(year: int, month: int) -> int:
    first_next = datetime(year + (month == 12), month % 12 + 1, 1)
    return (first_next - timedelta(days=1)).day


def describe(policy: str) -> dict:
    """Data for the public rules page, so what is published is what is applied."""
    if policy == "calendar_year_after":
        return {"kind": "calendar_year_after"}
    if policy.startswith("months:"):
        return {"kind": "months", "months": _months(policy)}
    return {"kind": "never"}

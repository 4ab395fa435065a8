"""Points duties that span the ledger and the member's notifications."""
import math
from datetime import datetime

from sqlalchemy.orm import Session

from mall import events
from mall.account import service as accounts
from mall.ledger import service as ledger
from mall.settings import settings_of

REMIND_PAGE = 500


def remind_expiring(session: Session, now: datetime, days: int, after=None,
                    limit: int = REMIND_PAGE) -> tuple[int, tuple | None]:
    """Notify the owners of one page of lots expiring within ``days`` days, once per member per lot.
    Returns (reminders sent, where the next page starts, or None after the last page)."""
    page = ledger.expiring_lots(session, now, days, limit=limit, after=after)
    sent = 0
    due: dict[tuple[int, datetime], int] = {}  # (member, expiry instant) -> points newly reminded of
    window = "" if days == settings_of(session).remind_days else f"{days}:"
    for lot, account in page:
        fresh = accounts.notify(
            session, account.owner_id, "points_expiring",
            {"points": lot.remaining, "expires_at": lot.expires_at.isoformat()},
            dedupe_key=f"expiring:{window}lot:{lot.id}",
        )
        sent += fresh
        if fresh:
            due[(account.owner_id, lot.expires_at)] = due.get((account.owner_id, lot.expires_at), 0) + lot.remaining
    for (member_id, expires_at), points in due.items():
        events.points_expiring.send(session, member_id=member_id, points=points, expires_at=expires_at, days=days,
                                    days_left=max(1, math.ceil((expires_at - now).total_seconds() / 86400)))
    last = page[-1][0] if len(page) == limit else None
    return sent, (last.expires_at, last.id) if last is not None else None

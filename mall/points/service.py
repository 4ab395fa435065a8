"""Points duties that span the ledger and the member's notifications."""
from datetime import datetime

from sqlalchemy.orm import Session

from mall.account import service as accounts
from mall.ledger import service as ledger

REMIND_PAGE = 500


def remind_expiring(session: Session, now: datetime, days: int, after=None,
                    limit: int = REMIND_PAGE) -> tuple[int, tuple | None]:
    """Notify the owners of one page of lots expiring within ``days`` days, once per member per lot.
    Returns (reminders sent, where the next page starts, or None after the last page)."""
    page = ledger.expiring_lots(session, now, days, limit=limit, after=after)
    sent = 0
    for lot, account in page:
        sent += accounts.notify(
            session, account.owner_id, "points_expiring",
            {"points": lot.remaining, "expires_at": lot.expires_at.isoformat()},
            dedupe_key=f"expiring:lot:{lot.id}",
        )
    last = page[-1][0] if len(page) == limit else None
    return sent, (last.expires_at, last.id) if last is not None else None

"""The demo's members have confirmed their e-mail addresses, so the worker's e-mails can be watched
on a local debugging SMTP server (README: "Messages in the demo")."""
from sqlalchemy import select

from mall.account.models import User
from mall.clock import utcnow
from mall.messages.models import MessageProfile


def seed_messages(session, emails) -> None:
    now = utcnow()
    for user in session.scalars(select(User).where(User.email.in_(list(emails)), User.role == "member")):
        if session.get(MessageProfile, user.id) is None:
            # quiet hours on, as every member's are by default: e-mails queued at night go out at 08:00
            session.add(MessageProfile(user_id=user.id, quiet_hours=True, quiet_start=22, quiet_end=8,
                                       verified_email=user.email, verified_at=now, updated_at=now))
    session.flush()

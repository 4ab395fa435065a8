"""Sign-up, sign-in, password changes, sessions and member codes.

Nothing slow inside a write: argon2 hashes and verifications are done by the door BEFORE the write
transaction (``hash_password``, ``authenticate``, ``check_password_change`` read or touch nothing
but the row they are given), and the short write that follows only stores what they produced
(``register`` with ``password_hash``, ``store_rehash``, ``change_password``). Sign-in writes only
when the stored hash must be upgraded to new argon2 parameters."""
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from mall import events
from mall.account.models import ROLES, Notification, StaffInvitation, User
from mall.clock import utcnow
from mall.db import unique_code
from mall.errors import Conflict, DomainError, NotFound
from mall.ledger import service as ledger
from mall.settings import settings_of

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud at a till
CODE_LENGTH = 8


@cache
def _hasher(fast: bool) -> PasswordHasher:
    """Tests use cheap argon2 parameters; everything else the library's defaults."""
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1) if fast else PasswordHasher()


@cache
def _dummy_hash(fast: bool) -> str:
    """A hash to check unknown e-mail addresses against, so they take as long as known ones."""
    return _hasher(fast).hash("timing-equaliser")


def _fast(session: Session) -> bool:
    return bool(settings_of(session).testing)


def hash_password(session: Session, password: str) -> str:
    return _hasher(_fast(session)).hash(password)


def new_member_code(session: Session) -> str:
    return unique_code(session, User.member_code, CODE_ALPHABET, CODE_LENGTH)


def normalise_email(email: str) -> str:
    return email.strip().lower()


def find_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == normalise_email(email)))


def register(session: Session, *, email: str, display_name: str, password: str | None = None,
             password_hash: str | None = None, role: str = "member", merchant_id: int | None = None,
             merchant_role: str = "owner", phone: str | None = None, accepted_terms: bool = False) -> User:
    """Create an account; the role is only ever set by a trusted caller (CLI, operator). Doors hash the
    password first (``hash_password``) and give ``password_hash``, so no argon2 runs in the write;
    ``password`` is hashed here (seed data, tests)."""
    if (password is None) == (password_hash is None):
        raise ValueError("give exactly one of password and password_hash")
    if role not in ROLES:
        raise DomainError(_l("Unknown role."))
    if role == "merchant" and merchant_id is None:
        raise DomainError(_l("Merchant staff must belong to a merchant."))
    if find_by_email(session, email) is not None:
        raise DomainError(_l("An account with this e-mail address already exists."), code="duplicate")
    phone = checked_phone(phone)
    user = User(
        email=normalise_email(email),
        display_name=display_name.strip(),
        password_hash=password_hash or hash_password(session, password),
        role=role,
        merchant_id=merchant_id if role == "merchant" else None,
        merchant_role=merchant_role if role == "merchant" else None,
        member_code=new_member_code(session),
        session_token=secrets.token_urlsafe(24),
        phone=phone,
        terms_accepted_at=utcnow() if accepted_terms else None,
    )
    session.add(user)
    session.flush()
    ledger.member_account(session, user.id)
    return user


@dataclass
class SignIn:
    """A matching password: the user, and the new hash to store if the old one's parameters are out
    of date (``store_rehash``, a short write), else None."""
    user: User
    rehash: str | None = None
    verified_hash: str = ""  # the hash the password matched (what ``store_rehash`` replaces)


def verify_sign_in(session: Session, email: str, password: str) -> SignIn | None:
    """Check the password on a read (no write transaction, no lock); None if it does not match, in
    about the same time either way. A hash that needs new parameters is recomputed here too."""
    hasher = _hasher(_fast(session))
    user = find_by_email(session, email)
    if user is None:
        try:
            hasher.verify(_dummy_hash(_fast(session)), password)
        except VerificationError:
            pass
        return None
    stored = user.password_hash
    try:
        hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    return SignIn(user, hash_password(session, password) if hasher.check_needs_rehash(stored) else None, stored)


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The user whose password matches, else None (a read: it stores nothing)."""
    found = verify_sign_in(session, email, password)
    return found.user if found else None


def store_rehash(session: Session, user: User, rehash: str, old_hash: str) -> None:
    """Store the upgraded hash of a sign-in, unless the password changed meanwhile (compare-and-set)."""
    session.execute(update(User).where(User.id == user.id, User.password_hash == old_hash)
                    .values(password_hash=rehash).execution_options(synchronize_session=False))
    session.expire(user, ["password_hash"])


def load_session_user(session: Session, session_id: str, statement=None) -> User | None | tuple:
    """Resolve a Flask-Login id "<user id>.<token>"; a rotated token means the session has ended. With
    ``statement`` (``select(User, ...more).where(User.id == bindparam("user_id"))``), read the user and
    more in one statement and return (user, the more values), or (None, ())."""
    user_id, _, token = (session_id or "").partition(".")
    if not user_id.isdigit() or not token:
        return (None, ()) if statement is not None else None
    if statement is not None:
        row = session.execute(statement, {"user_id": int(user_id)}).first()
        user, values = (row[0], tuple(row[1:])) if row else (None, ())
    else:
        user, values = session.get(User, int(user_id)), ()
    if user is None or not secrets.compare_digest(user.session_token, token):
        return (None, ()) if statement is not None else None
    return (user, values) if statement is not None else user


def end_all_sessions(user: User) -> None:
    """Invalidate every session cookie ever issued to ``user`` (sign-out, password change)."""
    user.session_token = secrets.token_urlsafe(24)


@dataclass
class PasswordChange:
    """A checked password change, ready to store: the hash it replaces and the new one."""
    old_hash: str
    new_hash: str


def check_password_change(session: Session, user: User, current: str, new: str) -> PasswordChange:
    """Verify the current password and hash the new one, before any write (no lock held)."""
    old_hash = user.password_hash
    try:
        _hasher(_fast(session)).verify(old_hash, current)
    except (VerificationError, InvalidHashError):
        raise DomainError(_l("The current password is not correct."), code="wrong-password")
    return PasswordChange(old_hash, hash_password(session, new))


def change_password(session: Session, user: User, change: PasswordChange) -> None:
    """Store a checked change and end every session; refused if the password changed since it was
    checked (another tab, another device), so a stale current password never wins."""
    changed = session.execute(update(User).where(User.id == user.id, User.password_hash == change.old_hash)
                              .values(password_hash=change.new_hash, session_token=secrets.token_urlsafe(24))
                              .execution_options(synchronize_session=False)).rowcount
    session.expire(user, ["password_hash", "session_token"])
    if changed != 1:
        raise DomainError(_l("The current password is not correct."), code="wrong-password")


PHONE = re.compile(r"^1[3-9]\d{9}$")  # a mainland mobile number
PROFILE_FIELDS = ("display_name", "phone", "birthday")


def checked_phone(phone: str | None) -> str | None:
    """An optional mainland mobile number as stored (spaces removed), or a refusal on that field."""
    phone = (phone or "").strip().replace(" ", "") or None
    if phone is not None and not PHONE.match(phone):
        raise DomainError(_l("Give a valid mainland mobile number (11 digits, starting with 1)."), field="phone")
    return phone


def update_profile(session: Session, user: User, *, display_name: str, phone: str | None,
                   birthday: date | None) -> list[str]:
    """Change the member's own profile; returns the names of the fields that changed.

    The phone number is optional (it lets an operator find the account when the member calls);
    the birthday is optional (it earns the published birthday bonus)."""
    name = (display_name or "").strip()
    if not 1 <= len(name) <= 60:
        raise DomainError(_l("Give a display name of 1 to 60 characters."), field="display_name")
    phone = checked_phone(phone)
    if birthday is not None and not date(1900, 1, 1) <= birthday <= utcnow().date():
        raise DomainError(_l("Give a real date of birth."), field="birthday")
    changed = [key for key, value in (("display_name", name), ("phone", phone), ("birthday", birthday))
               if getattr(user, key) != value]
    user.display_name, user.phone, user.birthday = name, phone, birthday
    session.flush()
    events.profile_updated.send(session, user_id=user.id)
    return changed


def profile_complete(user: User) -> bool:
    """Every optional profile field filled in."""
    return all(getattr(user, key) for key in PROFILE_FIELDS)


def set_locale(user: User, locale: str) -> None:
    user.locale = locale


def get_member(session: Session, user_id: int) -> User:
    """The member with this id (deleted ones too), or NotFound."""
    user = session.get(User, user_id)
    if user is None or user.role != "member":
        raise NotFound(_l("No such member."))
    return user


def get_member_by_code(session: Session, code: str) -> User:
    """The member with this code (case-insensitive), or NotFound."""
    user = session.scalar(select(User).where(User.member_code == (code or "").strip().upper()))
    if user is None or user.role != "member":
        raise NotFound(_l("No member has this code."), code="unknown-member")
    return user


def notify(session: Session, user_id: int, kind: str, data: dict, dedupe_key: str | None = None) -> bool:
    """Record a notification; with a ``dedupe_key`` seen before, do nothing and return False."""
    if dedupe_key and session.scalar(select(Notification.id).where(Notification.dedupe_key == dedupe_key)):
        return False
    session.add(Notification(user_id=user_id, kind=kind, data=data, dedupe_key=dedupe_key))
    session.flush()
    return True


def notifications(session: Session, user: User, limit: int = 50) -> list[Notification]:
    return session.scalars(select(Notification).where(Notification.user_id == user.id)
                           .order_by(Notification.id.desc()).limit(limit)).all()


def unread_columns():
    """How many of a user's notifications are unread and the id of the newest, as expressions
    correlated to ``User`` (read with the user: every page's header shows both)."""
    from sqlalchemy import func

    unread = (Notification.user_id == User.id, Notification.read_at.is_(None))
    return (select(func.count(Notification.id)).where(*unread).scalar_subquery(),
            select(func.max(Notification.id)).where(*unread).scalar_subquery())


def mark_read(session: Session, user: User, notification_id: int | None = None) -> int:
    """Mark one of the user's notifications (or all of them) read; returns how many changed."""
    stmt = update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    if notification_id is not None:
        stmt = stmt.where(Notification.id == notification_id)
    return session.execute(stmt.values(read_at=utcnow())).rowcount


def find_by_email_or_code(session: Session, query: str) -> User | None:
    """Any user (member, staff or operator) by e-mail address or member code."""
    q = (query or "").strip()
    return session.scalar(select(User).where(or_(User.email == normalise_email(q), User.member_code == q.upper())))


def search_members(session: Session, query: str, limit: int = 20) -> list[User]:
    """Members by exact member code, mobile number or e-mail, or by the start of an e-mail address."""
    q = (query or "").strip()
    if not q:
        return []
    exact = or_(User.member_code == q.upper(), User.phone == q.replace(" ", ""), User.email == normalise_email(q))
    found = list(session.scalars(select(User).where(User.role == "member", exact).order_by(User.id).limit(limit)))
    if not found and len(q) >= 3:
        prefix = normalise_email(q).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        found = list(session.scalars(select(User).where(User.role == "member", User.email.like(prefix + "%", escape="\\"))
                                     .order_by(User.email).limit(limit)))
    return found


def member_code_of(session: Session, user_id: int) -> str:
    """The member code of a user, by id."""
    return session.scalar(select(User.member_code).where(User.id == user_id))


def greet_birthdays(session: Session, now: datetime, limit: int = 5000) -> int:
    """Send ``birthday`` for members whose birthday is today in Shanghai (the messages area greets each
    once a year however often this runs). Returns how many."""
    from zoneinfo import ZoneInfo

    from sqlalchemy import extract

    today = now.astimezone(ZoneInfo("Asia/Shanghai")).date()
    rows = session.execute(select(User.id, User.display_name).where(
        User.role == "member", User.deleted_at.is_(None), User.birthday.is_not(None),
        extract("month", User.birthday) == today.month, extract("day", User.birthday) == today.day)
        .order_by(User.id).limit(limit)).all()
    for user_id, name in rows:
        events.birthday.send(session, member_id=user_id, name=name, date=today.isoformat())
    return len(rows)


# ---------------------------------------------------------------- a merchant's staff

def staff_of(session: Session, merchant_id: int) -> list[User]:
    return list(session.scalars(select(User).where(User.role == "merchant", User.merchant_id == merchant_id)
                                .order_by(User.id)))


def add_staff(session: Session, owner: User, email: str, display_name: str, role: str) -> tuple[User, str]:
    """The owner gives someone an account of the merchant's staff; returns it and a first password to hand
    over (shown once; they change it at /account/password)."""
    if owner.role != "merchant" or owner.merchant_role != "owner":
        raise NotFound(_l("Not found."))
    if role not in ("manager", "cashier"):
        raise DomainError(_l("Choose manager or cashier."), field="role")
    if not (display_name or "").strip():
        raise DomainError(_l("Give their name."), field="display_name")
    password = secrets.token_urlsafe(9)
    user = register(session, email=email, display_name=display_name[:60], password=password, role="merchant",
                    merchant_id=owner.merchant_id, merchant_role=role)
    return user, password


def _staff_member(session: Session, owner: User, user_id: int) -> User:
    if owner.role != "merchant" or owner.merchant_role != "owner":
        raise NotFound(_l("Not found."))
    user = session.get(User, user_id)
    if user is None or user.role != "merchant" or user.merchant_id != owner.merchant_id:
        raise NotFound(_l("No such member of staff."))
    if user.id == owner.id:
        raise DomainError(_l("You cannot change your own access; another owner can."), code="self")
    return user


def set_staff_role(session: Session, owner: User, user_id: int, role: str) -> User:
    user = _staff_member(session, owner, user_id)
    if role not in ("owner", "manager", "cashier"):
        raise DomainError(_l("Choose owner, manager or cashier."), field="role")
    user.merchant_role = role
    session.flush()
    return user


def remove_staff(session: Session, owner: User, user_id: int) -> None:
    """The account leaves the staff and is signed out everywhere. An account made for the staff can no
    longer sign in; a member who joined by invitation is a member again, their sign-in and points intact."""
    user = _staff_member(session, owner, user_id)
    joined = session.scalar(select(StaffInvitation).where(
        StaffInvitation.member_id == user.id, StaffInvitation.merchant_id == owner.merchant_id,
        StaffInvitation.status == "accepted").order_by(StaffInvitation.id.desc()).limit(1))
    user.role, user.merchant_id, user.merchant_role = "member", None, None
    if joined is None:
        user.password_hash = "!removed"
    else:
        joined.status, joined.decided_at = "ended", utcnow()
    user.session_token = secrets.token_urlsafe(24)
    session.flush()


def invite_staff(session: Session, owner: User, member_code: str, role: str) -> StaffInvitation:
    """The owner invites a member, found by member code, to the staff in a role; the member accepts or
    declines in their account (they are told by message)."""
    if owner.role != "merchant" or owner.merchant_role != "owner":
        raise NotFound(_l("Not found."))
    if role not in ("manager", "cashier"):
        raise DomainError(_l("Choose manager or cashier."), field="role")
    code = (member_code or "").strip().upper()
    member = session.scalar(select(User).where(User.member_code == code)) if code else None
    if member is None or member.role != "member" or member.deleted_at is not None:
        raise DomainError(_l("No member has this code."), code="unknown-member", field="member_code")
    waiting = session.scalar(select(StaffInvitation.id).where(
        StaffInvitation.member_id == member.id, StaffInvitation.merchant_id == owner.merchant_id,
        StaffInvitation.status == "pending"))
    if waiting:
        raise Conflict(_l("This member already has an invitation from you."), code="already-invited",
                       field="member_code")
    row = StaffInvitation(merchant_id=owner.merchant_id, member_id=member.id, role=role, invited_by=owner.id)
    session.add(row)
    session.flush()
    events.staff_invitation_sent.send(session, invitation_id=row.id, member_id=member.id,
                                      merchant_id=owner.merchant_id, role=role)
    return row


def invitations_of_merchant(session: Session, merchant_id: int, limit: int = 50) -> list[StaffInvitation]:
    return list(session.scalars(select(StaffInvitation).where(StaffInvitation.merchant_id == merchant_id)
                                .order_by(StaffInvitation.id.desc()).limit(limit)))


def invitations_for(session: Session, member: User) -> list[StaffInvitation]:
    """The invitations waiting for this member's answer."""
    return list(session.scalars(select(StaffInvitation).where(StaffInvitation.member_id == member.id,
                                                              StaffInvitation.status == "pending")
                                .order_by(StaffInvitation.id)))


def withdraw_invitation(session: Session, owner: User, invitation_id: int) -> StaffInvitation:
    if owner.role != "merchant" or owner.merchant_role != "owner":
        raise NotFound(_l("Not found."))
    row = session.get(StaffInvitation, invitation_id)
    if row is None or row.merchant_id != owner.merchant_id:
        raise NotFound(_l("No such invitation."))
    if row.status != "pending":
        raise Conflict(_l("This invitation has been answered already."), code="invitation-answered")
    row.status, row.decided_at = "withdrawn", utcnow()
    session.flush()
    return row


def answer_invitation(session: Session, member: User, invitation_id: int, accept: bool) -> StaffInvitation:
    """The invited member accepts (their account now works in the merchant's back office, in the role
    offered) or declines. Only the member invited may answer; anyone else finds no invitation."""
    row = session.get(StaffInvitation, invitation_id)
    if row is None or row.member_id != member.id:
        raise NotFound(_l("No such invitation."))
    if row.status != "pending":
        raise Conflict(_l("This invitation has been answered already."), code="invitation-answered")
    if accept and member.role != "member":
        raise Conflict(_l("This account already works for a merchant."), code="already-staff")
    row.status, row.decided_at = ("accepted" if accept else "declined"), utcnow()
    if accept:
        member.role, member.merchant_id, member.merchant_role = "merchant", row.merchant_id, row.role
        for other in invitations_for(session, member):
            if other.id != row.id:
                other.status, other.decided_at = "declined", row.decided_at
    session.flush()
    return row

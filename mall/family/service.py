"""Family use cases: households, invitations, the shared pool, redeeming from it, leaving and
dissolving under a published policy, and gifts between members. Each function takes the acting
user, flushes and never commits (the caller owns the transaction)."""
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mall.account.models import User
from mall.clock import local_period_start, utcnow
from mall.db import lock
from mall.errors import Conflict, DomainError, InsufficientPoints, NotFound
from mall.events import family_invitation_sent, gift_sent
from mall.family.models import Family, FamilyEvent, FamilyGift, FamilyInvitation, FamilyMember
from mall.labels import mask_code
from mall.ledger import service as ledger
from mall.ledger.models import Account, Transfer
from mall.settings import settings_of
from mall.validation import is_whole

MAX_POINTS = 10**9


# ---------------------------------------------------------------- reading

def membership_column(user_id_column):
    """Whether the user ``user_id_column`` (a column of the caller's statement) belongs to a family, as a
    correlated expression: only then is what they may spend from a pool worth reading."""
    return select(FamilyMember.id).where(FamilyMember.user_id == user_id_column).exists()


def membership(session: Session, user: User) -> FamilyMember | None:
    return session.scalar(select(FamilyMember).where(FamilyMember.user_id == user.id))


def find_family_for(session: Session, user: User) -> tuple[Family, FamilyMember] | None:
    """The user's active family and their membership, or None."""
    member = membership(session, user)
    if member is None or member.family.status != "active":
        return None
    return member.family, member


def get_family_for(session: Session, user: User) -> tuple[Family, FamilyMember]:
    """The user's active family and their membership, or NotFound: only members see a family."""
    found = find_family_for(session, user)
    if found is None:
        raise NotFound(_l("You are not in a family."))
    return found


def _require_head(member: FamilyMember) -> None:
    if member.role != "head":
        raise DomainError(_l("Only the head of the family can do this."), code="head-only")


def pool_account(session: Session, family: Family) -> Account:
    return ledger.open_account(session, "family", family.id, "pool")


def _points(value, low=1, high=MAX_POINTS) -> int:
    if not is_whole(value, low, high):
        raise DomainError(_l("Enter a whole number of points from %(low)s to %(high)s.", low=low, high=f"{high:,}"),
                          code="invalid-points")
    return value




def _log(session, family, kind, actor=None, subject=None, points=0, transfer=None, now=None, **data):
    session.add(FamilyEvent(family_id=family.id, actor_id=actor, subject_id=subject, kind=kind, points=points,
                            data=data, transfer_id=transfer.id if transfer is not None else None,
                            created_at=now or utcnow()))


@dataclass
class MemberShare:
    member: FamilyMember
    contributed: int
    redeemed: int
    returned: int

    @property
    def unspent(self) -> int:
        return max(0, self.contributed - self.redeemed - self.returned)


def _sum(session, *conditions) -> dict[int, int]:
    return {k: int(v) for k, v in session.execute(
        select(Transfer.actor_id, func.sum(Transfer.amount)).where(*conditions).group_by(Transfer.actor_id))}


def _member_flows(session: Session, pool: Account, kind: str, into_pool: bool) -> dict[int, int]:
    """Points of ``kind`` between each member's own account and the pool, by member, from the ledger."""
    member_side, pool_side = ((Transfer.debit_account_id, Transfer.credit_account_id) if into_pool
                              else (Transfer.credit_account_id, Transfer.debit_account_id))
    rows = session.execute(select(Account.owner_id, func.sum(Transfer.amount))
                           .join(Account, Account.id == member_side)
                           .where(pool_side == pool.id, Transfer.kind == kind, Account.owner_kind == "member")
                           .group_by(Account.owner_id))
    return {user_id: int(total) for user_id, total in rows}


def redeemed(session: Session, family: Family, since: datetime | None = None,
             pool: Account | None = None) -> dict[int, int]:
    """Points each member redeemed or donated from the pool (less refunds back to it), by member."""
    pool = pool or pool_account(session, family)
    out = [Transfer.debit_account_id == pool.id, Transfer.kind.in_(("redeem", "donate"))]
    back = [Transfer.credit_account_id == pool.id, Transfer.kind == "refund"]
    if since is not None:
        out.append(Transfer.created_at >= since)
        back.append(Transfer.created_at >= since)
    spent, refunded = _sum(session, *out), _sum(session, *back)
    return {uid: spent.get(uid, 0) - refunded.get(uid, 0) for uid in set(spent) | set(refunded)}


def shares(session: Session, family: Family) -> list[MemberShare]:
    pool = pool_account(session, family)
    given = _member_flows(session, pool, "pool_in", into_pool=True)
    back = _member_flows(session, pool, "pool_out", into_pool=False)
    spent = redeemed(session, family, pool=pool)
    return [MemberShare(m, given.get(m.user_id, 0), spent.get(m.user_id, 0), back.get(m.user_id, 0))
            for m in family.members]


def redeemed_this_month(session: Session, family: Family, now: datetime | None = None) -> dict[int, int]:
    """Points each member redeemed from the pool in the current month (Asia/Shanghai)."""
    return redeemed(session, family, local_period_start("month", now or utcnow()))


def used_this_month(session: Session, family: Family, user_id: int, now: datetime | None = None) -> int:
    return max(0, redeemed_this_month(session, family, now).get(user_id, 0))


def pool_statement(session: Session, family: Family, limit: int = 30) -> list[tuple]:
    """The pool's movements, newest first, with the member who made each one."""
    pool = pool_account(session, family)
    rows = ledger.statement(session, pool, limit=limit)
    names = _names(session, {r.transfer.actor_id for r in rows if r.transfer.actor_id}
                   | {r.counterparty.owner_id for r in rows if r.counterparty.owner_kind == "member"})
    result = []
    for row in rows:
        who_id = row.transfer.actor_id
        if who_id is None and row.counterparty.owner_kind == "member":
            who_id = row.counterparty.owner_id
        result.append((row, names.get(who_id, "")))
    return result


def _names(session, ids) -> dict[int, str]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.display_name).where(User.id.in_(ids))).all())


def events(session: Session, family: Family, limit: int = 30) -> list[FamilyEvent]:
    return session.scalars(select(FamilyEvent).where(FamilyEvent.family_id == family.id)
                           .order_by(FamilyEvent.id.desc()).limit(limit)).all()


def names_for_events(session: Session, rows) -> dict[int, str]:
    return _names(session, {e.actor_id for e in rows} | {e.subject_id for e in rows})


def pending_invitations(session: Session, family: Family, now: datetime | None = None) -> list[FamilyInvitation]:
    return session.scalars(select(FamilyInvitation).where(
        FamilyInvitation.family_id == family.id, FamilyInvitation.status == "pending",
        FamilyInvitation.expires_at > (now or utcnow())).order_by(FamilyInvitation.id)).all()


def invitations_for(session: Session, user: User, now: datetime | None = None) -> list[FamilyInvitation]:
    """Invitations addressed to the user's member code that can still be answered."""
    return session.scalars(select(FamilyInvitation).where(
        FamilyInvitation.member_code == user.member_code, FamilyInvitation.status == "pending",
        FamilyInvitation.expires_at > (now or utcnow())).order_by(FamilyInvitation.id)).all()


def has_pool_rights(member: FamilyMember | None) -> bool:
    return member is not None and member.family.status == "active" and (member.role == "head" or member.can_redeem)


def can_use_pool(session: Session, user: User) -> bool:
    """Whether the user may pay from a family pool at checkout."""
    return has_pool_rights(membership(session, user))


def pool_available(session: Session, user: User, now: datetime | None = None) -> int:
    """What the user could redeem from their family pool now: the pool's spendable points, capped by
    what is left of their monthly limit. 0 without pool rights."""
    member = membership(session, user)
    if not has_pool_rights(member):
        return 0
    pool = pool_account(session, member.family)
    available = ledger.spendable(session, pool, now)
    if member.monthly_limit is not None:
        available = min(available, max(0, member.monthly_limit - used_this_month(session, member.family, user.id, now)))
    return max(0, available)


# ---------------------------------------------------------------- households

def create_family(session: Session, user: User, name: str, now: datetime | None = None) -> Family:
    """Create a family with the user as its head (and pool rights), and open its pool."""
    now = now or utcnow()
    name = (name or "").strip()
    if not 1 <= len(name) <= 60:
        raise DomainError(_l("Give the family a name of 1 to 60 characters."), code="name")
    if user.role != "member":
        raise DomainError(_l("Only members can have a family."), code="not-member")
    if membership(session, user) is not None:
        raise Conflict(_l("You are already in a family. Leave it first."), code="already-in-family")
    family = Family(name=name, head_id=user.id, status="active", created_at=now)
    session.add(family)
    session.flush()
    session.add(FamilyMember(family_id=family.id, user_id=user.id, role="head", can_redeem=True, joined_at=now))
    pool_account(session, family)
    _log(session, family, "created", actor=user.id, now=now, name=name)
    session.flush()
    return family


def invite(session: Session, user: User, member_code: str = "", now: datetime | None = None) -> tuple[FamilyInvitation, str]:
    """A one-time invitation link (and, given a member code, one only that member can use).
    Returns the invitation and the token, which is shown once and stored only hashed."""
    now = now or utcnow()
    family, me = get_family_for(session, user)
    _require_head(me)
    code = (member_code or "").strip().upper() or None
    invitee = None
    if code is not None:
        invitee = session.scalar(select(User).where(User.member_code == code, User.role == "member"))
        if invitee is None:
            raise DomainError(_l("No member has this member code."), code="unknown-member")
        if invitee.id == user.id:
            raise DomainError(_l("You are already in this family."), code="self-invite")
        if membership(session, invitee) is not None:
            raise Conflict(_l("This member is already in a family."), code="already-in-family")
    settings = settings_of(session)
    if len(family.members) + len(pending_invitations(session, family, now)) >= settings.family_member_limit:
        raise Conflict(_l("A family can have at most %(num)s members, counting open invitations.",
                          num=settings.family_member_limit), code="member-limit")
    token = secrets.token_urlsafe(24)
    row = FamilyInvitation(family_id=family.id, token_hash=_hash(token), member_code=code, invited_by=user.id,
                           status="pending", expires_at=now + timedelta(days=settings.family_invite_days),
                           created_at=now)
    session.add(row)
    _log(session, family, "invited", actor=user.id, now=now, member_code=mask_code(code) if code else "")
    session.flush()
    family_invitation_sent.send(session, invitation_id=row.id, family_id=family.id,
                                invitee_id=invitee.id if invitee else None, family_name=family.name,
                                inviter_name=user.display_name, expires_at=row.expires_at)
    return row, token


def _hash(token: str) -> str:
    return hashlib.sha256((token or "").encode()).hexdigest()


def invitation_by_token(session: Session, user: User, token: str, now: datetime | None = None) -> FamilyInvitation:
    """The invitation behind a link, if the user may answer it; else NotFound or a clear refusal."""
    now = now or utcnow()
    row = session.scalar(select(FamilyInvitation).where(FamilyInvitation.token_hash == _hash(token)))
    return _check_invitation(row, user, now)


def invitation_by_id(session: Session, user: User, invitation_id: int, now: datetime | None = None) -> FamilyInvitation:
    """An invitation addressed to the user's member code."""
    now = now or utcnow()
    row = session.get(FamilyInvitation, invitation_id)
    if row is None or row.member_code != user.member_code:
        raise NotFound(_l("No such invitation."))
    return _check_invitation(row, user, now)


def _check_invitation(row, user, now) -> FamilyInvitation:
    if row is None or (row.member_code is not None and row.member_code != user.member_code):
        raise NotFound(_l("No such invitation."))
    if row.status != "pending":
        raise Conflict(_l("This invitation has already been used."), code="invitation-used")
    if row.expires_at <= now or row.family.status != "active":
        raise Conflict(_l("This invitation has expired. Ask for a new one."), code="invitation-expired")
    return row


def accept(session: Session, user: User, invitation: FamilyInvitation, now: datetime | None = None) -> Family:
    """Join the family of an invitation (one family per member, within the member limit)."""
    now = now or utcnow()
    family = lock(session, Family, [invitation.family_id])[invitation.family_id]
    invitation = lock(session, FamilyInvitation, [invitation.id])[invitation.id]
    invitation = _check_invitation(invitation, user, now)
    if user.role != "member":
        raise DomainError(_l("Only members can have a family."), code="not-member")
    if membership(session, user) is not None:
        raise Conflict(_l("You are already in a family. Leave it first."), code="already-in-family")
    count = session.scalar(select(func.count(FamilyMember.id)).where(FamilyMember.family_id == family.id))
    limit = settings_of(session).family_member_limit
    if count >= limit:
        raise Conflict(_l("This family is full (%(num)s members).", num=limit), code="member-limit")
    invitation.status, invitation.used_by, invitation.used_at = "accepted", user.id, now
    session.add(FamilyMember(family_id=family.id, user_id=user.id, role="member", joined_at=now))
    _log(session, family, "joined", actor=user.id, subject=user.id, now=now)
    session.flush()
    session.expire(family, ["members"])
    return family


def decline(session: Session, user: User, invitation: FamilyInvitation, now: datetime | None = None) -> None:
    invitation = lock(session, FamilyInvitation, [invitation.id])[invitation.id]
    invitation = _check_invitation(invitation, user, now or utcnow())
    invitation.status, invitation.used_by, invitation.used_at = "declined", user.id, now or utcnow()
    _log(session, invitation.family, "declined", actor=user.id, subject=user.id, now=now)
    session.flush()


def revoke(session: Session, user: User, invitation_id: int) -> None:
    family, me = get_family_for(session, user)
    _require_head(me)
    row = session.get(FamilyInvitation, invitation_id)
    if row is None or row.family_id != family.id:
        raise NotFound(_l("No such invitation."))
    if row.status == "pending":
        row.status = "revoked"
    session.flush()


def _other(session, family, user_id) -> FamilyMember:
    member = session.scalar(select(FamilyMember).where(FamilyMember.family_id == family.id,
                                                       FamilyMember.user_id == user_id))
    if member is None:
        raise NotFound(_l("No such family member."))
    return member


def set_rights(session: Session, user: User, member_user_id: int, can_redeem: bool, monthly_limit: int | None) -> FamilyMember:
    """The head decides who may redeem from the pool, and an optional monthly limit per member."""
    family, me = get_family_for(session, user)
    _require_head(me)
    member = _other(session, family, member_user_id)
    if monthly_limit is not None:
        monthly_limit = _points(monthly_limit, 0)
    member.can_redeem = bool(can_redeem) or member.role == "head"
    member.monthly_limit = monthly_limit
    _log(session, family, "rights", actor=user.id, subject=member.user_id, can_redeem=member.can_redeem,
         monthly_limit=monthly_limit)
    session.flush()
    return member


def hand_over(session: Session, user: User, member_user_id: int) -> Family:
    """Make another member the head; the old head stays a member."""
    family, me = get_family_for(session, user)
    _require_head(me)
    if member_user_id == user.id:
        raise DomainError(_l("You are already the head."), code="already-head")
    new = _other(session, family, member_user_id)
    me.role, new.role, new.can_redeem, family.head_id = "member", "head", True, new.user_id
    _log(session, family, "head", actor=user.id, subject=new.user_id)
    session.flush()
    return family


def set_goal(session: Session, user: User, name: str, points) -> Family:
    family, _me = get_family_for(session, user)
    name = (name or "").strip()
    if not name:
        family.goal_name, family.goal_points = "", None
    else:
        if len(name) > 80:
            raise DomainError(_l("Keep the goal's name under 80 characters."), code="goal")
        family.goal_name, family.goal_points = name, _points(points)
    _log(session, family, "goal", actor=user.id, name=family.goal_name, points=family.goal_points or 0)
    session.flush()
    return family


# ---------------------------------------------------------------- the pool

CONSENT_ONE_OFF = "I move %(points)s of my points into the family pool %(family)s. Pooled points follow the family's published policy."


def contribute(session: Session, user: User, points, token: str, consent: bool, now: datetime | None = None) -> Transfer:
    """Move the user's points into the pool, with their explicit consent; the lots keep their dates.
    ``token`` (from the form) makes a double submit move the points once."""
    now = now or utcnow()
    family, _me = get_family_for(session, user)
    points = _points(points)
    if not consent:
        raise DomainError(_l("Tick the box to confirm you agree to move these points into the pool."), code="consent")
    if not token or len(token) > 64:
        raise DomainError(_l("This form has expired; please try again."), code="token")
    wallet, pool = ledger.member_account(session, user.id), pool_account(session, family)
    try:
        posting = ledger.transfer(session, wallet, pool, points, "pool_in", key=f"family:{family.id}:in:{user.id}:{token}",
                                  memo=f"family #{family.id}", actor_id=user.id, ref=("family", str(family.id)), now=now)
    except ledger.InsufficientPoints as err:
        raise InsufficientPoints(_l("You do not have that many points."), **err.params) from err
    if not posting.replayed:
        _log(session, family, "contributed", actor=user.id, subject=user.id, points=points, transfer=posting.transfer,
             now=now, consent=CONSENT_ONE_OFF % {"points": points, "family": family.name})
    session.flush()
    return posting.transfer


def set_pool_percent(session: Session, user: User, percent, consent: bool, now: datetime | None = None) -> FamilyMember:
    """Opt in (or out, with 0) to sending N% of every future award to the pool."""
    now = now or utcnow()
    family, me = get_family_for(session, user)
    if not is_whole(percent, 0, 100):
        raise DomainError(_l("Choose a share from 0 to 100%."), code="percent")
    if percent and not consent:
        raise DomainError(_l("Tick the box to confirm you agree to send this share of your earnings to the pool."),
                          code="consent")
    me.pool_percent, me.pool_percent_since = percent, now if percent else None
    _log(session, family, "percent", actor=user.id, subject=user.id, now=now, percent=percent)
    session.flush()
    return me


def award_share(session: Session, member_id: int, points: int) -> tuple[Account, int] | None:
    """For the rules engine at award time: (the pool account, floor(points × N / 100)) for a member
    who opted in to send N% of what they earn to their family pool; None otherwise."""
    member = session.scalar(select(FamilyMember).where(FamilyMember.user_id == member_id))
    if member is None or not member.pool_percent or member.family.status != "active":
        return None
    share = points * member.pool_percent // 100
    return (pool_account(session, member.family), share) if share > 0 else None


def pool_spendable(session: Session, user: User, now: datetime | None = None) -> int:
    """Points of the family pool the user may redeem from now: the pool's balance, within what their
    monthly limit leaves; 0 without an active family, pool rights or an unfrozen account. A read, for
    showing what they can afford; ``pool_for_checkout`` checks the same under lock when they redeem."""
    member = membership(session, user)
    if member is None or member.family.status != "active" or not (member.role == "head" or member.can_redeem):
        return 0
    own = ledger.find_account(session, "member", user.id)
    pool = ledger.find_account(session, "family", member.family.id, "pool")
    if pool is None or (own is not None and own.frozen):
        return 0
    points = ledger.spendable(session, pool, now or utcnow())
    if member.monthly_limit is not None:
        points = min(points, member.monthly_limit - used_this_month(session, member.family, user.id, now))
    return max(0, points)


def pool_for_checkout(session: Session, user: User, points: int, now: datetime | None = None) -> Account:
    """The pool account the user may redeem ``points`` from, locked for the rest of the transaction,
    after checking their pool rights and monthly limit under that lock."""
    now = now or utcnow()
    member = membership(session, user)
    if member is None:
        raise DomainError(_l("You are not in a family."), code="no-family")
    if ledger.member_account(session, user.id).frozen:  # a frozen member may not spend the pool either
        raise ledger.AccountFrozen(ledger.FROZEN_MESSAGE)
    pool_id = pool_account(session, member.family).id
    ledger.lock_accounts(session, [pool_id])
    member = session.scalar(select(FamilyMember).where(FamilyMember.user_id == user.id)
                            .execution_options(populate_existing=True))
    if member is None or member.family.status != "active":
        raise DomainError(_l("You are not in a family."), code="no-family")
    if not (member.role == "head" or member.can_redeem):
        raise DomainError(_l("The head of your family has not allowed you to redeem from the pool."),
                          code="no-pool-rights")
    if member.monthly_limit is not None:
        left = member.monthly_limit - used_this_month(session, member.family, user.id, now)
        if points > left:
            raise DomainError(_l("This is over your monthly limit for the family pool (%(num)s points left this month).",
                                 num=f"{max(0, left):,}"), code="monthly-limit")
    return session.get(Account, pool_id)


# ---------------------------------------------------------------- leaving and dissolving

def policy(session: Session) -> dict:
    """The published rules on what happens to pooled points (shown before anyone confirms)."""
    settings = settings_of(session)
    return {"leave": settings.family_leave_policy, "dissolve": "pro_rata", "member_limit": settings.family_member_limit,
            "invite_days": settings.family_invite_days, "gift_daily_limit": settings.family_gift_daily_limit,
            "gift_monthly_limit": settings.family_gift_monthly_limit,
            "gift_outside_family": settings.family_gift_outside_family}


def _depart(session, family, member, actor, kind, now) -> int:
    """Remove a membership under the leave policy; returns the points given back (if any)."""
    back = 0
    leave_policy = settings_of(session).family_leave_policy
    if leave_policy == "return":
        share = next((s for s in shares(session, family) if s.member.id == member.id), None)
        pool_id, wallet_id = pool_account(session, family).id, ledger.member_account(session, member.user_id).id
        pool = ledger.lock_accounts(session, [pool_id, wallet_id])[pool_id]  # both at once, in id order
        back = min(share.unspent if share else 0, ledger.spendable(session, pool, now))
        if back > 0:
            ledger.transfer(session, pool, ledger.member_account(session, member.user_id), back, "pool_out",
                            key=f"family:{family.id}:leave:{member.user_id}:{secrets.token_hex(8)}", memo=f"family #{family.id}",
                            actor_id=actor, ref=("family", str(family.id)), now=now)
    _log(session, family, kind, actor=actor, subject=member.user_id, points=back, now=now,
         policy=leave_policy)
    session.delete(member)
    session.flush()
    session.expire(family, ["members"])
    return back


def leave(session: Session, user: User, now: datetime | None = None) -> int:
    """Leave the family. The head hands over first, unless they are the last member (then the family
    is dissolved)."""
    now = now or utcnow()
    family, me = get_family_for(session, user)
    lock(session, Family, [family.id])
    if me.role == "head":
        if len(family.members) > 1:
            raise DomainError(_l("Hand over the head role to another member before you leave, or dissolve the family."),
                              code="head-must-hand-over")
        dissolve(session, user, now)
        return 0
    return _depart(session, family, me, user.id, "left", now)


def leave_for_good(session: Session, user_id: int, now: datetime | None = None) -> None:
    """A member deleting their account leaves their family, if they are in one, as ``leave`` does
    (a head still in a family with others is refused)."""
    user = session.get(User, user_id)
    if user is not None and membership(session, user) is not None:
        leave(session, user, now)


def remove_member(session: Session, user: User, member_user_id: int, now: datetime | None = None) -> int:
    """The head removes a member; they lose access at once."""
    now = now or utcnow()
    family, me = get_family_for(session, user)
    _require_head(me)
    if member_user_id == user.id:
        raise DomainError(_l("You cannot remove yourself; leave or dissolve the family instead."), code="self-remove")
    lock(session, Family, [family.id])
    member = _other(session, family, member_user_id)
    return _depart(session, family, member, user.id, "removed", now)


def dissolution_plan(session: Session, family: Family, available: int) -> list[tuple[FamilyMember, int]]:
    """Split ``available`` among current members pro rata to their unspent contributions (largest
    remainders first, then by join order); equally if no one has any. The parts sum to ``available``."""
    members = list(family.members)
    if not members or available <= 0:
        return [(m, 0) for m in members]
    weights = {s.member.id: s.unspent for s in shares(session, family)}
    if sum(weights.values()) == 0:
        weights = {m.id: 1 for m in members}
    total = sum(weights.values())
    exact = [(m, available * weights[m.id] // total, available * weights[m.id] % total) for m in members]
    left = available - sum(part for _, part, _ in exact)
    order = sorted(range(len(exact)), key=lambda i: (-exact[i][2], exact[i][0].id))
    parts = [part for _, part, _ in exact]
    for i in order[:left]:
        parts[i] += 1
    return [(m, parts[i]) for i, (m, _, _) in enumerate(exact)]


def dissolve(session: Session, user: User, now: datetime | None = None) -> list[tuple[int, int]]:
    """Dissolve the family (head only): the pool is returned to the members pro rata to their unspent
    contributions, every lot keeping its expiry date; then everyone leaves. Returns (user id, points)."""
    now = now or utcnow()
    family, me = get_family_for(session, user)
    _require_head(me)
    family = lock(session, Family, [family.id])[family.id]
    pool_id = pool_account(session, family).id
    wallets = [ledger.member_account(session, m.user_id).id for m in family.members]
    pool = ledger.lock_accounts(session, [pool_id, *wallets])[pool_id]  # the pool and every wallet at once
    if family.status != "active":
        raise NotFound(_l("You are not in a family."))
    plan = dissolution_plan(session, family, ledger.spendable(session, pool, now))
    legs = [ledger.Leg(pool, ledger.member_account(session, m.user_id), pts, "pool_out", f"family #{family.id}")
            for m, pts in plan if pts > 0]
    posting = None
    if legs:
        posting = ledger.post(session, key=f"family:{family.id}:dissolve", legs=legs, actor_id=user.id,
                              ref=("family", str(family.id)), now=now)
    result = [(m.user_id, pts) for m, pts in plan]
    _log(session, family, "dissolved", actor=user.id, points=sum(p for _, p in result), now=now,
         returned={str(uid): pts for uid, pts in result},
         transfer=posting.transfer if posting else None)
    for m in list(family.members):
        session.delete(m)
    for inv in pending_invitations(session, family, now):
        inv.status = "revoked"
    family.status, family.dissolved_at = "dissolved", now
    session.flush()
    return result


def settle_refund(session: Session, pool: Account, member_id: int, points: int, key: str, now=None) -> None:
    """A refund that lands in the pool of a family dissolved since the order goes on to the member
    who redeemed, so no points are stranded in a pool nobody can use."""
    family = session.get(Family, pool.owner_id)
    if family is None or family.status == "active" or points <= 0:
        return
    ledger.transfer(session, pool, ledger.member_account(session, member_id), points, "pool_out", key=key,
                    memo=f"family #{family.id}", actor_id=member_id, ref=("family", str(family.id)), now=now)


# ---------------------------------------------------------------- gifts

@dataclass
class GiftPreview:
    recipient: User
    points: int
    masked_code: str
    left_today: int
    left_this_month: int


def gift_limits_left(session: Session, user: User, now: datetime | None = None) -> tuple[int, int]:
    now = now or utcnow()

    def since(start):
        return int(session.scalar(select(func.coalesce(func.sum(FamilyGift.points), 0)).where(
            FamilyGift.sender_id == user.id, FamilyGift.created_at >= start)) or 0)

    settings = settings_of(session)
    return (max(0, settings.family_gift_daily_limit - since(local_period_start("day", now))),
            max(0, settings.family_gift_monthly_limit - since(local_period_start("month", now))))


def gift_recipients(session: Session, user: User) -> list[FamilyMember]:
    member = membership(session, user)
    if member is None:
        return []
    return [m for m in member.family.members if m.user_id != user.id]


def preview_gift(session: Session, user: User, recipient_code: str, points, now: datetime | None = None) -> GiftPreview:
    """Check a gift before it is confirmed: the recipient's name and masked member code, the limits."""
    points = _points(points)
    code = (recipient_code or "").strip().upper()
    recipient = session.scalar(select(User).where(User.member_code == code, User.role == "member")) if code else None
    if recipient is None:
        raise DomainError(_l("No member has this member code."), code="unknown-member")
    if recipient.id == user.id:
        raise DomainError(_l("You cannot gift points to yourself."), code="self-gift")
    mine, theirs = membership(session, user), membership(session, recipient)
    same = mine is not None and theirs is not None and mine.family_id == theirs.family_id \
        and mine.family.status == "active"
    if not same and not settings_of(session).family_gift_outside_family:
        raise DomainError(_l("You can only gift points to members of your family."), code="not-family")
    day, month = gift_limits_left(session, user, now)
    if points > day or points > month:
        raise DomainError(_l("This is over your gift limit: %(day)s points left today, %(month)s this month.",
                             day=f"{day:,}", month=f"{month:,}"), code="gift-limit")
    return GiftPreview(recipient, points, mask_code(recipient.member_code), day, month)


def gift_points(session: Session, user: User, recipient_code: str, points, token: str,
                now: datetime | None = None, note: str = "") -> FamilyGift:
    """Gift points to a family member (after confirmation). The lots move with their expiry dates.
    Limits are checked under the sender's account lock, so parallel gifts cannot exceed them."""
    now = now or utcnow()
    if not token or len(token) > 64:
        raise DomainError(_l("This form has expired; please try again."), code="token")
    wallet = ledger.member_account(session, user.id)
    code = (recipient_code or "").strip().upper()
    recipient_id = session.scalar(select(User.id).where(User.member_code == code, User.role == "member")) if code else None
    # sender and recipient at once, in id order: two members gifting each other cannot deadlock
    ledger.lock_accounts(session, [wallet.id] + ([ledger.member_account(session, recipient_id).id]
                                                 if recipient_id not in (None, user.id) else []))
    key = f"gift:{user.id}:{token}"
    done = session.scalar(select(FamilyGift).join(Transfer, Transfer.id == FamilyGift.transfer_id)
                          .where(Transfer.idempotency_key == key))
    if done is not None:
        return done
    preview = preview_gift(session, user, recipient_code, points, now)
    mine = membership(session, user)
    try:
        posting = ledger.transfer(session, wallet, ledger.member_account(session, preview.recipient.id), preview.points,
                                  "gift", key=key, memo="gift", actor_id=user.id, ref=("gift", token), now=now)
    except ledger.InsufficientPoints as err:
        raise InsufficientPoints(_l("You do not have that many points."), **err.params) from err
    note = " ".join((note or "").split())[:140]
    gift = FamilyGift(sender_id=user.id, recipient_id=preview.recipient.id, points=preview.points, note=note,
                      family_id=mine.family_id if mine else None, transfer_id=posting.transfer.id, created_at=now)
    session.add(gift)
    if mine is not None:
        _log(session, mine.family, "gift", actor=user.id, subject=preview.recipient.id, points=preview.points,
             transfer=posting.transfer, now=now)
    session.flush()
    gift_sent.send(session, gift_id=gift.id, sender_id=user.id, recipient_id=gift.recipient_id, points=gift.points,
                   sender_name=user.display_name, note=note)
    return gift


def count_families_headed_by(session: Session, member_id: int) -> int:
    """How many families the member heads (a founder heads the family they created)."""
    return int(session.scalar(select(func.count(Family.id)).where(Family.head_id == member_id)) or 0)

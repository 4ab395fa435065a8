"""Charity use cases: projects, donations with matching and receipts, monthly pledges, payouts, closing.

Callers own the transaction (the edge, ``mall.edge.run``); functions take the acting user, flush, never commit.

Matching is funded from the sponsor's own ledger account: a merchant's ("merchant", id, "matching")
account, or the programme's ("system", 0, "charity_match") account. Like an issuance account neither is
guarded: its negative balance is what the sponsor has committed, and the campaign's cap bounds it.

Closing policy (published on every project page): when a project closes, whatever its account still
holds is paid out to the same organisation as a final payout, at the project's rate, with a reference.
"""
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.orm import Session

from mall import events
from mall.account import service as accounts
from mall.account.models import User
from mall.charity.models import CAUSES, STATUSES, Donation, MatchCampaign, Payout, Pledge, Project
from mall.clock import SHANGHAI, local_month, utcnow
from mall.db import lock
from mall.errors import Conflict, DomainError, InsufficientPoints, NotFound
from mall.family import service as family
from mall.ledger import service as ledger
from mall.ledger.models import Account
from mall.coalition.models import Merchant
from mall import media
from mall.media import store_image
from mall.references import Reference
from mall.validation import is_whole

MAX_POINTS = 10**9
MAX_IMAGE_BYTES = media.MAX_IMAGE_BYTES
IMAGE_SIZES = {"large": 1200, "thumb": 480}
QUICK_AMOUNTS = (100, 500, 1000, 5000)
PROGRAMME_MATCH_ACCOUNT = "charity_match"


def _points(value, field_message=None) -> int:
    """Strict whole points: booleans, floats, strings and absurd numbers are refused."""
    if not is_whole(value, 1, MAX_POINTS):
        raise DomainError(field_message or _l("Enter a whole number of points, at least 1."), code="invalid-amount")
    return value


def _require_operator(user: User) -> None:
    if user is None or not user.is_operator:
        raise NotFound(_l("No such page."))


def _require_member(user: User) -> None:
    if user is None or user.role != "member":
        raise DomainError(_l("Only members can donate points."), code="not-a-member")


# ---------------------------------------------------------------- projects

def project_account(session: Session, project: Project) -> Account:
    return ledger.open_account(session, "charity", project.id, "main")


def find_project(session: Session, project_id: int) -> Project | None:
    """The project, or None."""
    return session.get(Project, project_id)


def get_project(session: Session, project_id: int, lock_row: bool = False) -> Project:
    """The project, or NotFound (a 404 in every view)."""
    if lock_row:
        project = lock(session, Project, [project_id]).get(project_id)
    else:
        project = find_project(session, project_id)
    if project is None:
        raise NotFound(_l("No such project."))
    return project


def get_project_for(session: Session, operator: User, project_id: int, lock_row: bool = False) -> Project:
    """A project an operator may manage; NotFound for anyone else."""
    _require_operator(operator)
    return get_project(session, project_id, lock_row)


def _status_clause(status: str, now: datetime):
    started, ended = Project.starts_at <= now, Project.ends_at <= now
    is_open = and_(Project.closed_at.is_(None), started, ~ended)
    return {
        "upcoming": and_(Project.closed_at.is_(None), Project.starts_at > now, ~ended),
        "open": and_(is_open, Project.raised_points < Project.goal_points),
        "funded": and_(is_open, Project.raised_points >= Project.goal_points),
        "closed": or_(Project.closed_at.is_not(None), ended),
    }[status]


@dataclass
class ProjectPage:
    items: list[Project]
    page: int
    has_next: bool


def projects(session: Session, now: datetime, *, cause: str | None = None, status: str | None = None,
             page: int = 1, per_page: int = 20) -> ProjectPage:
    """Projects for the public list, open ones first, newest first; filters by cause and status."""
    stmt = select(Project)
    if cause in CAUSES:
        stmt = stmt.where(Project.cause == cause)
    if status in STATUSES:
        stmt = stmt.where(_status_clause(status, now))
    page = max(1, min(page, 500))
    rank = case((or_(Project.closed_at.is_not(None), Project.ends_at <= now), 2),
                (Project.starts_at > now, 1), else_=0)  # open and funded, then upcoming, then closed
    rows = session.scalars(stmt.order_by(rank, Project.starts_at.desc(), Project.id.desc())
                           .offset((page - 1) * per_page).limit(per_page + 1)).all()
    return ProjectPage(rows[:per_page], page, len(rows) > per_page)


def totals(session: Session) -> dict:
    """Programme-wide charity totals for the public list."""
    raised, paid = session.execute(select(func.coalesce(func.sum(Project.raised_points), 0),
                                          func.coalesce(func.sum(Project.paid_out_points), 0))).one()
    donors = session.scalar(select(func.count(func.distinct(Donation.donor_id))))
    return {"raised": int(raised), "paid_out": int(paid), "donors": int(donors or 0)}


@dataclass
class ProjectDraft:
    cause: str
    organisation_zh: str
    organisation_en: str
    title_zh: str
    title_en: str
    story_zh: str
    story_en: str
    goal_points: int
    fen_per_100_points: int
    starts_at: datetime
    ends_at: datetime


def _check_draft(draft: ProjectDraft) -> None:
    if draft.cause not in CAUSES:
        raise DomainError(_l("Choose a cause."), code="invalid-cause")
    _points(draft.goal_points, _l("The goal must be a whole number of points, at least 1."))
    if not is_whole(draft.fen_per_100_points, 1, 100000):
        raise DomainError(_l("The value per 100 points must be between 1 and 100,000 fen."), code="invalid-value")
    for when in (draft.starts_at, draft.ends_at):
        if when.tzinfo is None:
            raise ValueError("project dates must be aware datetimes")
    if draft.ends_at <= draft.starts_at:
        raise DomainError(_l("The end date must be after the start date."), code="invalid-dates")
    for text in (draft.organisation_zh, draft.organisation_en, draft.title_zh, draft.title_en):
        if not text or not text.strip():
            raise DomainError(_l("Give the organisation and the title in both languages."), code="missing-text")


def create_project(session: Session, operator: User, draft: ProjectDraft) -> Project:
    """Create a project and its guarded ledger account."""
    _require_operator(operator)
    _check_draft(draft)
    project = Project(**{k: (v.strip() if isinstance(v, str) else v) for k, v in draft.__dict__.items()},
                      created_by=operator.id)
    session.add(project)
    session.flush()
    project_account(session, project)
    return project


def update_project(session: Session, operator: User, project_id: int, draft: ProjectDraft) -> Project:
    """Edit a project's words, goal, rate and dates (a closed project is final)."""
    project = get_project_for(session, operator, project_id, lock_row=True)
    if project.closed_at is not None:
        raise Conflict(_l("A closed project cannot be changed."), code="closed")
    _check_draft(draft)
    for key, value in draft.__dict__.items():
        setattr(project, key, value.strip() if isinstance(value, str) else value)
    session.flush()
    return project


def add_project_image(session: Session, operator: User, project_id: int, data: bytes, media_root: str) -> str:
    """Check an uploaded image by its content, resize it to WebP and make it the project's cover."""
    project = get_project_for(session, operator, project_id, lock_row=True)
    project.cover_image, _sizes = store_image(data, media_root, f"charity/{project.id}", IMAGE_SIZES)
    session.flush()
    return project.cover_image


# ---------------------------------------------------------------- reading a project

def donor_wall(session: Session, project: Project, limit: int = 30) -> list[Donation]:
    """The latest donations, newest first. Anonymous ones carry no name (``public_name`` is None)."""
    return session.scalars(select(Donation).where(Donation.project_id == project.id)
                           .order_by(Donation.id.desc()).limit(limit)).all()


def payouts(session: Session, project: Project) -> list[Payout]:
    return session.scalars(select(Payout).where(Payout.project_id == project.id).order_by(Payout.id.desc())).all()


def campaigns(session: Session, project: Project) -> list[MatchCampaign]:
    return session.scalars(select(MatchCampaign).where(MatchCampaign.project_id == project.id)
                           .order_by(MatchCampaign.starts_at, MatchCampaign.id)).all()


def running_campaign(session: Session, project: Project, now: datetime) -> MatchCampaign | None:
    """The campaign that matches a donation made now: the earliest-started one with cap left."""
    return session.scalar(select(MatchCampaign).where(
        MatchCampaign.project_id == project.id, MatchCampaign.starts_at <= now, MatchCampaign.ends_at > now,
        MatchCampaign.matched_points < MatchCampaign.cap_points,
    ).order_by(MatchCampaign.starts_at, MatchCampaign.id).limit(1))


def held_points(session: Session, project: Project) -> int:
    """What the project's account holds now (raised, less paid out)."""
    return project_account(session, project).balance


def held_by_project(session: Session, projects: list[Project]) -> dict[int, int]:
    """``held_points`` of many projects in one query (a project without an account holds 0)."""
    held = dict(session.execute(select(Account.owner_id, Account.balance).where(
        Account.owner_kind == "charity", Account.name == "main",
        Account.owner_id.in_([p.id for p in projects]))).all()) if projects else {}
    return {p.id: held.get(p.id, 0) for p in projects}


# ---------------------------------------------------------------- donating

def month_of(now: datetime) -> str:
    return local_month(now)


def _month_end(now: datetime) -> datetime:
    local = now.astimezone(SHANGHAI)
    first_next = (local.replace(day=1, hour=0, minute=0, second=0, microsecond=0) + timedelta(days=32)).replace(day=1)
    return first_next


def expiring_this_month(session: Session, member: User, now: datetime | None = None) -> int:
    """Points of the member that expire before the end of this month (Asia/Shanghai)."""
    now = now or utcnow()
    end = _month_end(now)
    days = (end - now).days + 1
    wallet = ledger.member_account(session, member.id)
    return sum(points for at, points in ledger.expiring_summary(session, wallet, now, days) if at <= end)


def _receipt_number(donation: Donation) -> str:
    return f"CH{donation.created_at.astimezone(SHANGHAI):%Y%m%d}-{donation.id:07d}"


@dataclass
class Donated:
    donation: Donation
    replayed: bool = False


def donate(session: Session, member: User, project_id: int, points, *, anonymous: bool, token: str,
           now: datetime | None = None, _pledge: Pledge | None = None, _month: str | None = None,
           source: str = "own") -> Donated:
    """Give points to a project, with the running campaign's match, in one ledger posting; from the
    member's own points or, with ``source="family"``, from their family pool if the head allows it.

    The same ``token`` again returns the first donation and moves nothing (a double-clicked form)."""
    now = now or utcnow()
    _require_member(member)
    points = _points(points)
    if not token or len(token) > 64:
        raise DomainError(_l("This form has expired. Please try again."), code="invalid-token")
    # The canonical order (mall.db): the project, then its match campaign, then the accounts at once.
    project = get_project(session, project_id, lock_row=True)
    campaign = running_campaign(session, project, now)
    if campaign is not None:
        campaign = lock(session, MatchCampaign, [campaign.id])[campaign.id]
    if source == "family":  # the pool alone first (rights and monthly limit under its lock): retried if need be
        wallet = family.pool_for_checkout(session, member, points, now)
    else:
        wallet = ledger.member_account(session, member.id)
    target = project_account(session, project)
    account_ids = [wallet.id, target.id] + ([campaign.account_id] if campaign else [])
    locked = ledger.lock_accounts(session, account_ids)
    done = session.scalar(select(Donation).where(Donation.donor_id == member.id, Donation.token == token))
    if done is not None:
        return Donated(done, replayed=True)
    if not project.accepts_donations(now):
        raise Conflict(_l("This project is not accepting donations."), code="not-open")
    have = ledger.spendable(session, locked[wallet.id], now)
    if have < points:
        raise InsufficientPoints(_l("Not enough points: you have %(num)s.", num=f"{max(have, 0):,}"),
                                 needed=points - max(have, 0))
    match = 0
    if campaign is not None and campaign.running(now):
        match = min(points * campaign.match_percent // 100, campaign.cap_points - campaign.matched_points)
    first_gift = session.scalar(select(Donation.id).where(
        Donation.project_id == project.id, Donation.donor_id == member.id).limit(1)) is None
    donation = Donation(project_id=project.id, donor_id=member.id, points=points, matched_points=match,
                        campaign_id=campaign.id if match else None, value_fen=project.value_fen(points),
                        receipt_number=f"tmp-{uuid.uuid4().hex[:24]}", token=token,
                        public_name=None if anonymous else member.display_name,
                        pledge_id=_pledge.id if _pledge else None, pledge_month=_month, created_at=now)
    session.add(donation)
    session.flush()
    donation.receipt_number = _receipt_number(donation)
    legs = [ledger.Leg(locked[wallet.id], locked[target.id], points, "donate", donation.receipt_number)]
    if match:
        legs.append(ledger.Leg(locked[campaign.account_id], locked[target.id], match, "match",
                               donation.receipt_number))
    try:
        posting = ledger.post(session, key=f"charity:{member.id}:{token}", legs=legs, actor_id=member.id,
                              ref=("charity_donation", str(donation.id)), now=now)
    except ledger.InsufficientPoints:
        raise InsufficientPoints(_l("Not enough points: you have %(num)s.", num=f"{max(have, 0):,}"),
                                 needed=points - max(have, 0))
    donation.transfer_id = posting.transfer.id
    project.raised_points += points + match
    project.donor_count += 1 if first_gift else 0
    if match:
        campaign.matched_points += match
    session.flush()
    events.donation_made.send(session, donation_id=donation.id, donor_id=member.id, project_id=project.id,
                              points=points, receipt_number=donation.receipt_number, project_zh=project.title_zh,
                              project_en=project.title_en, pledge=_pledge is not None)
    return Donated(donation)


def get_receipt_for(session: Session, user: User, number: str) -> Donation:
    """A receipt its donor (or an operator) may see; NotFound for anyone else."""
    donation = session.scalar(select(Donation).where(Donation.receipt_number == (number or "").strip().upper()))
    if donation is None or (donation.donor_id != user.id and not user.is_operator):
        raise NotFound(_l("No such receipt."))
    return donation


def donor_of(session: Session, donation: Donation) -> User:
    """Who gave a donation, as their receipt names them."""
    return session.get(User, donation.donor_id)


def member_donations(session: Session, member: User, before_id: int | None = None, limit: int = 20) -> list[Donation]:
    stmt = select(Donation).where(Donation.donor_id == member.id)
    if before_id:
        stmt = stmt.where(Donation.id < before_id)
    return session.scalars(stmt.order_by(Donation.id.desc()).limit(limit)).all()


def member_totals(session: Session, member: User) -> dict:
    points, matched, value = session.execute(select(
        func.coalesce(func.sum(Donation.points), 0), func.coalesce(func.sum(Donation.matched_points), 0),
        func.coalesce(func.sum(Donation.value_fen), 0)).where(Donation.donor_id == member.id)).one()
    return {"points": int(points), "matched": int(matched), "value_fen": int(value)}


# ---------------------------------------------------------------- monthly pledges

def pledge_monthly(session: Session, member: User, project_id: int, points, *, anonymous: bool) -> Pledge:
    """Promise ``points`` a month to an open project; collected by ``flask charity run-pledges``."""
    _require_member(member)
    points = _points(points)
    project = get_project(session, project_id)
    if not project.accepts_donations(utcnow()):
        raise Conflict(_l("This project is not accepting donations."), code="not-open")
    existing = session.scalar(select(Pledge).where(
        Pledge.member_id == member.id, Pledge.project_id == project.id, Pledge.status.in_(("active", "paused"))))
    if existing is not None:
        raise Conflict(_l("You already have a monthly pledge to this project: change it below."), code="duplicate")
    pledge = Pledge(project_id=project.id, member_id=member.id, points_per_month=points, anonymous=anonymous)
    session.add(pledge)
    session.flush()
    return pledge


def get_pledge_for(session: Session, member: User, pledge_id: int) -> Pledge:
    pledge = lock(session, Pledge, [pledge_id]).get(pledge_id)
    if pledge is None or pledge.member_id != member.id:
        raise NotFound(_l("No such pledge."))
    return pledge


PLEDGE_ACTIONS = {"pause": ("active", "paused"), "resume": ("paused", "active"),
                  "cancel": (("active", "paused"), "cancelled")}


def change_pledge(session: Session, member: User, pledge_id: int, action: str) -> Pledge:
    """Pause, resume or cancel one of the member's pledges."""
    pledge = get_pledge_for(session, member, pledge_id)
    allowed, target = PLEDGE_ACTIONS[action]
    if pledge.status not in ((allowed,) if isinstance(allowed, str) else allowed):
        raise Conflict(_l("This pledge cannot be changed that way now."), code="pledge-state")
    pledge.status, pledge.changed_at = target, utcnow()
    session.flush()
    return pledge


def member_pledges(session: Session, member: User) -> list[Pledge]:
    return session.scalars(select(Pledge).where(Pledge.member_id == member.id).order_by(Pledge.id.desc())).all()


def pledges_to_run(session: Session, after_id: int = 0, limit: int = 200) -> list[int]:
    return session.scalars(select(Pledge.id).where(Pledge.status == "active", Pledge.id > after_id)
                           .order_by(Pledge.id).limit(limit)).all()


def _pledge_note(project: Project) -> dict:
    return {"project_id": project.id, "title_zh": project.title_zh, "title_en": project.title_en}


def collect_pledge(session: Session, pledge_id: int, month: str, now: datetime | None = None) -> str:
    """Collect one pledge for ``month`` ("YYYY-MM"): collected, already, skipped, frozen, ended, waiting or
    inactive.

    At most one donation per pledge and month (a unique row and the ledger's idempotency key). A short
    balance skips the month and tells the member once; a closed project ends the pledge."""
    now = now or utcnow()
    pledge = session.get(Pledge, pledge_id)
    if pledge is None:
        return "inactive"
    pledge = lock(session, Pledge, [pledge_id])[pledge_id]  # the canonical order: the pledge, project, account
    project = get_project(session, pledge.project_id, lock_row=True)
    wallet = ledger.member_account(session, pledge.member_id)
    locked = ledger.lock_accounts(session, [wallet.id])
    if pledge.status != "active":
        return "inactive"
    if session.scalar(select(Donation.id).where(Donation.pledge_id == pledge.id,
                                                Donation.pledge_month == month)) is not None:
        return "already"
    status = project.status_at(now)
    if status == "closed":
        pledge.status, pledge.changed_at = "ended", now
        accounts.notify(session, pledge.member_id, "charity_pledge_ended", _pledge_note(project),
                        dedupe_key=f"charity:pledge-ended:{pledge.id}")
        return "ended"
    if status == "upcoming":
        return "waiting"
    member = session.get(User, pledge.member_id)
    if locked[wallet.id].frozen:  # a fraud case froze the member's spending: this month is skipped
        _skipped(session, pledge, month, "frozen")
        return "frozen"
    if ledger.spendable(session, locked[wallet.id], now) < pledge.points_per_month:
        accounts.notify(session, member.id, "charity_pledge_skipped",
                        _pledge_note(project) | {"points": pledge.points_per_month, "month": month},
                        dedupe_key=f"charity:pledge-short:{pledge.id}:{month}")
        _skipped(session, pledge, month, "insufficient-points")
        return "skipped"
    donated = donate(session, member, project.id, pledge.points_per_month, anonymous=pledge.anonymous,
                     token=f"pledge:{pledge.id}:{month}", now=now, _pledge=pledge, _month=month)
    if donated.replayed:
        return "already"
    events.pledge_collected.send(session, pledge_id=pledge.id, donor_id=member.id, project_id=project.id,
                                 points=donated.donation.points, donation_id=donated.donation.id, month=month,
                                 project_zh=project.title_zh, project_en=project.title_en)
    return "collected"


def _skipped(session: Session, pledge: Pledge, month: str, reason: str) -> None:
    session.flush()
    project = session.get(Project, pledge.project_id)
    events.pledge_skipped.send(session, pledge_id=pledge.id, donor_id=pledge.member_id,
                               project_id=pledge.project_id, reason=reason, month=month,
                               project_zh=project.title_zh, project_en=project.title_en)


# ---------------------------------------------------------------- a member deleting their account

def forget_donor(session: Session, user_id: int, *, donate_to: int | None = None, token: str = "",
                 now: datetime | None = None) -> None:
    """A member deleting their account: their spendable points go to ``donate_to`` first (anonymously,
    if they chose a project), their pledges are cancelled and their name leaves every donor wall."""
    now = now or utcnow()
    if donate_to is not None:
        lock(session, Project, [donate_to])  # the project before the account (the canonical order, mall.db)
        wallet_id = ledger.member_account(session, user_id).id
        points = ledger.spendable(session, ledger.lock_accounts(session, [wallet_id])[wallet_id], now)
        if points > 0:
            donate(session, session.get(User, user_id), donate_to, points, anonymous=True,
                   token=token or secrets.token_hex(16), now=now)
    session.execute(update(Pledge).where(Pledge.member_id == user_id, Pledge.status.in_(("active", "paused")))
                    .values(status="cancelled"))
    session.execute(update(Donation).where(Donation.donor_id == user_id).values(public_name=None))


# ---------------------------------------------------------------- matching

def committed_matching(session: Session, merchant_id: int) -> int:
    """Points a merchant has matched so far (read only: no account is opened for a page view)."""
    account = ledger.find_account(session, "merchant", merchant_id, "matching")
    return -account.balance if account is not None else 0


def match_account(session: Session, merchant_id: int | None) -> Account:
    """The sponsor's matching account: the merchant's own, or the programme's."""
    if merchant_id is None:
        return ledger.open_account(session, "system", 0, PROGRAMME_MATCH_ACCOUNT)
    return ledger.open_account(session, "merchant", merchant_id, "matching")


def create_match_campaign(session: Session, actor: User, project_id: int, *, merchant_id: int | None,
                          match_percent, cap_points, starts_at: datetime, ends_at: datetime) -> MatchCampaign:
    """Set up a matching campaign funded by a merchant (or, with no merchant, by the programme).

    An operator may name any approved merchant or the programme; merchant staff fund it from their own
    merchant's account only, whatever ``merchant_id`` they send."""
    if actor is not None and actor.is_merchant_staff:
        merchant_id = actor.merchant_id
        project = get_project(session, project_id)
    else:
        project = get_project_for(session, actor, project_id)
    if not project.accepts_donations(utcnow()) and project.status_at(utcnow()) != "upcoming":
        raise Conflict(_l("This project is not accepting donations."), code="not-open")
    if project.closed_at is not None:
        raise Conflict(_l("A closed project cannot be changed."), code="closed")
    cap_points = _points(cap_points, _l("The cap must be a whole number of points, at least 1."))
    if not is_whole(match_percent, 1, 1000):
        raise DomainError(_l("The match must be from 1% to 1000%."), code="invalid-percent")
    if ends_at <= starts_at:
        raise DomainError(_l("The end date must be after the start date."), code="invalid-dates")
    if merchant_id is None:
        sponsor_zh, sponsor_en = "绿色积分商城", "Green Points Mall"
    else:
        merchant = session.get(Merchant, merchant_id)
        if merchant is None or merchant.status != "approved":
            raise DomainError(_l("Choose an approved merchant."), code="invalid-merchant")
        sponsor_zh, sponsor_en = merchant.name_zh, merchant.name_en
    campaign = MatchCampaign(project_id=project.id, merchant_id=merchant_id, sponsor_zh=sponsor_zh,
                             sponsor_en=sponsor_en, account_id=match_account(session, merchant_id).id,
                             match_percent=match_percent, cap_points=cap_points, starts_at=starts_at,
                             ends_at=ends_at, created_by=actor.id)
    session.add(campaign)
    session.flush()
    return campaign


# ---------------------------------------------------------------- payouts and closing

def pay_out(session: Session, operator: User, project_id: int, points, reference: str, note: str = "",
            now: datetime | None = None) -> Payout:
    """Convert points to yuan for the organisation: project account → the system payout account."""
    now = now or utcnow()
    project = get_project_for(session, operator, project_id)
    points = _points(points)
    reference = (reference or "").strip()
    if not 3 <= len(reference) <= 64:
        raise DomainError(_l("Give the payment reference (3 to 64 characters)."), code="invalid-reference")
    project = lock(session, Project, [project.id])[project.id]  # the project, then the accounts
    source, sink = project_account(session, project), ledger.system_account(session, "payout")
    locked = ledger.lock_accounts(session, [source.id, sink.id])
    if session.scalar(select(Payout.id).where(Payout.reference == reference)) is not None:
        raise Conflict(_l("A payout with this reference already exists."), code="duplicate-reference")
    held = locked[source.id].balance
    if points > held:
        raise Conflict(_l("A project cannot pay out more than it holds (%(num)s points).", num=f"{held:,}"),
                       code="over-payout")
    payout = Payout(project_id=project.id, points=points, value_fen=project.value_fen(points),
                    reference=reference, note=(note or "").strip()[:200], paid_at=now, created_by=operator.id)
    session.add(payout)
    session.flush()
    posting = ledger.post(session, key=f"charity-payout:{payout.id}",
                          legs=[ledger.Leg(locked[source.id], locked[sink.id], points, "payout", reference)],
                          actor_id=operator.id, ref=("charity_payout", str(payout.id)), now=now)
    payout.transfer_id = posting.transfer.id
    project.paid_out_points += points
    session.flush()
    return payout


def close_project(session: Session, operator: User, project_id: int, reference: str,
                  now: datetime | None = None) -> Project:
    """Close a project: the remainder is paid out to the same organisation; pledges end."""
    now = now or utcnow()
    project = get_project_for(session, operator, project_id)
    project = lock(session, Project, [project.id])[project.id]  # the project, then its account
    source = project_account(session, project)
    ledger.lock_accounts(session, [source.id])
    if project.closed_at is not None:
        raise Conflict(_l("This project is already closed."), code="closed")
    remainder = session.get(Account, source.id).balance
    if remainder:
        pay_out(session, operator, project.id, remainder, reference, note="closing remainder", now=now)
    project.closed_at = now
    project.closing_note = "remainder paid out" if remainder else "nothing left to pay out"
    for pledge in session.scalars(select(Pledge).where(Pledge.project_id == project.id,
                                                       Pledge.status.in_(("active", "paused")))):
        pledge.status, pledge.changed_at = "ended", now
        accounts.notify(session, pledge.member_id, "charity_pledge_ended", _pledge_note(project),
                        dedupe_key=f"charity:pledge-ended:{pledge.id}")
    session.flush()
    return project


def sponsored_campaigns(session: Session, staff: User) -> list[MatchCampaign]:
    """The campaigns the staff member's merchant funds, newest first."""
    if not staff.is_merchant_staff:
        raise NotFound(_l("No such page."))
    return session.scalars(select(MatchCampaign).where(MatchCampaign.merchant_id == staff.merchant_id)
                           .order_by(MatchCampaign.id.desc()).limit(100)).all()


def matchable_projects(session: Session, now: datetime) -> list[Project]:
    """Projects a sponsor can still match: not closed and not ended."""
    return session.scalars(select(Project).where(Project.closed_at.is_(None), Project.ends_at > now)
                           .order_by(Project.starts_at).limit(200)).all()


def approved_merchants(session: Session) -> list[Merchant]:
    return session.scalars(select(Merchant).where(Merchant.status == "approved").order_by(Merchant.id)).all()


def all_projects(session: Session, operator: User) -> list[Project]:
    _require_operator(operator)
    return session.scalars(select(Project).order_by(Project.id.desc()).limit(200)).all()


def count_donations_of(session: Session, member_id: int) -> int:
    """How many donations the member has made."""
    return int(session.scalar(select(func.count(Donation.id)).where(Donation.donor_id == member_id)) or 0)


def donation_references(session: Session, user_id: int, ids: set[str], locale: str) -> dict:
    """The statement's words for the member's donations ``ids``: the project, linking to the receipt."""
    wanted = {int(i) for i in ids if i.isdigit()}
    rows = session.execute(select(Donation, Project).join(Project, Project.id == Donation.project_id).where(
        Donation.id.in_(wanted), Donation.donor_id == user_id)).all() if wanted else []
    return {str(d.id): Reference(p.title(locale), "charity.receipt", {"number": d.receipt_number}) for d, p in rows}

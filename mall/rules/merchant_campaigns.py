"""A merchant's own campaigns: double points or a bonus on purchases at its tills, set up in its back
office within the limits the operator publishes in the rule set (``merchant_campaigns``: whether
they are allowed, the highest multiplier, the largest bonus, the longest run, how many may overlap).

The points come out of the merchant's issuance account like every point it issues, so its issuance
fee pays for them, and the engine adds them to the award as a ``merchant_campaign`` line named after
the campaign. Callers own the transaction (``mall.edge.run``)."""
from datetime import datetime, timedelta
from fractions import Fraction

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mall.account.models import User
from mall.clock import utcnow
from mall.coalition.models import Merchant
from mall.db import lock
from mall.errors import Conflict, DomainError, NotFound
from mall.rules import engine
from mall.rules.models import MERCHANT_CAMPAIGN_KINDS, MerchantCampaign
from mall.rules.service import config_of, rule_set_at

MAX_CATEGORIES = 5
START_SLACK = timedelta(minutes=5)  # "now" typed into a form is a few seconds in the past on arrival
MULTIPLIER_STEP = Fraction(1, 10)


def limits_at(session: Session, at: datetime | None = None) -> engine.MerchantLimits:
    """The limits in force at ``at`` (now by default)."""
    return config_of(rule_set_at(session, at or utcnow())).merchant_limits


def _staff_manager(actor: User, merchant: Merchant) -> None:
    if (actor is None or actor.role != "merchant" or actor.merchant_id != merchant.id
            or actor.merchant_role not in ("owner", "manager")):
        raise NotFound(_l("Not found."))


def _text(value, field: str, limit: int) -> str:
    text = (value or "").strip() if isinstance(value, str) else ""
    if not text or len(text) > limit:
        raise DomainError(_l("Give a name of 1 to %(num)s characters.", num=limit), code="invalid-campaign",
                          field=field)
    return text


def _categories(value) -> list[str]:
    if value in (None, ""):
        return []
    raw = value.split(",") if isinstance(value, str) else value
    if not isinstance(raw, (list, tuple)):
        raise DomainError(_l("List item categories separated by commas."), code="invalid-campaign", field="categories")
    names = []
    for part in raw:
        name = str(part).strip().lower()
        if not name:
            continue
        if len(name) > 40 or not all(ch.isalnum() or ch in "_-" for ch in name):
            raise DomainError(_l("Categories are short names such as grocery or refills."), code="invalid-campaign",
                              field="categories")
        if name not in names:
            names.append(name)
    if len(names) > MAX_CATEGORIES:
        raise DomainError(_l("At most %(num)s categories.", num=MAX_CATEGORIES), code="invalid-campaign",
                          field="categories")
    return names


def create(session: Session, actor: User, merchant: Merchant, *, kind: str, name_zh: str, name_en: str,
           multiplier=None, points=None, categories=None, starts_at: datetime, ends_at: datetime,
           now: datetime | None = None) -> MerchantCampaign:
    """Set up a campaign of the merchant's, checked against the limits in force when it starts."""
    now = now or utcnow()
    _staff_manager(actor, merchant)
    if merchant.status != "approved":
        raise DomainError(_l("This merchant is not approved to issue points."), code="merchant-not-approved")
    if kind not in MERCHANT_CAMPAIGN_KINDS:
        raise DomainError(_l("Choose double points or a bonus."), code="invalid-campaign", field="kind")
    name_zh, name_en = _text(name_zh, "name_zh", 60), _text(name_en, "name_en", 60)
    scope = _categories(categories)
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise ValueError("campaign instants must be aware")
    if starts_at < now - START_SLACK:
        raise DomainError(_l("A campaign cannot start in the past."), code="invalid-campaign", field="starts_at")
    if ends_at <= starts_at:
        raise DomainError(_l("The end must be after the start."), code="invalid-campaign", field="ends_at")
    starts_at = max(starts_at, now)
    limits = limits_at(session, starts_at)
    if not limits.allowed or limits.max_running == 0:
        raise DomainError(_l("The programme does not allow merchants' own campaigns at the moment."),
                          code="campaigns-not-allowed")
    if ends_at - starts_at > timedelta(days=limits.max_days):
        raise DomainError(_l("A campaign runs at most %(num)s days.", num=limits.max_days), code="campaign-too-long",
                          field="ends_at")
    rate, bonus = Fraction(1), 0
    if kind == "multiplier":
        try:
            rate = Fraction(str(multiplier).strip())
        except (ValueError, ZeroDivisionError):
            rate = Fraction(0)
        if rate <= 1 or (rate / MULTIPLIER_STEP).denominator != 1 or rate > limits.max_multiplier:
            raise DomainError(_l("The multiplier is a number such as 2 or 1.5, above 1 and at most %(max)s.",
                                 max=engine.rate_text(limits.max_multiplier)), code="invalid-campaign",
                              field="multiplier")
    else:
        if not isinstance(points, int) or isinstance(points, bool) or not 1 <= points <= limits.max_bonus_points:
            raise DomainError(_l("The bonus is 1 to %(max)s points per purchase.", max=limits.max_bonus_points),
                              code="invalid-campaign", field="points")
        bonus = points
    lock(session, Merchant, [merchant.id])  # two managers setting up campaigns at once count each other
    overlapping = session.scalar(select(func.count(MerchantCampaign.id)).where(
        MerchantCampaign.merchant_id == merchant.id, MerchantCampaign.status == "scheduled",
        MerchantCampaign.starts_at < ends_at, MerchantCampaign.ends_at > starts_at))
    if overlapping >= limits.max_running:
        raise Conflict(_l("At most %(num)s of your campaigns may run at the same time.", num=limits.max_running),
                       code="too-many-campaigns")
    row = MerchantCampaign(merchant_id=merchant.id, kind=kind, name_zh=name_zh, name_en=name_en,
                           multiplier=engine.rate_text(rate), points=bonus, categories=scope,
                           starts_at=starts_at, ends_at=ends_at, created_by=actor.id)
    session.add(row)
    session.flush()
    return row


def get_for(session: Session, merchant: Merchant, campaign_id: int) -> MerchantCampaign:
    """The merchant's own campaign, or NotFound (another merchant's looks absent)."""
    row = session.get(MerchantCampaign, campaign_id)
    if row is None or row.merchant_id != merchant.id:
        raise NotFound(_l("No such campaign."))
    return row


def end(session: Session, actor: User, merchant: Merchant, campaign_id: int,
        now: datetime | None = None) -> MerchantCampaign:
    """End a running campaign now, or withdraw one that has not started."""
    now = now or utcnow()
    _staff_manager(actor, merchant)
    row = lock(session, MerchantCampaign, [get_for(session, merchant, campaign_id).id])[campaign_id]
    state = row.state(now)
    if state == "scheduled":
        row.status, row.ends_at = "withdrawn", row.starts_at  # an empty window
    elif state == "running":
        row.status, row.ends_at = "ended", now
    else:
        raise Conflict(_l("This campaign is already over."), code="campaign-over")
    session.flush()
    return row


def suspend(session: Session, operator: User, campaign_id: int, reason: str,
            now: datetime | None = None) -> MerchantCampaign:
    """An operator stops a merchant's campaign at once, with a reason the merchant sees."""
    now = now or utcnow()
    if operator is None or operator.role != "operator":
        raise NotFound(_l("Not found."))
    reason = (reason or "").strip()
    if not reason or len(reason) > 300:
        raise DomainError(_l("Give the reason (at most 300 characters)."), code="reason-required", field="reason")
    found = session.get(MerchantCampaign, campaign_id)
    if found is None:
        raise NotFound(_l("No such campaign."))
    row = lock(session, MerchantCampaign, [found.id])[found.id]
    if row.state(now) not in ("scheduled", "running"):
        raise Conflict(_l("This campaign is already over."), code="campaign-over")
    row.status, row.reason = "suspended", reason
    row.ends_at = max(now, row.starts_at)  # not started: an empty window
    session.flush()
    return row


def of_merchant(session: Session, merchant_id: int, limit: int = 50) -> list[MerchantCampaign]:
    return list(session.scalars(select(MerchantCampaign).where(MerchantCampaign.merchant_id == merchant_id)
                                .order_by(MerchantCampaign.starts_at.desc(), MerchantCampaign.id.desc()).limit(limit)))


def public(session: Session, at: datetime, merchant_id: int | None = None, limit: int = 50) -> list[MerchantCampaign]:
    """Running and upcoming campaigns (of every approved merchant, or of one), soonest ending first."""
    stmt = (select(MerchantCampaign).join(Merchant, Merchant.id == MerchantCampaign.merchant_id)
            .where(MerchantCampaign.status == "scheduled", MerchantCampaign.ends_at > at, Merchant.status == "approved")
            .order_by(MerchantCampaign.starts_at, MerchantCampaign.id).limit(limit))
    if merchant_id is not None:
        stmt = stmt.where(MerchantCampaign.merchant_id == merchant_id)
    return list(session.scalars(stmt))


def recent(session: Session, at: datetime, limit: int = 100) -> list[MerchantCampaign]:
    """For the console: every campaign not over for more than a month, newest first."""
    return list(session.scalars(select(MerchantCampaign).where(MerchantCampaign.ends_at > at - timedelta(days=31))
                                .order_by(MerchantCampaign.id.desc()).limit(limit)))

"""Issuance use cases: which rules apply, quoting and awarding purchases, refunds, publishing
rule sets, and the public programme totals. Callers own the transaction (``mall.edge.run``); an
awarded or refunded purchase is announced (``mall.events``) to the areas that react to it."""
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from fractions import Fraction

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from mall import events
from mall.account.models import User
from mall.clock import SHANGHAI, utcnow
from mall.db import lock
from mall.errors import Conflict, DomainError, NotFound
from mall.family import service as family
from mall.ledger import service as ledger
from mall.ledger.models import Account, Transfer
from mall.coalition.models import Merchant
from mall.rules import engine
from mall.rules.models import MerchantCampaign, PointsDebt, Purchase, PurchaseRefund, RuleSet
from mall.numbers import format_fen
from mall.references import Reference
from mall.validation import strict_int, strict_text

MAX_ITEM_TEXT = 200
OCCURRED_PAST_LIMIT = timedelta(days=30)
OCCURRED_FUTURE_SLACK = timedelta(minutes=10)


class InvalidPurchase(DomainError):
    """The purchase document is malformed; ``errors`` lists each field and what is wrong."""

    status = 422
    code = "invalid-purchase"

    def __init__(self, errors: list[dict]):
        super().__init__("The purchase is not valid.")
        self.errors = errors


# ---------------------------------------------------------------- rule sets

def rule_set_at(session: Session, at: datetime) -> RuleSet:
    """The published rule set in force at ``at``."""
    rule_set = session.scalar(select(RuleSet).where(
        RuleSet.status == "published", RuleSet.effective_from <= at,
    ).order_by(RuleSet.effective_from.desc(), RuleSet.version.desc()).limit(1))
    if rule_set is None:
        raise RuntimeError("no published rule set: run `flask db upgrade`")
    return rule_set


def config_of(rule_set: RuleSet) -> engine.RuleConfig:
    return engine.parse_config(rule_set.document)


def published(session: Session) -> list[RuleSet]:
    return session.scalars(select(RuleSet).where(RuleSet.status == "published")
                           .order_by(RuleSet.version.desc())).all()


def drafts(session: Session) -> list[RuleSet]:
    return session.scalars(select(RuleSet).where(RuleSet.status == "draft").order_by(RuleSet.id.desc())).all()


def get_rule_set(session: Session, rule_set_id: int) -> RuleSet:
    rule_set = session.get(RuleSet, rule_set_id)
    if rule_set is None:
        raise NotFound("No such rule set.")
    return rule_set


def find_version(session: Session, version: int) -> RuleSet | None:
    """The published rule set with this version number, if there is one."""
    return session.scalar(select(RuleSet).where(RuleSet.version == version))


def get_version(session: Session, version: int) -> RuleSet:
    rule_set = find_version(session, version)
    if rule_set is None:
        raise NotFound("No such rule-set version.")
    return rule_set


def save_draft(session: Session, operator: User, document: dict, note: str = "",
               draft_id: int | None = None) -> RuleSet:
    """Create or update a draft; the document is validated before it is stored."""
    _require_operator(operator)
    engine.parse_config(document)  # raises RuleConfigError with the place that is wrong
    if draft_id is None:
        draft = RuleSet(status="draft", document=document, note=note[:200], created_by=operator.id)
        session.add(draft)
    else:
        draft = get_rule_set(session, draft_id)
        if draft.status != "draft":
            raise Conflict("A published rule set cannot be changed; draft a new version.")
        draft.document, draft.note = document, note[:200]
    session.flush()
    return draft


def publish(session: Session, operator: User, draft_id: int, effective_from: datetime,
            now: datetime | None = None) -> RuleSet:
    """Publish a draft for a future instant (never retroactively) as the next version."""
    _require_operator(operator)
    now = now or utcnow()
    draft = get_rule_set(session, draft_id)
    if draft.status != "draft":
        raise Conflict("This rule set is already published.")
    if effective_from.tzinfo is None or effective_from <= now:
        raise DomainError(_l("A rule set can only take effect in the future."), code="retroactive")
    engine.parse_config(draft.document)
    draft.version = (session.scalar(select(func.max(RuleSet.version))) or 0) + 1
    draft.status, draft.effective_from, draft.published_at = "published", effective_from, now
    session.flush()
    return draft


def _require_operator(user: User) -> None:
    if user is None or user.role != "operator":
        raise NotFound("Not found.")


# ---------------------------------------------------------------- purchase documents

@dataclass(frozen=True)
class PurchaseInput:
    member_code: str
    total_fen: int
    occurred_at: datetime
    items: tuple[engine.Item, ...]


def parse_purchase(doc, now: datetime | None = None) -> PurchaseInput:
    """Validate a purchase as a merchant reports it (JSON API and back office alike)."""
    now = now or utcnow()
    errors: list[dict] = []
    if not isinstance(doc, dict):
        raise InvalidPurchase([{"field": "", "message": "the body must be a JSON object"}])
    code = strict_text(doc.get("member_code"), "member_code", errors, 16)
    total = strict_int(doc.get("total_fen"), "total_fen", errors, 1, engine.MAX_FEN)
    occurred = None
    raw_time = doc.get("occurred_at")
    if raw_time is None:
        occurred = now
    elif not isinstance(raw_time, str):
        errors.append({"field": "occurred_at", "message": "must be an ISO 8601 date-time string"})
    else:
        try:
            occurred = datetime.fromisoformat(raw_time)
        except ValueError:
            errors.append({"field": "occurred_at", "message": "must be an ISO 8601 date-time"})
        else:
            if occurred.tzinfo is None:
                errors.append({"field": "occurred_at", "message": "needs a time zone offset, e.g. +08:00"})
                occurred = None
            elif occurred > now + OCCURRED_FUTURE_SLACK:
                errors.append({"field": "occurred_at", "message": "is in the future"})
                occurred = None
            elif occurred < now - OCCURRED_PAST_LIMIT:
                errors.append({"field": "occurred_at", "message": "is more than 30 days ago"})
                occurred = None
    raw_items = doc.get("items")
    items = []
    if raw_items is None:
        raw_items = []
    if not isinstance(raw_items, list) or len(raw_items) > engine.MAX_ITEMS:
        errors.append({"field": "items", "message": f"must be a list of at most {engine.MAX_ITEMS} items"})
        raw_items = []
    for i, raw in enumerate(raw_items):
        where = f"items[{i}]"
        if not isinstance(raw, dict):
            errors.append({"field": where, "message": "must be an object"})
            continue
        category = strict_text(raw.get("category"), f"{where}.category", errors, 40)
        amount = strict_int(raw.get("amount_fen"), f"{where}.amount_fen", errors, 0, engine.MAX_FEN)
        quantity = strict_int(raw.get("quantity", 1), f"{where}.quantity", errors, 1, 100000)
        green = raw.get("green", False)
        if not isinstance(green, bool):
            errors.append({"field": f"{where}.green", "message": "must be true or false"})
        sku = strict_text(raw.get("sku"), f"{where}.sku", errors, 64, required=False)
        name = strict_text(raw.get("name"), f"{where}.name", errors, MAX_ITEM_TEXT, required=False)
        if None not in (category, amount, quantity, sku, name) and isinstance(green, bool):
            items.append(engine.Item(category=category.lower(), amount_fen=amount, green=green,
                                     sku=sku, name=name, quantity=quantity))
    if total is not None and items and sum(i.amount_fen for i in items) != total:
        errors.append({"field": "items", "message": "the items' amount_fen must add up to total_fen"})
    if errors:
        raise InvalidPurchase(errors)
    return PurchaseInput(code.upper(), total, occurred.astimezone(timezone.utc), tuple(items))


# ---------------------------------------------------------------- quoting and awarding

def _day_bounds(at: datetime) -> tuple[datetime, datetime]:
    local = at.astimezone(SHANGHAI).date()
    start = datetime.combine(local, time.min, tzinfo=SHANGHAI)
    return start, start + timedelta(days=1)


def member_context(session: Session, member: User, merchant: Merchant, at: datetime,
                   config: engine.RuleConfig) -> engine.MemberContext:
    start, end = _day_bounds(at)
    # One read for three facts: earned today and in the last 12 months (the tier), over the member's
    # purchases of the last year only (the index on member and time), and whether any purchase at this
    # merchant exists at all (a first purchase earns a bonus).
    year_ago = at - timedelta(days=365)
    earlier = aliased(Purchase)  # its own FROM: not correlated with the outer read of purchases
    been_here = select(earlier.id).where(earlier.member_id == member.id, earlier.merchant_id == merchant.id).exists()
    earned_today, earned_year, here = session.execute(select(
        func.coalesce(func.sum(Purchase.points).filter(Purchase.occurred_at >= start), 0),
        func.coalesce(func.sum(Purchase.points).filter(Purchase.occurred_at <= at), 0),
        been_here,
    ).where(Purchase.member_id == member.id, Purchase.occurred_at > min(year_ago, start),
            Purchase.occurred_at < end)).one()
    local = at.astimezone(SHANGHAI)
    birthday = False
    if member.birthday and member.birthday.month == local.month:
        year_start = datetime(local.year, 1, 1, tzinfo=SHANGHAI)
        birthday = not session.scalar(select(Purchase.id).where(
            Purchase.member_id == member.id, Purchase.birthday_bonus.is_(True),
            Purchase.occurred_at >= year_start).limit(1))
    tier = config.tier_for(int(earned_year or 0)).name
    return engine.MemberContext(tier=tier, good_credit=member.good_credit, birthday_month=birthday,
                                first_at_merchant=not here, earned_today=int(earned_today or 0))


@dataclass(frozen=True)
class TierStanding:
    """A member's tier by the points they earned in the last 12 months, and the way to the next."""
    tier: str
    multiplier: Fraction
    earned_12m: int
    next_tier: str | None  # None at the top
    next_at: int | None  # points in 12 months the next tier starts at

    @property
    def to_next(self) -> int:
        return max(0, (self.next_at or 0) - self.earned_12m)

    @property
    def progress_percent(self) -> int:
        """How far from this tier's start to the next one's (100 at the top)."""
        if self.next_at is None:
            return 100
        return min(100, self.earned_12m * 100 // max(1, self.next_at))


def tier_standing(session: Session, member: User, now: datetime | None = None) -> TierStanding:
    """The member's tier under the rules in force: points earned at merchants and channels in the last
    365 days, counted as the rules engine counts them when it awards a purchase, and how many more the
    next tier needs."""
    now = now or utcnow()
    config = config_of(rule_set_at(session, now))
    earned = int(session.scalar(select(func.coalesce(func.sum(Purchase.points), 0)).where(
        Purchase.member_id == member.id, Purchase.occurred_at > now - timedelta(days=365),
        Purchase.occurred_at <= now)) or 0)
    tier = config.tier_for(earned)
    above = [t for t in config.tiers if t.min_points > tier.min_points]
    following = min(above, key=lambda t: t.min_points) if above else None
    return TierStanding(tier.name, tier.multiplier, earned, following and following.name,
                        following and following.min_points)


def _issuing_merchant(merchant: Merchant) -> None:
    if merchant.status != "approved":
        raise DomainError(_l("This merchant is not approved to issue points."), code="merchant-not-approved")


def _items_or_whole(purchase: PurchaseInput, merchant: Merchant) -> list[engine.Item]:
    if purchase.items:
        return list(purchase.items)
    return [engine.Item(category=merchant.category, amount_fen=purchase.total_fen)]


@dataclass(frozen=True)
class Quote:
    award: engine.Award
    rule_set: RuleSet
    member: User
    context: engine.MemberContext


def quote(session: Session, merchant: Merchant, purchase: PurchaseInput) -> Quote:
    """The points this purchase would earn, without awarding them."""
    _issuing_merchant(merchant)
    member = _member(session, purchase.member_code)
    rule_set = rule_set_at(session, purchase.occurred_at)
    config = config_of(rule_set)
    context = member_context(session, member, merchant, purchase.occurred_at, config)
    award = engine.compute(config, _items_or_whole(purchase, merchant), context, purchase.occurred_at,
                           merchant.category, merchant_campaigns_at(session, merchant.id, purchase.occurred_at))
    return Quote(award, rule_set, member, context)


def as_engine_campaign(row: MerchantCampaign) -> engine.Campaign:
    return engine.Campaign(id=str(row.id), kind=row.kind, name_zh=row.name_zh, name_en=row.name_en,
                           starts_at=row.starts_at, ends_at=row.ends_at, multiplier=Fraction(row.multiplier),
                           points=row.points, categories=tuple(row.categories or ()))


def merchant_campaigns_at(session: Session, merchant_id: int, at: datetime) -> tuple[engine.Campaign, ...]:
    """The merchant's own campaigns running at ``at`` (``mall.rules.merchant_campaigns``). A purchase
    reported late still finds one ended or suspended since: its window ends where it stopped."""
    rows = session.scalars(select(MerchantCampaign).where(
        MerchantCampaign.merchant_id == merchant_id, MerchantCampaign.starts_at <= at, MerchantCampaign.ends_at > at)
        .order_by(MerchantCampaign.id))
    return tuple(as_engine_campaign(row) for row in rows)


def _member(session: Session, code: str) -> User:
    member = session.scalar(select(User).where(User.member_code == code))
    if member is None or member.role != "member":
        raise NotFound(_l("No member has this code."), code="unknown-member")
    return member


def award_purchase(session: Session, merchant: Merchant, purchase: PurchaseInput,
                   actor_id: int | None = None, bonus: engine.Line | None = None) -> Purchase:
    """Record the purchase and move the points it earned from the merchant's issuance account
    to the member, settling any points the member owes from earlier refunds. ``bonus`` is one more
    line of the breakdown on top of the rules (an earning channel's points per ride or per kWh)."""
    q = quote(session, merchant, purchase)
    award, rule_set, member = q.award, q.rule_set, q.member
    if bonus is not None and bonus.points > 0:
        award = engine.Award(award.points + bonus.points, award.breakdown + (bonus,), award.uncapped + bonus.points,
                             award.notes)
    row = Purchase(
        merchant_id=merchant.id, member_id=member.id, total_fen=purchase.total_fen,
        occurred_at=purchase.occurred_at,
        items=[{"sku": i.sku, "name": i.name, "category": i.category, "green": i.green,
                "quantity": i.quantity, "amount_fen": i.amount_fen} for i in purchase.items],
        points=award.points, breakdown=award.as_json(), rule_set_version=rule_set.version,
        birthday_bonus=any(line.rule == "birthday" for line in award.breakdown),
        green_fen=sum(i.amount_fen for i in purchase.items if i.green), recorded_by=actor_id,
    )
    session.add(row)
    session.flush()
    if award.points:
        issuance = ledger.open_account(session, "merchant", merchant.id, "issuance")
        wallet = ledger.member_account(session, member.id)
        legs = [ledger.Leg(issuance, wallet, award.points, "earn", f"{merchant.name_zh} / {merchant.name_en}")]
        available = award.points
        share = family.award_share(session, member.id, award.points)  # the member's opt-in is their consent
        if share is not None:
            pool, pooled = share
            legs.append(ledger.Leg(wallet, pool, pooled, "pool_in", f"family #{pool.owner_id} opt-in share"))
            available -= pooled
        for debt in session.scalars(select(PointsDebt).where(PointsDebt.member_id == member.id,
                                                             PointsDebt.points > 0).order_by(PointsDebt.id)):
            settle = min(debt.points, available)
            if settle <= 0:
                break
            creditor = ledger.open_account(session, "merchant", debt.merchant_id, "issuance")
            legs.append(ledger.Leg(wallet, creditor, settle, "clawback", "settles an earlier refund"))
            debt.points -= settle
            available -= settle
        ledger.post(session, key=f"purchase:{row.id}:award", legs=legs, actor_id=actor_id,
                    ref=("purchase", str(row.id)))
    green_categories = sorted(config_of(rule_set).green_categories)
    events.purchase_awarded.send(
        session, purchase_id=row.id, member_id=member.id, merchant_id=merchant.id, points=award.points,
        green=bool(row.green_fen or any(i.category in green_categories for i in purchase.items)),
        items=row.items, green_categories=green_categories, occurred_at=row.occurred_at)
    return row


def get_purchase_for(session: Session, merchant: Merchant, purchase_id: int) -> Purchase:
    """The merchant's own purchase, or NotFound (another merchant's purchase looks absent)."""
    row = session.get(Purchase, purchase_id)
    if row is None or row.merchant_id != merchant.id:
        raise NotFound(_l("No such purchase."))
    return row


def refund_purchase(session: Session, merchant: Merchant, purchase_id: int, amount_fen,
                    key: str, now: datetime | None = None) -> PurchaseRefund:
    """Claw back the points of a (partial) refund in proportion, never below a zero balance;
    any shortfall becomes a debt settled from the member's next earnings."""
    now = now or utcnow()
    errors: list[dict] = []
    amount = strict_int(amount_fen, "amount_fen", errors, 1, engine.MAX_FEN)
    if errors:
        raise InvalidPurchase(errors)
    row = get_purchase_for(session, merchant, purchase_id)
    row = lock(session, Purchase, [row.id])[row.id]  # the purchase, then the member's account
    if row.refunded_fen + amount > row.total_fen:
        raise Conflict(_l("The refund is larger than what is left of the purchase."), code="refund-too-large",
                       refundable_fen=row.total_fen - row.refunded_fen)
    row.refunded_fen += amount
    target = row.points * row.refunded_fen // row.total_fen
    claw = max(0, target - row.clawed_back)
    row.clawed_back += claw
    wallet = ledger.member_account(session, row.member_id)
    wallet = ledger.lock_accounts(session, [wallet.id])[wallet.id]
    take = min(claw, max(0, ledger.spendable(session, wallet, now)))
    refund = PurchaseRefund(purchase_id=row.id, amount_fen=amount, points_clawed=take, shortfall=claw - take)
    session.add(refund)
    session.flush()
    if take:
        issuance = ledger.open_account(session, "merchant", merchant.id, "issuance")
        ledger.transfer(session, wallet, issuance, take, "clawback", key=f"refund:{refund.id}",
                        memo="refund", ref=("purchase", str(row.id)), now=now)
    if claw - take:
        debt = session.scalar(select(PointsDebt).where(PointsDebt.member_id == row.member_id,
                                                       PointsDebt.merchant_id == merchant.id))
        if debt is None:
            debt = PointsDebt(member_id=row.member_id, merchant_id=merchant.id, points=0)
            session.add(debt)
        debt.points += claw - take
    session.flush()
    events.purchase_refunded.send(session, purchase_id=row.id, refund_id=refund.id, member_id=row.member_id,
                                  merchant_id=merchant.id, amount_fen=amount, points_clawed=take,
                                  total_fen=row.total_fen, refunded_fen=row.refunded_fen)
    return refund


def recent_purchases(session: Session, merchant: Merchant, limit: int = 20) -> list[Purchase]:
    return session.scalars(select(Purchase).where(Purchase.merchant_id == merchant.id)
                           .order_by(Purchase.id.desc()).limit(limit)).all()


def issuance_by_day(session: Session, merchant: Merchant, days: int, now: datetime | None = None):
    """(Shanghai date, points issued, purchases) for the merchant's last ``days`` days."""
    now = now or utcnow()
    start, _ = _day_bounds(now - timedelta(days=days - 1))
    rows = session.execute(select(Purchase.created_at, Purchase.points).where(
        Purchase.merchant_id == merchant.id, Purchase.created_at >= start)).all()
    totals: dict = {}
    for created_at, points in rows:
        day = created_at.astimezone(SHANGHAI).date()
        issued, count = totals.get(day, (0, 0))
        totals[day] = (issued + points, count + 1)
    return sorted(((day, issued, count) for day, (issued, count) in totals.items()), reverse=True)


# ---------------------------------------------------------------- public totals

FRAUD_REF = "fraud_case"


def programme_totals(session: Session) -> dict:
    """Points issued, redeemed, donated, expired and outstanding, all from the ledger."""
    by_kind = ledger.totals_by_kind(session)
    outstanding = session.scalar(select(func.coalesce(func.sum(Account.balance), 0)).where(
        Account.owner_kind.in_(("member", "family"))))
    fraud = session.scalar(select(func.count(Transfer.id)).where(Transfer.ref_type == FRAUD_REF))
    # "game" transfers run both ways (plays into the game budget, prizes out of it): count the prizes only
    budget = ledger.find_account(session, "system", 0, "game_budget")
    prizes = session.scalar(select(func.coalesce(func.sum(Transfer.amount), 0)).where(
        Transfer.kind == "game", Transfer.debit_account_id == budget.id)) if budget else 0
    return {
        "issued": by_kind.get("earn", 0) - by_kind.get("clawback", 0) + by_kind.get("award", 0)
        + by_kind.get("compensate", 0) + int(prizes or 0),
        "redeemed": by_kind.get("redeem", 0) - by_kind.get("refund", 0),
        "donated": by_kind.get("donate", 0),
        "expired": by_kind.get("expire", 0),
        "forfeited": by_kind.get("forfeit", 0),  # the remaining points of deleted accounts
        "outstanding": int(outstanding or 0),
        "fraud_adjustments": int(fraud or 0),
    }


def daily_digests(session: Session, days: int = 7, now: datetime | None = None) -> list[tuple]:
    """(Shanghai date, chain hash at the end of that day) for the last ``days`` complete days."""
    now = now or utcnow()
    today = now.astimezone(SHANGHAI).date()
    result = []
    for back in range(1, days + 1):
        day = today - timedelta(days=back)
        end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=SHANGHAI)
        result.append((day, ledger.daily_digest(session, end)))
    return result


def count_purchases_of(session: Session, member_id: int, *, green_only: bool = False,
                       before: datetime | None = None) -> int:
    """How many purchases the member has made: only those with a green amount, only those before a time."""
    stmt = select(func.count(Purchase.id)).where(Purchase.member_id == member_id)
    if green_only:
        stmt = stmt.where(Purchase.green_fen > 0)
    if before is not None:
        stmt = stmt.where(Purchase.occurred_at < before)
    return int(session.scalar(stmt) or 0)


def purchases_after(session: Session, after_id: int, limit: int) -> list[Purchase]:
    """The next ``limit`` purchases by id above ``after_id`` (for batch jobs)."""
    return session.scalars(select(Purchase).where(Purchase.id > after_id).order_by(Purchase.id).limit(limit)).all()


def purchase_references(session: Session, user_id: int, ids: set[str], locale: str) -> dict:
    """The statement's words for the member's purchases ``ids``: the amount spent, linking to the page
    with the rule-by-rule breakdown of what it earned."""
    wanted = {int(i) for i in ids if i.isdigit()}
    rows = session.execute(select(Purchase.id, Purchase.total_fen).where(
        Purchase.id.in_(wanted), Purchase.member_id == user_id)).all() if wanted else []
    return {str(i): Reference(str(_l("for %(amount)s spent", amount=format_fen(total))), "rules.purchase",
                              {"purchase_id": i}) for i, total in rows}


def member_purchase(session: Session, member: User, purchase_id: int) -> Purchase:
    """One of the member's own purchases (another member's is not found)."""
    row = session.get(Purchase, purchase_id)
    if row is None or row.member_id != member.id:
        raise NotFound(_l("No such purchase."))
    return row

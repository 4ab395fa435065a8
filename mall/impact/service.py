"""CO2e accounting: the published factors, what each green line saved (recorded when the purchase is
awarded or the order placed, so later factor changes never rewrite history), the member's report,
certificates, and the programme's totals. Callers own the transaction; functions flush, never commit.

Refunds and cancellations lower an entry's ``net_grams`` in proportion (a cancelled order counts
nothing); every total reads ``net_grams``.
"""
import secrets
import time
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mall.account.models import User
from mall.catalog import service as catalog
from mall.charts import bar_chart
from mall.clock import SHANGHAI, local_month, utcnow
from mall.errors import DomainError, NotFound
from mall.impact.models import OTHER, TREE, ImpactEntry, ImpactFactor, ImpactShare
from mall.settings import settings_of
from mall.validation import is_whole

# The factors a new installation publishes (grams CO2e saved per yuan of green spend; grams a tree
# absorbs in a year). Operators change them in the console; each carries its source.
DEFAULT_FACTORS = {  # sources kept "中文 / English": pages show the half in their language
    "public_transport": (150, "公交、地铁与私家车同程出行之差：生态环境部 2022 年城市客运人公里排放因子，"
                              "单程约 8 公里、票价约 2 元 / Bus/metro fare vs. the same trip by private car: "
                              "China urban passenger-km factors (MEE 2022 guidance), about ¥2 per 8 km trip"),
    "appliances": (400, "一级与三级能效标识之差，使用 10 年，全国电网 0.57 千克/千瓦时（生态环境部 2023） / "
                        "Tier-1 vs. tier-3 energy label, 10-year use, China grid 0.57 kg/kWh (MEE 2023)"),
    "second_hand": (300, "少造一件新品：英国 WRAP 2022 年再利用排放因子 / "
                         "Avoided manufacture of a new item, WRAP (UK) 2022 re-use factors"),
    "refills": (250, "每元散装补充装少用的一次性包装：艾伦·麦克阿瑟基金会 2019 / "
                     "Avoided single-use packaging per yuan of refill, Ellen MacArthur Foundation 2019"),
    "ev_charging": (200, "每元充电的电动车与燃油车之差，全国电网 0.57 千克/千瓦时（生态环境部 2023） / "
                         "EV vs. petrol car per yuan of charging, China grid 0.57 kg/kWh (MEE 2023)"),
    OTHER: (100, "其他绿色标识商品的保守默认值（积分计划估算） / "
                 "Conservative default for other green-labelled items (programme estimate)"),
    TREE: (18000, "一棵成年树每年约吸收 18 千克二氧化碳（中国林业科学研究院，城市树木） / "
                  "A mature tree absorbs about 18 kg CO2 a year (Chinese Academy of Forestry, urban trees)"),
}
MAX_FACTOR = 10**7
# Programme-wide figures (the median member, the transparency page) scan every entry: each worker keeps
# them for IMPACT_CACHE_SECONDS (0 under tests, so every read is fresh).
_cache: dict = {}
CATEGORY_ORDER = ("public_transport", "appliances", "second_hand", "refills", "ev_charging", OTHER)


# ---------------------------------------------------------------- factors

def factors(session: Session) -> dict[str, ImpactFactor]:
    return {f.key: f for f in session.scalars(select(ImpactFactor).order_by(ImpactFactor.key))}


def published_factors(session: Session) -> tuple[list[ImpactFactor], ImpactFactor | None]:
    """(category factors in display order, then any others; the tree factor), from one read."""
    found = factors(session)
    ordered = [found[k] for k in CATEGORY_ORDER if k in found]
    ordered += [f for k, f in sorted(found.items()) if k not in CATEGORY_ORDER and k != TREE]
    return ordered, found.get(TREE)


def ensure_default_factors(session: Session) -> None:
    """Publish the default factors that are missing (a new installation, the demo, tests)."""
    have = factors(session)
    for key, (grams, source) in DEFAULT_FACTORS.items():
        if key not in have:
            session.add(ImpactFactor(key=key, grams=grams, source=source))
    session.flush()


def set_factor(session: Session, operator: User, key: str, grams, source: str) -> ImpactFactor:
    """Change or add a factor; only events after the change use it."""
    if operator is None or not operator.is_operator:
        raise NotFound(_l("No such page."))
    key = (key or "").strip().lower()
    if not key or len(key) > 40:
        raise DomainError(_l("Give a category name of 1 to 40 characters."), code="invalid-key")
    if not is_whole(grams, 0, MAX_FACTOR):
        raise DomainError(_l("The factor must be a whole number of grams from 0 to 10,000,000."), code="invalid-grams")
    source = (source or "").strip()
    if not 5 <= len(source) <= 300:
        raise DomainError(_l("Name the factor's source (5 to 300 characters)."), code="invalid-source")
    if key == TREE and grams == 0:
        raise DomainError(_l("A tree absorbs more than 0 grams a year."), code="invalid-grams")
    row = session.scalar(select(ImpactFactor).where(ImpactFactor.key == key))
    if row is None:
        row = ImpactFactor(key=key)
        session.add(row)
    row.grams, row.source, row.updated_by, row.updated_at = grams, source, operator.id, utcnow()
    session.flush()
    return row


# ---------------------------------------------------------------- recording events

def _is_green(item: dict, green_categories) -> bool:
    return bool(item.get("green")) or item.get("category") in green_categories


def record_purchase(session: Session, purchase_id: int, member_id: int, occurred_at: datetime, items: list[dict],
                    green_categories, table: dict | None = None) -> int:
    """Record the CO2e of an awarded purchase's green lines (``items`` as stored on the purchase) at
    today's factors (``table``, read if not given); returns grams."""
    table = table if table is not None else factors(session)
    total = 0
    for index, item in enumerate(items or []):
        if not _is_green(item, green_categories):
            continue
        category = item.get("category") or OTHER
        factor = table.get(category) or table.get(OTHER)
        grams = (int(item.get("amount_fen") or 0) * factor.grams // 100) if factor else 0
        if grams <= 0:
            continue
        session.add(ImpactEntry(member_id=member_id, source="purchase", source_id=purchase_id,
                                line=index, category=category if category in table else OTHER, grams=grams,
                                net_grams=grams, occurred_at=occurred_at, month=local_month(occurred_at)))
        total += grams
    session.flush()
    return total


def purchase_refunded(session: Session, purchase_id: int, total_fen: int, refunded_fen: int) -> None:
    """A (partial) refund, ``refunded_fen`` of ``total_fen`` in all so far: each green line keeps the
    share of its CO2e that was not refunded."""
    kept = total_fen - refunded_fen
    for entry in session.scalars(select(ImpactEntry).where(ImpactEntry.source == "purchase",
                                                           ImpactEntry.source_id == purchase_id)):
        entry.net_grams = entry.grams * kept // total_fen
    session.flush()


def sync_order(session: Session, order) -> None:
    """Record or update the CO2e of an order's green lines (listing factor × quantity, fixed on the
    order line at placement); refunded units and cancelled orders count nothing."""
    existing = {e.line: e for e in session.scalars(select(ImpactEntry).where(
        ImpactEntry.source == "order", ImpactEntry.source_id == order.id))}
    lines = [line for line in order.lines if line.co2e_g]
    categories = catalog.categories_of(session, [line.listing_id for line in lines]) if lines else {}
    for line in lines:
        kept = 0 if order.status == "cancelled" else line.quantity - line.refunded_quantity
        net = line.co2e_g * kept // line.quantity
        entry = existing.get(line.id)
        if entry is None:
            session.add(ImpactEntry(member_id=order.member_id, source="order", source_id=order.id, line=line.id,
                                    category=categories.get(line.listing_id, OTHER), grams=line.co2e_g,
                                    net_grams=net,
                                    occurred_at=order.created_at, month=local_month(order.created_at)))
        else:
            entry.net_grams = net
    session.flush()


def recorded(session: Session, source: str, source_ids: list[int]) -> set[int]:
    """Which of these purchases or orders (``source``) already have entries."""
    return set(session.scalars(select(ImpactEntry.source_id).where(
        ImpactEntry.source == source, ImpactEntry.source_id.in_(source_ids))))


# ---------------------------------------------------------------- reading

def member_total(session: Session, member_id: int) -> int:
    return int(session.scalar(select(func.coalesce(func.sum(ImpactEntry.net_grams), 0))
                              .where(ImpactEntry.member_id == member_id)) or 0)


def last_months(now: datetime, count: int = 12) -> list[str]:
    local = now.astimezone(SHANGHAI)
    year, month = local.year, local.month
    months = []
    for _ in range(count):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return months[::-1]


def monthly(session: Session, member_id: int | None, now: datetime | None = None, count: int = 12):
    """[(YYYY-MM, grams)] for the last ``count`` months, oldest first, months without entries as 0."""
    months = last_months(now or utcnow(), count)
    stmt = select(ImpactEntry.month, func.sum(ImpactEntry.net_grams)).where(ImpactEntry.month >= months[0])
    if member_id is not None:
        stmt = stmt.where(ImpactEntry.member_id == member_id)
    found = dict(session.execute(stmt.group_by(ImpactEntry.month)).all())
    return [(m, int(found.get(m) or 0)) for m in months]


def by_category(session: Session, member_id: int) -> list[tuple[str, int]]:
    """[(category, grams)], largest first: purchases and redeemed rewards of a category together."""
    rows = session.execute(select(ImpactEntry.category, func.sum(ImpactEntry.net_grams)).where(
        ImpactEntry.member_id == member_id).group_by(ImpactEntry.category)).all()
    return sorted(((c, int(g)) for c, g in rows if g and g > 0), key=lambda kv: (-kv[1], kv[0]))


def median_member(session: Session) -> int:
    """The median of the totals of members who saved anything (grams), 0 if nobody has yet."""
    per_member = (select(func.sum(ImpactEntry.net_grams).label("grams")).group_by(ImpactEntry.member_id)
                  .having(func.sum(ImpactEntry.net_grams) > 0).subquery())
    count = int(session.scalar(select(func.count()).select_from(per_member)) or 0)
    if not count:
        return 0
    ordered = select(per_member.c.grams).order_by(per_member.c.grams)
    middle = session.scalars(ordered.offset((count - 1) // 2).limit(2 - count % 2)).all()
    return int(sum(int(g) for g in middle) // len(middle))


def _cached(session: Session, name: str, compute):
    seconds = settings_of(session).impact_cache_seconds
    if seconds <= 0:
        return compute()
    key = (str(session.get_bind().url), name)
    hit = _cache.get(key)
    now = time.monotonic()
    if hit is not None and now - hit[0] < seconds:
        return hit[1]
    value = compute()
    _cache[key] = (now, value)
    return value


def tree_grams(session: Session) -> int:
    row = session.scalar(select(ImpactFactor).where(ImpactFactor.key == TREE))
    return row.grams if row and row.grams > 0 else DEFAULT_FACTORS[TREE][0]


def trees(grams: int, per_tree: int) -> float:
    """Tree-years the saving equals, to one decimal."""
    return round(grams / per_tree, 1) if per_tree else 0.0


@dataclass
class Report:
    total: int
    months: list
    categories: list
    median: int
    trees: float
    tree_grams: int


def report(session: Session, member_id: int, now: datetime | None = None) -> Report:
    per_tree = tree_grams(session)
    total = member_total(session, member_id)
    return Report(total=total, months=monthly(session, member_id, now), categories=by_category(session, member_id),
                  median=_cached(session, "median", lambda: median_member(session)), trees=trees(total, per_tree),
                  tree_grams=per_tree)


def programme(session: Session, now: datetime | None = None) -> dict:
    """The programme's total and 12-month trend (cached for IMPACT_CACHE_SECONDS)."""
    return _cached(session, "programme", lambda: _programme(session, now))


def _programme(session: Session, now: datetime | None) -> dict:
    total = int(session.scalar(select(func.coalesce(func.sum(ImpactEntry.net_grams), 0))) or 0)
    per_tree = tree_grams(session)
    return {"total": total, "months": monthly(session, None, now), "trees": trees(total, per_tree),
            "tree_grams": per_tree}


# ---------------------------------------------------------------- certificates

def _require_member(user: User) -> None:
    if user is None or user.role != "member":
        raise NotFound(_l("No such page."))


def create_share(session: Session, member: User, *, show_name: bool, show_categories: bool, show_chart: bool,
                 show_trees: bool) -> ImpactShare:
    """A new certificate link showing only the parts chosen (the total is always shown)."""
    _require_member(member)
    live = session.scalar(select(func.count(ImpactShare.id)).where(
        ImpactShare.member_id == member.id, ImpactShare.revoked_at.is_(None)))
    if live >= 10:
        raise DomainError(_l("You have 10 live certificate links: withdraw one first."), code="too-many")
    share = ImpactShare(member_id=member.id, token=secrets.token_urlsafe(24), show_name=show_name,
                        show_categories=show_categories, show_chart=show_chart, show_trees=show_trees)
    session.add(share)
    session.flush()
    return share


def shares_of(session: Session, member: User) -> list[ImpactShare]:
    return session.scalars(select(ImpactShare).where(ImpactShare.member_id == member.id,
                                                     ImpactShare.revoked_at.is_(None))
                           .order_by(ImpactShare.id.desc())).all()


def revoke_share(session: Session, member: User, share_id: int) -> ImpactShare:
    """Withdraw a link: it stops working at once. Another member's link looks absent."""
    share = session.get(ImpactShare, share_id)
    if share is None or share.member_id != member.id or share.revoked_at is not None:
        raise NotFound(_l("No such certificate."))
    share.revoked_at = utcnow()
    session.flush()
    return share


def get_share(session: Session, token: str) -> ImpactShare:
    share = session.scalar(select(ImpactShare).where(ImpactShare.token == (token or "")[:48]))
    if share is None or share.revoked_at is not None:
        raise NotFound(_l("No such certificate."))
    return share


@dataclass
class Certificate:
    share: ImpactShare
    report: Report
    name: str | None  # the member's display name, only if they chose to show it


def get_certificate(session: Session, token: str) -> Certificate:
    """What a shared certificate shows: the member's report and, if chosen, their name."""
    share = get_share(session, token)
    name = session.get(User, share.member_id).display_name if share.show_name else None
    return Certificate(share, report(session, share.member_id), name)


def chart(months: list[tuple[str, int]]):
    """The monthly CO2e chart (grams per month; empty months as empty bars)."""
    return bar_chart([(month, {"grams": grams}) for month, grams in months], ["grams"], pad_top=20, pad_bottom=30,
                     fill=0.7, tick=lambda month: month[5:])


# ---------------------------------------------------------------- personal data

def forget(session: Session, member_id: int) -> None:
    """On account deletion: every certificate link stops working (the CO2e figures stay, nameless)."""
    now = utcnow()
    for share in session.scalars(select(ImpactShare).where(ImpactShare.member_id == member_id,
                                                           ImpactShare.revoked_at.is_(None))):
        share.revoked_at = now
    session.flush()

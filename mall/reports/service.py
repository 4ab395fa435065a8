"""The points-liability report, computed from the ledger alone.

Every transfer is classified by where points cross the boundary of the members' wallets (member and
family accounts):
- into a wallet from outside: *issued* (earning, awards, prizes, compensation) or *returned*
  (refunds and reversals of earlier spending or deductions);
- out of a wallet: *redeemed* (orders, till bills, game plays), *donated*, *expired*, *forfeited*
  (deleted accounts), *clawed back* (merchant refunds, fraud deductions);
- between wallets (gifts, family pool): no change to the programme's liability.
Outstanding points at the end of a month are the running sum of what went in less what went out,
so the last month's figure equals the sum of member and family balances (tested).
"""
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import case, func, literal_column, select
from sqlalchemy.orm import Session, aliased

from mall.charts import bar_chart
from mall.ledger.models import LOTTED_KINDS, Account, Transfer
from mall.checkout.models import Order
from mall.clock import SHANGHAI, utcnow
from mall.coalition.models import Merchant
from mall.coalition.service import terms_of
from mall.engage.models import Coupon
from mall.rules.models import Purchase
from mall.settings import settings_of

RETURN_KINDS = ("refund", "reversal")
OUT_CLASSES = {"redeem": "redeemed", "bill": "redeemed", "game": "redeemed", "donate": "donated",
               "expire": "expired", "forfeit": "forfeited", "clawback": "clawed_back", "adjust": "clawed_back"}
COLUMNS = ("issued", "returned", "redeemed", "donated", "expired", "forfeited", "clawed_back", "other_out")


@dataclass
class Month:
    month: str  # YYYY-MM in Asia/Shanghai
    issued: int = 0
    returned: int = 0
    redeemed: int = 0
    donated: int = 0
    expired: int = 0
    forfeited: int = 0
    clawed_back: int = 0
    other_out: int = 0
    outstanding: int = 0  # at the end of the month

    @property
    def net_in(self) -> int:
        return self.issued + self.returned

    @property
    def net_out(self) -> int:
        return self.redeemed + self.donated + self.expired + self.forfeited + self.clawed_back + self.other_out


@dataclass
class Report:
    months: list[Month]
    totals: Month
    outstanding: int
    fen_per_point: int
    top_issuers: list[tuple[Merchant, int]] = field(default_factory=list)
    top_redeemers: list[tuple[Merchant, int]] = field(default_factory=list)
    green_share: float = 0.0  # of points issued on purchases, the share earned on green spending
    green_bonus: int = 0  # points from the green multiplier itself

    @property
    def liability_fen(self) -> int:
        return self.outstanding * self.fen_per_point

    @property
    def breakage(self) -> float:
        """Expired points as a share of points issued (a common loyalty measure)."""
        return self.totals.expired / self.totals.issued if self.totals.issued else 0.0


def _month_expr(session: Session, column):
    """The Asia/Shanghai month of a UTC timestamp (China has no daylight saving: +8 hours exactly)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(column + literal_column("interval '8 hours'"), "YYYY-MM")
    return func.strftime("%Y-%m", func.datetime(column, "+8 hours"))


def _flows(session: Session):
    debit, credit = aliased(Account), aliased(Account)
    month = _month_expr(session, Transfer.created_at).label("month")
    into = credit.owner_kind.in_(LOTTED_KINDS)
    out_of = debit.owner_kind.in_(LOTTED_KINDS)
    direction = case((into & ~out_of, "in"), (out_of & ~into, "out"), else_="inside").label("direction")
    stmt = (select(month, direction, Transfer.kind, func.sum(Transfer.amount))
            .join(debit, debit.id == Transfer.debit_account_id)
            .join(credit, credit.id == Transfer.credit_account_id)
            .group_by(month, direction, Transfer.kind).order_by(month))
    return session.execute(stmt).all()


def programme_report(session: Session, fen_per_point: int | None = None, top: int = 5) -> Report:
    """The programme's monthly flows and liability; a point is worth ``fen_per_point`` (default: the
    configured redemption value)."""
    if fen_per_point is None:
        fen_per_point = settings_of(session).redemption_value_fen_per_point
    months: dict[str, Month] = {}
    for month, direction, kind, amount in _flows(session):
        if direction == "inside":
            continue
        row = months.setdefault(month, Month(month))
        amount = int(amount or 0)
        if direction == "in":
            name = "returned" if kind in RETURN_KINDS else "issued"
        else:
            name = OUT_CLASSES.get(kind, "other_out")
        setattr(row, name, getattr(row, name) + amount)
    ordered = [months[m] for m in sorted(months)]
    totals = Month("total")
    running = 0
    for row in ordered:
        running += row.net_in - row.net_out
        row.outstanding = running
        for name in COLUMNS:
            setattr(totals, name, getattr(totals, name) + getattr(row, name))
    totals.outstanding = running
    report = Report(ordered, totals, running, fen_per_point)
    report.top_issuers = _top_merchants(session, "issuance", top)
    report.top_redeemers = _top_merchants(session, "redemption", top)
    report.green_share, report.green_bonus = _green(session)
    return report


def _top_merchants(session: Session, name: str, top: int) -> list[tuple[Merchant, int]]:
    """Net points issued by each merchant (debited from its issuance account, less what came back) or
    redeemed at it (credited to its redemption account, less refunds)."""
    net: dict[int, int] = {}
    for column, sign in ((Transfer.debit_account_id, 1), (Transfer.credit_account_id, -1)):
        stmt = (select(Account.owner_id, func.sum(Transfer.amount)).join(Account, Account.id == column)
                .where(Account.owner_kind == "merchant", Account.name == name).group_by(Account.owner_id))
        for merchant_id, amount in session.execute(stmt):
            net[merchant_id] = net.get(merchant_id, 0) + sign * int(amount or 0)
    if name == "redemption":
        net = {k: -v for k, v in net.items()}
    ranked = sorted(((v, k) for k, v in net.items() if v > 0), reverse=True)[:top]
    found = {m.id: m for m in session.scalars(select(Merchant).where(Merchant.id.in_([k for _, k in ranked])))}
    return [(found[k], v) for v, k in ranked if k in found]


def _green(session: Session) -> tuple[float, int]:
    total = 0
    green_points = 0.0
    bonus = 0
    for p_points, green_fen, total_fen, breakdown in session.execute(
            select(Purchase.points, Purchase.green_fen, Purchase.total_fen, Purchase.breakdown)):
        total += p_points
        if total_fen:
            green_points += p_points * green_fen / total_fen
        bonus += sum(int(line.get("points", 0)) for line in breakdown or [] if line.get("rule") == "green")
    return (green_points / total if total else 0.0), bonus


def csv_rows(report: Report):
    yield [_("Month (Asia/Shanghai)"), _("Issued"), _("Returned"), _("Redeemed"), _("Donated"), _("Expired"),
           _("Forfeited"), _("Clawed back"), _("Other"), _("Outstanding at month end"),
           _("Liability at month end (yuan)")]
    for m in report.months + [report.totals]:
        yield [m.month if m.month != "total" else _("Total"), m.issued, m.returned, m.redeemed, m.donated,
               m.expired, m.forfeited, m.clawed_back, m.other_out, m.outstanding,
               f"{m.outstanding * report.fen_per_point / 100:.2f}"]


# --- charts ----------------------------------------------------------------------------------------

def charts(report: Report) -> dict:
    """The report's two charts over the last 12 months."""
    months = report.months[-12:]

    def chart(series):
        return bar_chart([(m.month, {s: getattr(m, s) for s in series}) for m in months], series,
                         min_slots=6, tick=lambda month: month[2:])

    return {"flows": chart(["issued", "redeemed", "donated", "expired"]), "outstanding": chart(["outstanding"])}


# ---------------------------------------------------------------- a merchant's monthly statements

@dataclass(frozen=True)
class MerchantMonth:
    """One month of a merchant's account with the programme (Asia/Shanghai months)."""

    month: str  # "YYYY-MM"
    issued: int  # points its purchases awarded, less those clawed back by refunds
    fee_fen: int  # what it owes for them, at its issuance fee
    redeemed: int  # points members spent at it, less refunds
    reimbursement_fen: int  # what the programme owes it for them
    compensation: int  # points of compensation the programme paid members for its cancellations
    coupons: int  # game coupons it accepted


def _month_starts(now: datetime, months: int) -> list[datetime]:
    """The starts of the last ``months`` months in Shanghai (this one included), oldest first."""
    starts = [now.astimezone(SHANGHAI).replace(day=1, hour=0, minute=0, second=0, microsecond=0)]
    while len(starts) < months:
        starts.append((starts[-1] - timedelta(days=1)).replace(day=1))
    return starts[::-1]


def _net(session: Session, account_id: int | None, start: datetime, end: datetime, outgoing: bool) -> int:
    if account_id is None:
        return 0
    def total(column):
        return int(session.scalar(select(func.coalesce(func.sum(Transfer.amount), 0)).where(
            column == account_id, Transfer.created_at >= start, Transfer.created_at < end)) or 0)
    out, into = total(Transfer.debit_account_id), total(Transfer.credit_account_id)
    return out - into if outgoing else into - out


def merchant_statements(session: Session, merchant: Merchant, months: int = 12,
                        now: datetime | None = None) -> list[MerchantMonth]:
    """The merchant's last ``months`` months (this one included), newest first, at its current terms."""
    now = now or utcnow()
    terms = terms_of(session, merchant)
    accounts = {a.name: a.id for a in session.scalars(select(Account).where(
        Account.owner_kind == "merchant", Account.owner_id == merchant.id))}
    starts = _month_starts(now, months)
    ends = starts[1:] + [now + timedelta(seconds=1)]
    return [_merchant_month(session, merchant, accounts, terms, a, b) for a, b in zip(starts, ends)][::-1]


def _merchant_month(session, merchant, accounts, terms, start, end) -> MerchantMonth:
    issued = _net(session, accounts.get("issuance"), start, end, outgoing=True)
    redeemed = _net(session, accounts.get("redemption"), start, end, outgoing=False)
    compensation = int(session.scalar(select(func.coalesce(func.sum(Order.compensation), 0)).where(
        Order.merchant_id == merchant.id, Order.cancelled_by == "merchant", Order.cancelled_at >= start,
        Order.cancelled_at < end)) or 0)
    coupons = int(session.scalar(select(func.count(Coupon.id)).where(
        Coupon.used_merchant_id == merchant.id, Coupon.used_at >= start, Coupon.used_at < end)) or 0)
    return MerchantMonth(start.strftime("%Y-%m"), issued, issued * terms.issuance_fee_fen_per_point, redeemed,
                         redeemed * terms.reimbursement_fen_per_point, compensation, coupons)


def merchant_statement_rows(statements: list[MerchantMonth]):
    """The statements as CSV rows, the header first."""
    yield [_("Month"), _("Points issued"), _("Issuance fee (fen)"), _("Points redeemed"), _("Reimbursement (fen)"),
           _("Compensation paid (points)"), _("Game coupons accepted")]
    for m in statements:
        yield [m.month, m.issued, m.fee_fen, m.redeemed, m.reimbursement_fen, m.compensation, m.coupons]

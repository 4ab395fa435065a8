"""The one ledger API every area uses: post transfers, read balances and statements, reverse,
expire, and verify. Callers own the transaction (see ``mall.db.write``); this module flushes."""
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from mall.db import is_postgres, lock
from mall.errors import Conflict, DomainError, NotFound
from mall.ledger import policy as expiry
from mall.ledger.models import (
    GUARDED_KINDS, KINDS, SYSTEM_ACCOUNTS, Account, LedgerHead, Lot, LotDraw, Transfer,
)
from mall.models import utcnow

MAX_AMOUNT = 10**12  # far above any real balance; refuses absurd numbers before they reach SQL
GENESIS = "0" * 64
REFUND_GRACE = timedelta(days=30)

# Set by the application factory from configuration; tests may set it too.
settings = {"expiry_policy": "calendar_year_after"}


class LedgerError(DomainError):
    code = "ledger"


class InsufficientPoints(LedgerError):
    status = 409
    code = "insufficient-points"


class IdempotencyConflict(LedgerError):
    status = 422
    code = "idempotency-conflict"


@dataclass(frozen=True)
class Leg:
    debit: Account
    credit: Account
    amount: int
    kind: str
    memo: str = ""


@dataclass
class Posting:
    transfers: list[Transfer]
    replayed: bool = False

    @property
    def transfer(self) -> Transfer:
        return self.transfers[0]


@dataclass
class _Plan:
    """Extra lot instructions for a leg: lots to draw from first / only, lots to mirror on credit."""

    prefer_lots: list[int] = field(default_factory=list)
    only_lots: list[int] | None = None
    mirror_draws: list[LotDraw] | None = None


# ---------------------------------------------------------------- accounts

def open_account(session: Session, owner_kind: str, owner_id: int = 0, name: str = "main") -> Account:
    """Create the account of an owner (in the owner's creating transaction), or return it."""
    account = find_account(session, owner_kind, owner_id, name)
    if account is None:
        account = Account(owner_kind=owner_kind, owner_id=owner_id, name=name,
                          guarded=owner_kind in GUARDED_KINDS, balance=0)
        session.add(account)
        session.flush()
    return account


def find_account(session: Session, owner_kind: str, owner_id: int = 0, name: str = "main") -> Account | None:
    return session.scalar(select(Account).where(
        Account.owner_kind == owner_kind, Account.owner_id == owner_id, Account.name == name))


def system_account(session: Session, name: str) -> Account:
    if name not in SYSTEM_ACCOUNTS:
        raise ValueError(f"unknown system account {name!r}")
    return open_account(session, "system", 0, name)


def member_account(session: Session, user_id: int) -> Account:
    return open_account(session, "member", user_id)


def member_balance(session: Session, user_id: int) -> int | None:
    """The member's balance, or None if the user has no member account."""
    return session.scalar(select(Account.balance).where(
        Account.owner_kind == "member", Account.owner_id == user_id, Account.name == "main"))


def ensure_system_accounts(session: Session) -> None:
    for name in SYSTEM_ACCOUNTS:
        system_account(session, name)
    if session.get(LedgerHead, 1) is None:
        session.add(LedgerHead(id=1, last_transfer_id=0, last_hash=GENESIS))
        session.flush()


# ---------------------------------------------------------------- posting

def check_amount(amount) -> int:
    """Points are strict integers: booleans, floats, strings and absurd numbers are refused."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise LedgerError("Points must be a whole number.", code="invalid-amount")
    if amount <= 0 or amount > MAX_AMOUNT:
        raise LedgerError("Points must be between 1 and 1,000,000,000,000.", code="invalid-amount")
    return amount


def fingerprint(legs: list[Leg], ref: tuple[str, str] | None) -> str:
    body = json.dumps({
        "legs": [[leg.debit.id, leg.credit.id, leg.amount, leg.kind] for leg in legs],
        "ref": list(ref) if ref else None,
    }, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


def post(session: Session, *, key: str, legs: list[Leg], actor_id: int | None = None,
         ref: tuple[str, str] | None = None, now: datetime | None = None,
         _plans: list[_Plan] | None = None, _reverses: Transfer | None = None) -> Posting:
    """Post one or more legs that succeed or fail together.

    Replaying ``key`` with the same content returns the first result and moves nothing; the same
    key with other content raises IdempotencyConflict. A guarded account never goes below zero:
    InsufficientPoints is raised and nothing is written.
    """
    now = (now or utcnow()).astimezone(timezone.utc)
    if not key or len(key) > 190:
        raise LedgerError("An idempotency key of 1 to 190 characters is required.", code="invalid-key")
    if not legs:
        raise LedgerError("Nothing to post.", code="empty")
    for leg in legs:
        check_amount(leg.amount)
        if leg.kind not in KINDS:
            raise LedgerError(f"Unknown transfer kind {leg.kind!r}.", code="invalid-kind")
        if leg.debit.id == leg.credit.id:
            raise LedgerError("A transfer from an account to itself is refused.", code="self-transfer")
    print_ = fingerprint(legs, ref)

    accounts = lock(session, Account, [a.id for leg in legs for a in (leg.debit, leg.credit)])
    head = _lock_head(session)

    existing = session.scalars(
        select(Transfer).where(Transfer.batch_key == key).order_by(Transfer.id)).all()
    if existing:
        if existing[0].fingerprint != print_:
            raise IdempotencyConflict("This idempotency key was already used for a different request.")
        return Posting(list(existing), replayed=True)

    if _reverses is not None:
        already = session.scalar(select(Transfer.id).where(Transfer.reverses_id == _reverses.id))
        if already is not None:
            raise Conflict("This transfer has already been reversed.", code="already-reversed")
    for account_id in sorted({leg.debit.id for leg in legs}):
        if accounts[account_id].lotted:
            _expire_due_lots(session, accounts[account_id], head, now)

    plans = _plans or [_Plan() for _ in legs]
    transfers = []
    for index, (leg, plan) in enumerate(zip(legs, plans)):
        debit, credit = accounts[leg.debit.id], accounts[leg.credit.id]
        if debit.guarded and debit.balance < leg.amount:
            raise InsufficientPoints("Not enough points.", needed=leg.amount - debit.balance)
        transfer = _insert(session, head, debit, credit, leg.amount, leg.kind,
                           key if index == 0 else f"{key}#{index}", key, print_, actor_id, ref,
                           leg.memo, now, _reverses)
        draws = _draw(session, debit, transfer, plan) if debit.lotted else []
        if credit.lotted:
            _credit_lots(session, credit, transfer, draws or plan.mirror_draws, now)
        transfers.append(transfer)
    session.flush()
    return Posting(transfers)


def transfer(session: Session, debit: Account, credit: Account, amount: int, kind: str, *, key: str,
             memo: str = "", actor_id: int | None = None, ref: tuple[str, str] | None = None,
             now: datetime | None = None) -> Posting:
    """Post a single leg."""
    return post(session, key=key, legs=[Leg(debit, credit, amount, kind, memo)],
                actor_id=actor_id, ref=ref, now=now)


def reverse(session: Session, transfer_id: int, *, key: str, actor_id: int | None = None,
            memo: str = "", kind: str = "reversal", now: datetime | None = None) -> Posting:
    """Post the mirror image of a transfer. Points return to the lots they came from, keeping their
    expiry dates (or 30 more days if those have passed). A reversal itself cannot be reversed."""
    original = session.get(Transfer, transfer_id)
    if original is None:
        raise NotFound("No such transfer.")
    if original.reverses_id is not None:
        raise LedgerError("A reversal cannot be reversed.", code="reverse-reversal")
    debit = session.get(Account, original.credit_account_id)
    credit = session.get(Account, original.debit_account_id)
    created = session.scalars(select(Lot.id).where(Lot.transfer_id == original.id)).all()
    original_draws = session.scalars(select(LotDraw).where(LotDraw.transfer_id == original.id)).all()
    plan = _Plan(prefer_lots=list(created), mirror_draws=list(original_draws) or None)
    return post(session, key=key, legs=[Leg(debit, credit, original.amount, kind, memo)],
                actor_id=actor_id, ref=(original.ref_type, original.ref_id) if original.ref_type else None,
                now=now, _plans=[plan], _reverses=original)


def _lock_head(session: Session) -> LedgerHead:
    stmt = select(LedgerHead).where(LedgerHead.id == 1).execution_options(populate_existing=True)
    if is_postgres(session):
        stmt = stmt.with_for_update()
    head = session.scalar(stmt)
    if head is None:
        raise RuntimeError("ledger not initialised: run `flask db upgrade`")
    return head


def chain_hash(prev: str, t: Transfer) -> str:
    """The tamper-evident hash of a transfer: its fields and the hash before it."""
    created = t.created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body = "|".join(str(v) for v in (
        prev, t.id, t.debit_account_id, t.credit_account_id, t.amount, t.kind, t.idempotency_key,
        t.actor_id if t.actor_id is not None else "", t.ref_type or "", t.ref_id or "", t.memo or "",
        t.reverses_id if t.reverses_id is not None else "", created))
    return hashlib.sha256(body.encode()).hexdigest()


def _insert(session, head, debit, credit, amount, kind, idem_key, batch_key, print_, actor_id, ref,
            memo, now, reverses) -> Transfer:
    t = Transfer(
        debit_account_id=debit.id, credit_account_id=credit.id, amount=amount, kind=kind,
        idempotency_key=idem_key, batch_key=batch_key, fingerprint=print_, actor_id=actor_id,
        ref_type=ref[0] if ref else None, ref_id=str(ref[1]) if ref else None, memo=(memo or "")[:200],
        reverses_id=reverses.id if reverses is not None else None,
        created_at=now, hash="",
    )
    session.add(t)
    session.flush()  # assigns the id the hash covers
    t.hash = chain_hash(head.last_hash, t)
    head.last_hash, head.last_transfer_id = t.hash, t.id
    debit.balance -= amount
    credit.balance += amount
    session.flush()
    return t


def _draw(session: Session, account: Account, t: Transfer, plan: _Plan) -> list[LotDraw]:
    """Consume lots for a debit: preferred lots first, then the earliest-expiring (never-expiring last)."""
    stmt = select(Lot).where(Lot.account_id == account.id, Lot.remaining > 0)
    if plan.only_lots is not None:
        stmt = stmt.where(Lot.id.in_(plan.only_lots))
    lots = session.scalars(stmt.order_by(Lot.expires_at.is_(None), Lot.expires_at, Lot.id)
                           .execution_options(populate_existing=True)).all()
    preferred = set(plan.prefer_lots)
    lots.sort(key=lambda lot: lot.id not in preferred)  # stable: keeps expiry order within each group
    need, draws = t.amount, []
    for lot in lots:
        if need == 0:
            break
        take = min(need, lot.remaining)
        lot.remaining -= take
        need -= take
        draw = LotDraw(transfer_id=t.id, lot_id=lot.id, amount=take)
        session.add(draw)
        draws.append(draw)
    if need:
        raise InsufficientPoints("Not enough points.", needed=need)
    return draws


def _credit_lots(session: Session, account: Account, t: Transfer, source_draws, now) -> None:
    """New lots for a credit: mirroring the source lots' expiry when points move between members
    (gift, pool, refund), else dated by the expiry policy from now."""
    if not source_draws:
        session.add(Lot(account_id=account.id, transfer_id=t.id, amount=t.amount, remaining=t.amount,
                        expires_at=expiry.expiry_for(now, settings["expiry_policy"])))
        return
    for draw in source_draws:
        origin = session.get(Lot, draw.lot_id)
        expires_at = origin.expires_at
        if expires_at is not None and expires_at <= now:
            expires_at = now + REFUND_GRACE
        session.add(Lot(account_id=account.id, transfer_id=t.id, amount=draw.amount,
                        remaining=draw.amount, expires_at=expires_at, origin_lot_id=origin.id))


# ---------------------------------------------------------------- expiry

def _expire_due_lots(session: Session, account: Account, head: LedgerHead, now: datetime) -> int:
    """Expire the account's lots that are due (called under the account's lock)."""
    due = session.scalars(select(Lot).where(
        Lot.account_id == account.id, Lot.remaining > 0, Lot.expires_at <= now,
    ).order_by(Lot.expires_at, Lot.id).execution_options(populate_existing=True)).all()
    if not due:
        return 0
    sink = system_account(session, "expiry")
    for lot in due:
        key = f"expire:lot:{lot.id}"
        legs = [Leg(account, sink, lot.remaining, "expire")]
        t = _insert(session, head, account, sink, lot.remaining, "expire", key, key,
                    fingerprint(legs, ("lot", str(lot.id))), None, ("lot", str(lot.id)),
                    "", now, None)
        _draw(session, account, t, _Plan(only_lots=[lot.id]))
    return len(due)


def expire(session: Session, now: datetime | None = None, batch: int = 500) -> int:
    """Move the unspent remainder of every expired lot to the expiry account; returns lots expired.
    Idempotent, and safe beside redemptions: each account is locked while its lots expire."""
    now = now or utcnow()
    account_ids = session.scalars(select(Lot.account_id).where(
        Lot.remaining > 0, Lot.expires_at <= now).distinct().limit(batch)).all()
    total = 0
    for account_id in account_ids:
        account = lock(session, Account, [account_id])[account_id]
        head = _lock_head(session)
        total += _expire_due_lots(session, account, head, now)
    session.flush()
    return total


def expiring_lots(session: Session, now: datetime, days: int, account_ids=None, limit: int = 1000):
    """Open lots of members that expire within ``days`` days: (lot, account) pairs, soonest first."""
    stmt = (select(Lot, Account).join(Account, Account.id == Lot.account_id)
            .where(Lot.remaining > 0, Lot.expires_at > now, Lot.expires_at <= now + timedelta(days=days),
                   Account.owner_kind == "member")
            .order_by(Lot.expires_at, Lot.id).limit(limit))
    if account_ids is not None:
        stmt = stmt.where(Lot.account_id.in_(account_ids))
    return session.execute(stmt).all()


def expiring_summary(session: Session, account: Account, now: datetime, days: int = 30) -> list[tuple[datetime, int]]:
    """(expiry instant, points) for the account's points expiring within ``days`` days."""
    rows = session.execute(
        select(Lot.expires_at, func.sum(Lot.remaining))
        .where(Lot.account_id == account.id, Lot.remaining > 0, Lot.expires_at > now,
               Lot.expires_at <= now + timedelta(days=days))
        .group_by(Lot.expires_at).order_by(Lot.expires_at)).all()
    return [(at, int(points)) for at, points in rows]


def open_lots(session: Session, account: Account, limit: int = 50) -> list[Lot]:
    """The account's unspent lots in the order they will be spent."""
    return session.scalars(select(Lot).where(Lot.account_id == account.id, Lot.remaining > 0)
                           .order_by(Lot.expires_at.is_(None), Lot.expires_at, Lot.id).limit(limit)).all()


# ---------------------------------------------------------------- reading

@dataclass
class StatementRow:
    transfer: Transfer
    delta: int  # + credit to the account, - debit from it
    counterparty: Account


def statement(session: Session, account: Account, *, kinds: list[str] | None = None,
              start: datetime | None = None, end: datetime | None = None,
              before_id: int | None = None, limit: int = 20) -> list[StatementRow]:
    """One page of the account's history, newest first; ``before_id`` continues from a row."""
    stmt = select(Transfer).where(or_(Transfer.debit_account_id == account.id,
                                      Transfer.credit_account_id == account.id))
    if kinds:
        stmt = stmt.where(Transfer.kind.in_(kinds))
    if start:
        stmt = stmt.where(Transfer.created_at >= start)
    if end:
        stmt = stmt.where(Transfer.created_at < end)
    if before_id:
        stmt = stmt.where(Transfer.id < before_id)
    rows = session.scalars(stmt.order_by(Transfer.id.desc()).limit(limit)).all()
    other_ids = {t.credit_account_id if t.debit_account_id == account.id else t.debit_account_id for t in rows}
    others = {a.id: a for a in session.scalars(select(Account).where(Account.id.in_(other_ids)))} if other_ids else {}
    result = []
    for t in rows:
        outgoing = t.debit_account_id == account.id
        other = others[t.credit_account_id if outgoing else t.debit_account_id]
        result.append(StatementRow(t, -t.amount if outgoing else t.amount, other))
    return result


def totals_by_kind(session: Session) -> dict[str, int]:
    """Points moved per transfer kind, programme-wide."""
    return {kind: int(total) for kind, total in session.execute(
        select(Transfer.kind, func.sum(Transfer.amount)).group_by(Transfer.kind))}


# ---------------------------------------------------------------- verification

@dataclass
class Report:
    transfers: int = 0
    accounts: int = 0
    lots: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(session: Session, max_problems: int = 50) -> Report:
    """Check every invariant of the ledger; the report lists each breach found."""
    report = Report()
    problem = report.problems.append
    conn = session.connection()

    debits = dict(conn.execute(select(Transfer.debit_account_id, func.sum(Transfer.amount))
                               .group_by(Transfer.debit_account_id)).all())
    credits = dict(conn.execute(select(Transfer.credit_account_id, func.sum(Transfer.amount))
                                .group_by(Transfer.credit_account_id)).all())
    lot_sums = dict(conn.execute(select(Lot.account_id, func.sum(Lot.remaining))
                                 .group_by(Lot.account_id)).all())
    total = 0
    for acc in conn.execute(select(Account.id, Account.owner_kind, Account.balance, Account.guarded)):
        report.accounts += 1
        total += acc.balance
        derived = int(credits.get(acc.id, 0) or 0) - int(debits.get(acc.id, 0) or 0)
        if acc.balance != derived:
            problem(f"account {acc.id}: balance {acc.balance} but credits - debits = {derived}")
        if acc.guarded and acc.balance < 0:
            problem(f"account {acc.id}: guarded account is negative ({acc.balance})")
        if acc.owner_kind in ("member", "family") and int(lot_sums.get(acc.id, 0) or 0) != acc.balance:
            problem(f"account {acc.id}: lots hold {lot_sums.get(acc.id, 0) or 0} but balance is {acc.balance}")
    if total != 0:
        problem(f"balances sum to {total}, not 0")

    drawn = dict(conn.execute(select(LotDraw.lot_id, func.sum(LotDraw.amount)).group_by(LotDraw.lot_id)).all())
    for lot in conn.execute(select(Lot.id, Lot.amount, Lot.remaining)):
        report.lots += 1
        if lot.remaining != lot.amount - int(drawn.get(lot.id, 0) or 0):
            problem(f"lot {lot.id}: remaining {lot.remaining} but amount - draws = {lot.amount - int(drawn.get(lot.id, 0) or 0)}")
            if len(report.problems) >= max_problems:
                return report

    prev = GENESIS
    cols = (Transfer.id, Transfer.debit_account_id, Transfer.credit_account_id, Transfer.amount,
            Transfer.kind, Transfer.idempotency_key, Transfer.actor_id, Transfer.ref_type,
            Transfer.ref_id, Transfer.memo, Transfer.reverses_id, Transfer.created_at, Transfer.hash)
    result = conn.execution_options(yield_per=20000).execute(select(*cols).order_by(Transfer.id))
    for row in result:
        report.transfers += 1
        if row.amount <= 0:
            problem(f"transfer {row.id}: amount {row.amount} is not positive")
        if chain_hash(prev, row) != row.hash:
            problem(f"transfer {row.id}: hash does not match its contents and predecessor")
            if len(report.problems) >= max_problems:
                result.close()
                return report
        prev = row.hash
    head = session.get(LedgerHead, 1)
    if head is not None and head.last_hash != prev:
        problem("the chain head does not match the last transfer (a transfer is missing)")
    return report


def daily_digest(session: Session, day_end: datetime) -> str | None:
    """The chain hash of the last transfer before ``day_end``: publishing it commits to all history."""
    return session.scalar(select(Transfer.hash).where(Transfer.created_at < day_end)
                          .order_by(Transfer.id.desc()).limit(1))

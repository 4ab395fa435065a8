"""The one ledger API every area uses: post transfers, read balances and statements, reverse,
expire, and verify. Callers own the transaction (see ``mall.db.write``); this module flushes."""
import fcntl
import hashlib
import hmac
import json
import os
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import and_, func, or_, select, union_all
from sqlalchemy.orm import Session, object_session, scoped_session

from mall.db import is_postgres, lock
from mall.errors import Conflict, DomainError, NotFound
from mall.ledger import policy as expiry
from mall.ledger.models import (
    GUARDED_KINDS, KINDS, LOTTED_KINDS, SYSTEM_ACCOUNTS, Account, LedgerHead, Lot, LotDraw, Transfer,
)
from mall.models import utcnow
from mall.settings import settings_of

MAX_AMOUNT = 10**12  # far above any real balance; refuses absurd numbers before they reach SQL
GENESIS = "0" * 64
REFUND_GRACE = timedelta(days=30)
EXPIRY_KEY = "expire:lot:"  # idempotency keys the ledger itself uses when a lot expires



class LedgerError(DomainError):
    code = "ledger"


class InsufficientPoints(LedgerError):
    status = 409
    code = "insufficient-points"


class AccountFrozen(LedgerError):
    status = 403
    code = "account-frozen"


# What a frozen account may still be debited for: the case's own deduction, a merchant's refund
# clawback, expiry and the reversal of an earlier credit. Everything a member chooses to do (redeem,
# gift, donate, contribute, pay a bill, play) is refused; earning (credits) continues.
FROZEN_MESSAGE = ("Your points are frozen while a fraud case is reviewed: you can still earn, but not spend, gift or "
                  "donate. Your account page says why and how to appeal.")
FROZEN_DEBITS = frozenset({"adjust", "clawback", "expire", "reversal", "forfeit"})


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
                          guarded=owner_kind in GUARDED_KINDS, frozen=False, balance=0)
        session.add(account)
        _seal_new(session, [account])
        session.flush()
    return account


def set_frozen(session: Session, account: Account, frozen: bool) -> None:
    """Freeze or unfreeze an account's spending (a fraud case decides): the one way the flag
    changes, so the account's seal is renewed with it."""
    account.frozen = frozen
    account.mac = seal_of(account)
    session.flush()


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


def lock_accounts(session: Session, account_ids) -> dict[int, Account]:
    """Take the ledger's locks for the rest of the transaction and return the accounts, freshly read.

    The ledger head first, then the accounts in id order: the same order every posting uses. A use
    case that reads a balance before spending it, or that will post and also locks other rows (stock,
    orders), calls this first, instead of ``mall.db.lock`` on accounts. Any other order can deadlock
    on PostgreSQL against a posting that holds the head."""
    _lock_head(session)
    return lock(session, Account, account_ids)


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


def _utc(now: datetime | None) -> datetime:
    """The given instant in UTC (the current one if None). A naive datetime is refused: read in the
    server's local zone it would make the ledger's results depend on TZ."""
    if now is None:
        return utcnow()
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("the ledger needs an aware datetime for `now`")
    return now.astimezone(timezone.utc)


def _ref(ref: tuple[str, str] | None) -> tuple[str, str] | None:
    return (str(ref[0]), str(ref[1])) if ref else None


def fingerprint(legs: list[Leg], ref: tuple[str, str] | None) -> str:
    body = json.dumps({
        "legs": [[leg.debit.id, leg.credit.id, leg.amount, leg.kind] for leg in legs],
        "ref": list(ref) if ref else None,
    }, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


def _leg_key(key: str, index: int) -> str:
    return key if index == 0 else f"{key}#{index}"


def _same_request(existing: list[Transfer], legs: list[Leg], print_: str, actor_id, reverses) -> bool:
    """Whether stored transfers are the result of this very request (legs, ref, memo, actor, target)."""
    return (len(existing) == len(legs) and existing[0].fingerprint == print_
            and all(t.memo == (leg.memo or "")[:200] and t.actor_id == actor_id
                    and t.reverses_id == (reverses.id if reverses is not None else None)
                    for t, leg in zip(existing, legs)))


def post(session: Session, *, key: str, legs: list[Leg], actor_id: int | None = None,
         ref: tuple[str, str] | None = None, now: datetime | None = None,
         _plans: list[_Plan] | None = None, _reverses: Transfer | None = None) -> Posting:
    """Post one or more legs that succeed or fail together.

    Replaying ``key`` with the same content returns the first result and moves nothing; the same
    key with other content raises IdempotencyConflict. A guarded account never goes below zero:
    InsufficientPoints is raised before any leg is written.
    """
    now = _utc(now)
    if not key or len(key) > 190:
        raise LedgerError("An idempotency key of 1 to 190 characters is required.", code="invalid-key")
    if key.startswith(EXPIRY_KEY):
        raise LedgerError("Idempotency keys starting with 'expire:lot:' are reserved.", code="invalid-key")
    if not legs:
        raise LedgerError("Nothing to post.", code="empty")
    for leg in legs:
        check_amount(leg.amount)
        if leg.kind not in KINDS:
            raise LedgerError(f"Unknown transfer kind {leg.kind!r}.", code="invalid-kind")
        if leg.debit.id == leg.credit.id:
            raise LedgerError("A transfer from an account to itself is refused.", code="self-transfer")
    ref = _ref(ref)
    print_ = fingerprint(legs, ref)

    # The head first, then the accounts in id order: every writer queues on the same row before it
    # locks anything else, so two postings (or an expiry run) can never wait on each other in a cycle.
    head = _lock_head(session)
    accounts = lock(session, Account, [a.id for leg in legs for a in (leg.debit, leg.credit)])

    keys = [_leg_key(key, index) for index in range(len(legs))]
    found = session.scalars(select(Transfer).where(
        or_(Transfer.batch_key == key, Transfer.idempotency_key.in_(keys))).order_by(Transfer.id)).all()
    existing = [t for t in found if t.batch_key == key]
    if existing:
        if not _same_request(existing, legs, print_, actor_id, _reverses):
            raise IdempotencyConflict("This idempotency key was already used for a different request.")
        return Posting(existing, replayed=True)
    if found:  # e.g. "k#1" given as a key when "k" was a two-leg posting
        raise IdempotencyConflict("This idempotency key was already used for a different request.")

    if _reverses is not None:
        already = session.scalar(select(Transfer.id).where(Transfer.reverses_id == _reverses.id))
        if already is not None:
            raise Conflict("This transfer has already been reversed.", code="already-reversed")
    for account_id in sorted({leg.debit.id for leg in legs}):
        if accounts[account_id].lotted:
            _expire_due_lots(session, accounts[account_id], head, now)

    balances = {account_id: account.balance for account_id, account in accounts.items()}
    for leg in legs:  # check every leg before writing any, so a refusal leaves nothing half-posted
        if accounts[leg.debit.id].frozen and leg.kind not in FROZEN_DEBITS:
            raise AccountFrozen(FROZEN_MESSAGE)
        if accounts[leg.debit.id].guarded and balances[leg.debit.id] < leg.amount:
            raise InsufficientPoints("Not enough points.", needed=leg.amount - balances[leg.debit.id])
        balances[leg.debit.id] -= leg.amount
        balances[leg.credit.id] += leg.amount

    plans = _plans or [_Plan() for _ in legs]
    transfers, new_rows = [], []
    for index, (leg, plan) in enumerate(zip(legs, plans)):
        debit, credit = accounts[leg.debit.id], accounts[leg.credit.id]
        transfer = _insert(session, head, debit, credit, leg.amount, leg.kind, keys[index], key, print_,
                           actor_id, ref, leg.memo, now, _reverses)
        draws = _draw(session, debit, transfer, plan) if debit.lotted else []
        new_rows += draws
        if credit.lotted:
            new_rows += _credit_lots(session, credit, transfer, draws or plan.mirror_draws, now)
        transfers.append(transfer)
    _seal_new(session, new_rows)
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
    if original.reverses_id is not None or original.ref_type == RETURNS:
        raise LedgerError("A reversal cannot be reversed.", code="reverse-reversal")
    if session.scalar(select(Transfer.id).where(Transfer.ref_type == RETURNS, Transfer.ref_id == str(original.id))
                      .limit(1)) is not None:
        raise Conflict("Part of this transfer was given back already; give back the rest instead.",
                       code="partly-returned")
    debit = session.get(Account, original.credit_account_id)
    credit = session.get(Account, original.debit_account_id)
    created = session.scalars(select(Lot.id).where(Lot.transfer_id == original.id).order_by(Lot.id)).all()
    original_draws = session.scalars(
        select(LotDraw).where(LotDraw.transfer_id == original.id).order_by(LotDraw.id)).all()
    plan = _Plan(prefer_lots=list(created), mirror_draws=list(original_draws) or None)
    return post(session, key=key, legs=[Leg(debit, credit, original.amount, kind, memo)],
                actor_id=actor_id, ref=(original.ref_type, original.ref_id) if original.ref_type else None,
                now=now, _plans=[plan], _reverses=original)


@dataclass(frozen=True)
class _Share:
    """A part of an earlier draw to give back: ``amount`` points to a lot like ``lot_id``."""

    lot_id: int
    amount: int


RETURNS = "returns"  # ref_type of a partial give-back; ref_id is the original transfer's id


def returned(session: Session, transfer_id: int) -> int:
    """Points of a transfer already given back, by partial give-backs or a full reversal."""
    parts = session.scalar(select(func.coalesce(func.sum(Transfer.amount), 0)).where(
        Transfer.ref_type == RETURNS, Transfer.ref_id == str(transfer_id)))
    full = session.scalar(select(func.coalesce(func.sum(Transfer.amount), 0)).where(
        Transfer.reverses_id == transfer_id))
    return int(parts or 0) + int(full or 0)


def give_back(session: Session, transfer_id: int, amount: int, *, key: str, kind: str = "refund",
              memo: str = "", actor_id: int | None = None, now: datetime | None = None) -> Posting:
    """Return part of a transfer. Points go back to the lots they came from, the last drawn first,
    with their expiry dates (or 30 more days if passed); never more than the transfer moved."""
    check_amount(amount)
    original = session.get(Transfer, transfer_id)
    if original is None:
        raise NotFound("No such transfer.")
    if original.reverses_id is not None or original.ref_type == RETURNS:
        raise LedgerError("A reversal cannot be given back.", code="reverse-reversal")
    debit = session.get(Account, original.credit_account_id)
    credit = session.get(Account, original.debit_account_id)
    lock_accounts(session, [debit.id, credit.id])
    replay = session.scalar(select(Transfer).where(Transfer.batch_key == key))
    if replay is None and returned(session, original.id) + amount > original.amount:
        raise Conflict("More than this transfer moved would be given back.", code="over-return")
    shares = []
    if credit.lotted:
        draws = session.scalars(select(LotDraw).where(LotDraw.transfer_id == original.id)
                                .order_by(LotDraw.id.desc())).all()
        given = dict(session.execute(select(Lot.origin_lot_id, func.sum(Lot.amount)).join(
            Transfer, Transfer.id == Lot.transfer_id).where(
            Transfer.ref_type == RETURNS, Transfer.ref_id == str(original.id),
            Lot.account_id == credit.id).group_by(Lot.origin_lot_id)).all())
        need = amount
        for draw in draws:
            left = draw.amount - int(given.get(draw.lot_id, 0) or 0)
            take = min(need, max(0, left))
            if take:
                shares.append(_Share(draw.lot_id, take))
                need -= take
            if not need:
                break
    plan = _Plan(mirror_draws=shares or None)
    return post(session, key=key, legs=[Leg(debit, credit, amount, kind, memo)], actor_id=actor_id,
                ref=(RETURNS, str(original.id)), now=now, _plans=[plan])


def _lock_head(session: Session) -> LedgerHead:
    stmt = select(LedgerHead).where(LedgerHead.id == 1).execution_options(populate_existing=True)
    if is_postgres(session):
        stmt = stmt.with_for_update()
    head = session.scalar(stmt)
    if head is None:
        raise RuntimeError("ledger not initialised: run `flask db upgrade`")
    return head


def _hash_time(value) -> str:
    """The instant as the hash covers it: UTC, microseconds, e.g. 2026-05-01T09:00:00.000000Z.
    Takes a datetime (aware, or naive UTC) or SQLite's stored text of a naive UTC datetime."""
    if isinstance(value, str):
        if len(value) == 26 and value[10] == " ":  # "2026-05-01 09:00:00.000000", as SQLAlchemy stores it
            return f"{value[:10]}T{value[11:]}Z"
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds") + "Z"


def _hash(prev, id_, debit, credit, amount, kind, key, actor, ref_type, ref_id, memo, reverses, created) -> str:
    body = (f"{prev}|{id_}|{debit}|{credit}|{amount}|{kind}|{key}|{'' if actor is None else actor}|"
            f"{ref_type or ''}|{ref_id or ''}|{memo or ''}|{'' if reverses is None else reverses}|"
            f"{_hash_time(created)}")
    return hashlib.sha256(body.encode()).hexdigest()


def chain_hash(prev: str, t: Transfer) -> str:
    """The tamper-evident hash of a transfer: its fields and the hash before it.

    ``t`` may be a Transfer or any row with the same attribute names (as ``verify`` reads them)."""
    return _hash(prev, t.id, t.debit_account_id, t.credit_account_id, t.amount, t.kind, t.idempotency_key,
                 t.actor_id, t.ref_type, t.ref_id, t.memo, t.reverses_id, t.created_at)


# ---------------------------------------------------------------- seals

# The columns each row's seal covers, the row's id first and the one free-text column last.
SEALED = {
    "ledger_account": ("id", "owner_kind", "owner_id", "guarded", "frozen", "name"),
    "ledger_transfer": ("id", "hash", "fingerprint", "batch_key"),
    "ledger_lot": ("id", "account_id", "transfer_id", "amount", "expires_at", "origin_lot_id"),
    "ledger_lot_draw": ("id", "transfer_id", "lot_id", "amount"),
    "checkpoint": ("transfer_id", "hash", "at"),
}


def _key(session) -> bytes:
    return settings_of(session).ledger_key


# Each table's sealed values as text, alike whichever database they come from (booleans are 0/1 on
# SQLite, instants are text there): written out per table, as verify seals every row of the ledger.
_BODIES = {
    "ledger_account": lambda id_, kind, owner, guarded, frozen, name:
        f"{id_}|{kind}|{owner}|{1 if guarded else 0}|{1 if frozen else 0}|{name}",
    "ledger_transfer": lambda id_, hash_, print_, batch: f"{id_}|{hash_}|{print_}|{batch}",
    "ledger_lot": lambda id_, account, transfer, amount, expires, origin:
        f"{id_}|{account}|{transfer}|{amount}|{'' if expires is None else _hash_time(expires)}|"
        f"{'' if origin is None else origin}",
    "ledger_lot_draw": lambda id_, transfer, lot, amount: f"{id_}|{transfer}|{lot}|{amount}",
    "checkpoint": lambda transfer, hash_, at: f"{transfer}|{hash_}|{at}",
}


def seal(key: bytes, table: str, values) -> str:
    """The keyed seal (HMAC-SHA256) of a row of ``table``: ``values`` are its SEALED columns, in order.

    Why a seal per row, beside the hash chain: the chain's hashing is public, so whoever can write
    the database can rewrite a row and every hash after it, or append a posting with a correct hash,
    head, balance and lot, and the chain alone still looks whole. A seal needs LEDGER_KEY, which the
    database never holds. Every field that decides whose points they are or when they expire is
    sealed: an account's owner, name, guard and freeze; a lot's account, transfer, amount, expiry and
    origin; a draw's transfer, lot and amount; a transfer's hash (which covers all its other fields),
    fingerprint and batch key. The id is sealed too, so a seal cannot be moved to another row. What
    changes in normal use is left out and derived instead (balances from transfers, a lot's remainder
    from its draws), or changes only through this module, which renews the seal (``set_frozen``;
    nothing moves a lot's expiry). A seal depends on its own row alone, so postings share no more
    state than the chain head they already lock. Sealing lots and draws inside the chained transfer
    hash instead would change the published hashes, still need a key against forged appends and
    leave the account's freeze, which changes later, uncovered. What a seal cannot show is a row that
    is missing: removing the newest postings (and rolling back head, balances and lots) leaves every
    other seal valid. Checkpoints catch that: sealed chain heads kept outside the database
    (``checkpoint``), which ``verify`` holds the chain to."""
    return hmac.digest(key, f"{table}|{_BODIES[table](*values)}".encode(), "sha256").hex()


def seal_of(row) -> str:
    """The seal an Account, Transfer, Lot or LotDraw should carry."""
    table = row.__tablename__
    return seal(_key(object_session(row)), table, [getattr(row, column) for column in SEALED[table]])


def _seal_new(session: Session, rows) -> None:
    """Seal rows just added (a flush gives them the ids their seals cover)."""
    if rows:
        session.flush()
        for row in rows:
            row.mac = seal_of(row)


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
    t.mac = seal_of(t)
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
        # Only reachable if lots and balance disagree, which verify() reports as a breach.
        raise InsufficientPoints("Not enough points.", needed=need)
    return draws


def _credit_lots(session: Session, account: Account, t: Transfer, source_draws, now) -> list[Lot]:
    """New lots for a credit: mirroring the source lots' expiry when points move between members
    (gift, pool, refund), else dated by the expiry policy from now."""
    if not source_draws:
        lots = [Lot(account_id=account.id, transfer_id=t.id, amount=t.amount, remaining=t.amount,
                    expires_at=expiry.expiry_for(now, settings_of(session).expiry_policy))]
    else:
        lots = []
        for draw in source_draws:
            origin = session.get(Lot, draw.lot_id)
            expires_at = origin.expires_at
            if expires_at is not None and expires_at <= now:
                expires_at = now + REFUND_GRACE
            lots.append(Lot(account_id=account.id, transfer_id=t.id, amount=draw.amount,
                            remaining=draw.amount, expires_at=expires_at, origin_lot_id=origin.id))
    session.add_all(lots)
    return lots


# ---------------------------------------------------------------- expiry

def _expire_due_lots(session: Session, account: Account, head: LedgerHead, now: datetime) -> int:
    """Expire the account's lots that are due (called under the head's and the account's locks)."""
    due = session.scalars(select(Lot).where(
        Lot.account_id == account.id, Lot.remaining > 0, Lot.expires_at <= now,
    ).order_by(Lot.expires_at, Lot.id).execution_options(populate_existing=True)).all()
    if not due:
        return 0
    sink_id = system_account(session, "expiry").id
    sink = lock(session, Account, [sink_id])[sink_id]  # fresh: its balance is written back below
    draws = []
    for lot in due:
        key = f"{EXPIRY_KEY}{lot.id}"
        ref = ("lot", str(lot.id))
        legs = [Leg(account, sink, lot.remaining, "expire")]
        t = _insert(session, head, account, sink, lot.remaining, "expire", key, key,
                    fingerprint(legs, ref), None, ref, "", now, None)
        draws += _draw(session, account, t, _Plan(only_lots=[lot.id]))
    _seal_new(session, draws)
    session.flush()
    return len(due)


def expire(session: Session, now: datetime | None = None, batch: int = 100) -> int:
    """Move the unspent remainder of every expired lot to the expiry account; returns lots expired.

    Handles up to ``batch`` accounts per call, so each call is one short transaction; call again
    until it returns 0. Idempotent, and safe beside redemptions: it takes the same locks as a post."""
    now = _utc(now)
    head = _lock_head(session)
    account_ids = session.scalars(select(Lot.account_id).where(
        Lot.remaining > 0, Lot.expires_at <= now).distinct().order_by(Lot.account_id).limit(batch)).all()
    total = 0
    for account_id in account_ids:
        account = lock(session, Account, [account_id])[account_id]
        total += _expire_due_lots(session, account, head, now)
    session.flush()
    return total


def expiring_lots(session: Session, now: datetime, days: int, account_ids=None, limit: int = 1000,
                  after: tuple[datetime, int] | None = None):
    """Open lots of members that expire within ``days`` days: (lot, account) pairs, soonest first.
    ``after`` (the last pair's expiry and lot id) continues from a previous page."""
    now = _utc(now)
    stmt = (select(Lot, Account).join(Account, Account.id == Lot.account_id)
            .where(Lot.remaining > 0, Lot.expires_at > now, Lot.expires_at <= now + timedelta(days=days),
                   Account.owner_kind == "member")
            .order_by(Lot.expires_at, Lot.id).limit(limit))
    if account_ids is not None:
        stmt = stmt.where(Lot.account_id.in_(account_ids))
    if after is not None:
        stmt = stmt.where(or_(Lot.expires_at > after[0], and_(Lot.expires_at == after[0], Lot.id > after[1])))
    return session.execute(stmt).all()


def expiring_summary(session: Session, account: Account, now: datetime, days: int = 30) -> list[tuple[datetime, int]]:
    """(expiry instant, points) for the account's points expiring within ``days`` days."""
    now = _utc(now)
    rows = session.execute(
        select(Lot.expires_at, func.sum(Lot.remaining))
        .where(Lot.account_id == account.id, Lot.remaining > 0, Lot.expires_at > now,
               Lot.expires_at <= now + timedelta(days=days))
        .group_by(Lot.expires_at).order_by(Lot.expires_at)).all()
    return [(at, int(points)) for at, points in rows]


def spendable(session: Session, account: Account, now: datetime | None = None) -> int:
    """What the account can spend at ``now``: its balance less lots already past their date (the
    next posting from the account expires those first). Read it under ``lock_accounts`` to act on it."""
    if not account.lotted:
        return account.balance
    overdue = session.scalar(select(func.coalesce(func.sum(Lot.remaining), 0)).where(
        Lot.account_id == account.id, Lot.remaining > 0, Lot.expires_at <= _utc(now)))
    return account.balance - int(overdue or 0)


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
    reverses_kind: str | None = None  # for a reversal: the kind of the transfer it undid


def statement(session: Session, account: Account, *, kinds: list[str] | None = None,
              start: datetime | None = None, end: datetime | None = None,
              before_id: int | None = None, limit: int = 20) -> list[StatementRow]:
    """One page of the account's history, newest first; ``before_id`` continues from a row.

    Each side (debits, credits) is read through its own (account, id) index and cut to ``limit``
    before the two are merged, so a page costs the same however long the history is."""
    conditions = []
    if kinds:
        conditions.append(Transfer.kind.in_(kinds))
    if start:
        conditions.append(Transfer.created_at >= start)
    if end:
        conditions.append(Transfer.created_at < end)
    if before_id:
        conditions.append(Transfer.id < before_id)

    def side(column):
        page = (select(Transfer.id).where(column == account.id, *conditions)
                .order_by(Transfer.id.desc()).limit(limit).subquery())
        return select(page.c.id)

    ids = union_all(side(Transfer.debit_account_id), side(Transfer.credit_account_id)).subquery()
    rows = session.scalars(select(Transfer).where(Transfer.id.in_(select(ids.c.id)))
                           .order_by(Transfer.id.desc()).limit(limit)).all()
    other_ids = {t.credit_account_id if t.debit_account_id == account.id else t.debit_account_id for t in rows}
    others = {a.id: a for a in session.scalars(select(Account).where(Account.id.in_(other_ids)))} if other_ids else {}
    reversed_ids = {t.reverses_id for t in rows if t.reverses_id is not None}
    reversed_kinds = dict(session.execute(select(Transfer.id, Transfer.kind).where(
        Transfer.id.in_(reversed_ids))).all()) if reversed_ids else {}
    result = []
    for t in rows:
        outgoing = t.debit_account_id == account.id
        other = others[t.credit_account_id if outgoing else t.debit_account_id]
        result.append(StatementRow(t, -t.amount if outgoing else t.amount, other,
                                   reversed_kinds.get(t.reverses_id)))
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
    checkpoints: int = 0
    problems: list[str] = field(default_factory=list)
    last_hash: str = GENESIS

    @property
    def ok(self) -> bool:
        return not self.problems


class _Enough(Exception):
    """Raised inside verify() once ``max_problems`` breaches are listed."""


def verify(session: Session, max_problems: int = 50) -> Report:
    """Check every invariant of the ledger, every row's seal and the chain against every checkpoint;
    the report lists each breach found.

    On PostgreSQL the checks read one REPEATABLE READ snapshot (when the session has not begun a
    transaction yet), so postings running meanwhile cannot show up as false breaches; SQLite's
    read transaction is a snapshot already. The checkpoints are read before it: each names a
    transfer the snapshot holds."""
    report = Report()

    def problem(text: str) -> None:
        report.problems.append(text)
        if len(report.problems) >= max_problems:
            raise _Enough

    if isinstance(session, scoped_session):
        session = session()
    fresh = not session.in_transaction()
    options = {"isolation_level": "REPEATABLE READ"} if fresh and is_postgres(session) else None
    try:
        settings = settings_of(session)
        key = settings.ledger_key
        marks = _checkpoint_marks(settings.checkpoint_file, key, report, problem)
        conn = session.connection(execution_options=options)
        _verify_balances(conn, report, problem)
        _verify_lots(conn, report, problem)
        _verify_seals(conn, key, problem)
        _verify_chain(conn, key, report, problem, marks)
    except _Enough:
        report.problems.append(f"(stopped after {max_problems} problems)")
    return report


def _sums(column, amount, scan=False):
    # ``column + 0`` makes SQLite read the table straight through instead of walking an (account, id)
    # index and fetching every row's amount from it: three times faster on a million transfers.
    key = column + 0 if scan else column
    return select(key.label("id"), func.sum(amount).label("total")).group_by(key).subquery()


def _balance_breaches():
    """Accounts whose balance disagrees with their transfers or lots, or guarded ones below zero."""
    credits = _sums(Transfer.credit_account_id, Transfer.amount, scan=True)
    debits = _sums(Transfer.debit_account_id, Transfer.amount, scan=True)
    lots = _sums(Lot.account_id, Lot.remaining)
    derived = func.coalesce(credits.c.total, 0) - func.coalesce(debits.c.total, 0)
    in_lots = func.coalesce(lots.c.total, 0)
    lotted = Account.owner_kind.in_(LOTTED_KINDS)
    return (select(Account.id, Account.owner_kind, Account.balance, Account.guarded,
                   derived.label("derived"), in_lots.label("in_lots"))
            .outerjoin(credits, credits.c.id == Account.id).outerjoin(debits, debits.c.id == Account.id)
            .outerjoin(lots, lots.c.id == Account.id)
            .where(or_(Account.balance != derived, and_(Account.guarded, Account.balance < 0),
                       and_(lotted, in_lots != Account.balance), and_(~lotted, in_lots != 0)))
            .order_by(Account.id))


def _lot_breaches():
    """Lots whose remainder is not their amount less what was drawn from them."""
    drawn = _sums(LotDraw.lot_id, LotDraw.amount)
    left = Lot.amount - func.coalesce(drawn.c.total, 0)
    return (select(Lot.id, Lot.remaining, left.label("left")).outerjoin(drawn, drawn.c.id == Lot.id)
            .where(Lot.remaining != left).order_by(Lot.id))


# Built once: verify runs after every step of the property tests, and building these costs more
# than running them on a small ledger.
BALANCE_BREACHES = _balance_breaches()
LOT_BREACHES = _lot_breaches()
ACCOUNT_TOTALS = select(func.count(Account.id), func.coalesce(func.sum(Account.balance), 0))
LOT_COUNT = select(func.count(Lot.id))
CHAIN_HEAD = select(LedgerHead.last_hash, LedgerHead.last_transfer_id).where(LedgerHead.id == 1)


def _verify_balances(conn, report: Report, problem) -> None:
    """Each account against its transfers and its lots, compared in SQL: only breaches come back."""
    for acc in conn.execute(BALANCE_BREACHES):
        if acc.balance != acc.derived:
            problem(f"account {acc.id}: balance {acc.balance} but credits - debits = {acc.derived}")
        if acc.guarded and acc.balance < 0:
            problem(f"account {acc.id}: guarded account is negative ({acc.balance})")
        if acc.owner_kind in LOTTED_KINDS and acc.in_lots != acc.balance:
            problem(f"account {acc.id}: lots hold {acc.in_lots} but balance is {acc.balance}")
        elif acc.owner_kind not in LOTTED_KINDS and acc.in_lots:
            problem(f"account {acc.id}: a {acc.owner_kind} account holds {acc.in_lots} points in lots")
    report.accounts, total = conn.execute(ACCOUNT_TOTALS).one()
    if total != 0:
        problem(f"balances sum to {total}, not 0")


def _verify_lots(conn, report: Report, problem) -> None:
    """Each lot's remainder against its amount less what spends drew from it."""
    for lot in conn.execute(LOT_BREACHES):
        problem(f"lot {lot.id}: remaining {lot.remaining} but amount - draws = {lot.left}")
    report.lots = conn.scalar(LOT_COUNT)


CHAIN_COLUMNS = ("id", "debit_account_id", "credit_account_id", "amount", "kind", "idempotency_key",
                 "actor_id", "ref_type", "ref_id", "memo", "reverses_id", "created_at", "hash")
SCAN_BATCH = 20000


def _scan(conn, name: str, sql: str):
    """The rows of ``sql`` through a plain DBAPI cursor in the verify transaction (server-side on
    PostgreSQL): per-row ORM or type processing would cost more than the hashing on a million rows."""
    dbapi = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        cursor = dbapi.cursor(name=f"ledger_verify_{name}")
        cursor.itersize = SCAN_BATCH
    else:
        cursor = dbapi.cursor()
    with closing(cursor):
        cursor.execute(sql)
        while rows := cursor.fetchmany(SCAN_BATCH):
            yield from rows


def _sealed_rows(conn, table: str):
    """(values of the SEALED columns, stored seal) of every row of ``table``, in id order."""
    columns = ", ".join(SEALED[table])
    with closing(_scan(conn, table, f"SELECT {columns}, mac FROM {table} ORDER BY id")) as rows:
        for *values, mac in rows:
            yield values, mac


def _verify_seals(conn, key: bytes, problem) -> None:
    """Each account, lot and draw against its seal; the row and what it decides are named."""
    for values, mac in _sealed_rows(conn, "ledger_account"):
        if seal(key, "ledger_account", values) == mac:
            continue
        id_, kind, owner, guarded, frozen, name = values
        if seal(key, "ledger_account", [id_, kind, owner, guarded, not frozen, name]) == mac:
            what = f"frozen flag set to {bool(frozen)} outside a fraud case"
        elif seal(key, "ledger_account", [id_, kind, owner, not guarded, frozen, name]) == mac:
            what = f"guarded flag set to {bool(guarded)}"
        else:
            what = f"owner ({kind} {owner}) or name ({name!r}) is not the one it was opened for"
        problem(f"account {id_}: {what} (seal does not match)")
    for values, mac in _sealed_rows(conn, "ledger_lot"):
        if seal(key, "ledger_lot", values) != mac:
            problem(f"lot {values[0]}: account, transfer, amount, expiry or origin lot altered "
                    f"(seal does not match)")
    for values, mac in _sealed_rows(conn, "ledger_lot_draw"):
        if seal(key, "ledger_lot_draw", values) != mac:
            problem(f"lot draw {values[0]}: transfer, lot or amount altered (seal does not match)")


def _verify_chain(conn, key: bytes, report: Report, problem, marks: dict[int, list[tuple[int, str]]]) -> None:
    """Recompute every transfer's hash from its fields and its predecessor's hash, in id order;
    check each transfer's seal, and the chain against the checkpoints (``marks``)."""
    newest = max(marks, default=0)
    prev, last_id, count = GENESIS, 0, 0
    columns = ", ".join(CHAIN_COLUMNS + ("fingerprint", "batch_key", "mac"))
    try:
        with closing(_scan(conn, "chain", f"SELECT {columns} FROM {Transfer.__tablename__} ORDER BY id")) as rows:
            for *fields, stored, print_, batch, mac in rows:
                count += 1
                id_ = fields[0]
                if _hash(prev, *fields) != stored:
                    problem(f"transfer {id_}: hash does not match its contents and predecessor")
                if seal(key, "ledger_transfer", (id_, stored, print_, batch)) != mac:
                    problem(f"transfer {id_}: hash, fingerprint or batch key altered, or not posted by "
                            f"the ledger (seal does not match)")
                if fields[3] <= 0:
                    problem(f"transfer {id_}: amount {fields[3]} is not positive")
                for line, digest in marks.pop(id_, ()):
                    if digest != stored:
                        problem(f"checkpoint line {line}: transfer {id_} no longer has the hash checkpointed "
                                f"(history rewritten)")
                prev, last_id = stored, id_
    finally:
        report.transfers = count
    report.last_hash = prev
    for id_, entries in sorted(marks.items()):
        for line, _digest in entries:
            problem(f"checkpoint line {line}: transfer {id_} is missing")
    if newest > last_id:
        problem(f"the chain ends at transfer {last_id}, before the newest checkpoint's transfer {newest} "
                f"(postings removed)")
    head = conn.execute(CHAIN_HEAD).first()
    if head is None:
        problem("the ledger head row is missing")
    elif head.last_hash != prev or head.last_transfer_id != last_id:
        problem("the chain head does not match the last transfer (a transfer is missing)")


# ---------------------------------------------------------------- checkpoints

def _record(text: str) -> dict | None:
    """A checkpoint line as a record, or None if it is not one."""
    try:
        record = json.loads(text)
    except ValueError:
        return None
    if (isinstance(record, dict) and type(record.get("transfer_id")) is int
            and all(isinstance(record.get(name), str) for name in ("hash", "at", "seal"))):
        return record
    return None


def _checkpoint_seal(key: bytes, record: dict) -> str:
    return seal(key, "checkpoint", [record[column] for column in SEALED["checkpoint"]])


def _sealed(key: bytes, record: dict) -> bool:
    return hmac.compare_digest(_checkpoint_seal(key, record), record["seal"])


def _checkpoint_marks(path: str, key: bytes, report: Report, problem) -> dict[int, list[tuple[int, str]]]:
    """{transfer id: [(line, hash)]} of every checkpoint in the file whose seal holds."""
    marks = {}
    if not path or not os.path.exists(path):
        return marks
    with open(path, encoding="utf-8", errors="replace") as f:
        for line, text in enumerate(f, 1):
            if not text.strip():
                continue
            record = _record(text)
            if record is None:
                problem(f"checkpoint line {line}: not a checkpoint record")
            elif not _sealed(key, record):
                problem(f"checkpoint line {line}: seal does not match (forged or altered)")
            else:
                report.checkpoints += 1
                marks.setdefault(record["transfer_id"], []).append((line, record["hash"]))
    return marks


def _tail(f, count: int) -> list[dict]:
    """The newest ``count`` well-formed records of a checkpoint file open in binary, newest first,
    read from its end (a record is about 250 bytes)."""
    size = f.seek(0, os.SEEK_END)
    f.seek(max(0, size - 400 * (count + 1)))
    lines = f.read().decode("utf-8", "replace").splitlines()[-count:]
    return [record for record in map(_record, reversed(lines)) if record is not None]


def latest_checkpoints(session: Session, count: int = 5) -> list[dict]:
    """The newest ``count`` sealed checkpoint records, newest first, with ``at`` as a datetime: what
    the transparency page publishes."""
    path = settings_of(session).checkpoint_file
    if not path or not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        records = _tail(f, count)
    key, result = _key(session), []
    for record in records:
        try:
            at = datetime.fromisoformat(record["at"].removesuffix("Z")).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
        if _sealed(key, record):
            result.append({**record, "at": at})
    return result


def checkpoint(session: Session, now: datetime | None = None) -> tuple[dict | None, bool]:
    """Append a sealed record of the chain head (its transfer id and hash, and the time) to the
    checkpoint file, outside the database; returns (the newest record, whether it was written).

    Run it every few minutes: a record that leaves the database lets ``verify`` notice the chain's
    newest postings removed or rewritten, which no seal inside it can show. Idempotent: nothing is
    written while the head has not moved. Refused when the head's transfer is not sealed by this
    ledger or the chain is behind the newest checkpoint (``verify`` says more)."""
    path = settings_of(session).checkpoint_file
    if not path:
        raise LedgerError("No checkpoint file is configured (LEDGER_CHECKPOINT_FILE).", code="no-checkpoint-file")
    head = session.execute(CHAIN_HEAD).first()
    if head is None or head.last_transfer_id == 0:
        return None, False
    t = session.get(Transfer, head.last_transfer_id)
    if t is None or t.hash != head.last_hash or t.mac != seal_of(t):
        raise LedgerError(f"The chain head (transfer {head.last_transfer_id}) is not a transfer sealed by this "
                          f"ledger: run `flask ledger verify`.", code="head-unsealed")
    record = {"transfer_id": t.id, "hash": t.hash, "at": _hash_time(_utc(now))}
    key = _key(session)
    record["seal"] = _checkpoint_seal(key, record)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # two runs at once: the second sees the first's record
        newest = next((r for r in _tail(f, 3) if _sealed(key, r)), None)  # a forged line decides nothing
        if newest is not None and newest["transfer_id"] == t.id and newest["hash"] == t.hash:
            return newest, False
        if newest is not None and newest["transfer_id"] > t.id:
            raise LedgerError(f"The chain ends at transfer {t.id}, before the newest checkpoint's transfer "
                              f"{newest['transfer_id']}: run `flask ledger verify`.", code="chain-behind")
        end = f.seek(0, os.SEEK_END)
        if end and (f.seek(end - 1), f.read(1))[1] != b"\n":
            f.write(b"\n")  # a record cut short by a crash stays a line of its own
        f.write((json.dumps(record, sort_keys=True) + "\n").encode())
        f.flush()
        os.fsync(f.fileno())
    return record, True


def daily_digest(session: Session, day_end: datetime) -> str | None:
    """The chain hash of the last transfer before ``day_end``: publishing it commits to all history."""
    return session.scalar(select(Transfer.hash).where(Transfer.created_at < day_end)
                          .order_by(Transfer.id.desc()).limit(1))

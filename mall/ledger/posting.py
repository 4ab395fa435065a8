"""Posting: the only way points move. ``post`` writes one or more legs that succeed or fail together,
each an append-only transfer carrying its own content hash (the sealer later chains it into a block);
``reverse`` and ``give_back`` mirror an earlier one; ``expire`` posts the remainder of lots past their
date to the expiry account."""
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.orm import Session

from mall.errors import Conflict, NotFound
from mall.ledger.accounts import lock_accounts, system_account
from mall.ledger.batch import Batch
from mall.ledger.errors import FROZEN_MESSAGE, AccountFrozen, IdempotencyConflict, InsufficientPoints, LedgerError
from mall.ledger.lots import Plan, Share
from mall.ledger.models import KINDS, Account, Lot, LotDraw, Transfer
from mall.ledger.seals import as_utc
from mall.validation import is_whole

MAX_AMOUNT = 10**12  # far above any real balance; refuses absurd numbers before they reach SQL
EXPIRY_KEY = "expire:lot:"  # idempotency keys the ledger itself uses when a lot expires
RETURNS = "returns"  # ref_type of a partial give-back; ref_id is the original transfer's id

# What a frozen account may still be debited for: the case's own deduction, a merchant's refund
# clawback, expiry and the reversal of an earlier credit. Everything a member chooses to do (redeem,
# gift, donate, contribute, pay a bill, play) is refused; earning (credits) continues.
FROZEN_DEBITS = frozenset({"adjust", "clawback", "expire", "reversal", "forfeit"})


@dataclass(frozen=True)
class Leg:
    """One movement of a posting: ``amount`` points from ``debit`` to ``credit``."""

    debit: Account
    credit: Account
    amount: int
    kind: str
    memo: str = ""


@dataclass
class Posting:
    """What a posting wrote (or, ``replayed``, what the same request wrote before)."""

    transfers: list[Transfer]
    replayed: bool = False

    @property
    def transfer(self) -> Transfer:
        return self.transfers[0]


def check_amount(amount) -> int:
    """Points are strict integers: booleans, floats, strings and absurd numbers are refused."""
    if not is_whole(amount, float("-inf"), float("inf")):
        raise LedgerError("Points must be a whole number.", code="invalid-amount")
    if not is_whole(amount, 1, MAX_AMOUNT):
        raise LedgerError("Points must be between 1 and 1,000,000,000,000.", code="invalid-amount")
    return amount


def _ref(ref: tuple[str, str] | None) -> tuple[str, str] | None:
    return (str(ref[0]), str(ref[1])) if ref else None


def fingerprint(legs: list[Leg], ref: tuple[str, str] | None) -> str:
    """What a request asked for (its legs and reference), to tell a replay from a conflicting reuse of its key."""
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
         _plans: list[Plan] | None = None, _reverses: Transfer | None = None) -> Posting:
    """Post one or more legs that succeed or fail together.

    Replaying ``key`` with the same content returns the first result and moves nothing; the same
    key with other content raises IdempotencyConflict. A guarded account never goes below zero:
    InsufficientPoints is raised before any leg is written.
    """
    now = as_utc(now)
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

    # The exact accounts in id order (sharded ones are not locked: see lock_accounts), so two postings
    # (or an expiry run) never wait on each other in a cycle. No row every posting shares: the hash
    # chain is the sealer's (mall.ledger.sealing), system accounts' balances are sharded.
    accounts = lock_accounts(session, [a.id for leg in legs for a in (leg.debit, leg.credit)])

    # A posting's first leg always carries its key itself, so any earlier use of ``key`` (as a batch or
    # a leg) shows in the unique index of idempotency keys: one probe of it, no row read.
    keys = [_leg_key(key, index) for index in range(len(legs))]
    if session.connection().execute(_KEY_USED, {"keys": keys}).first() is not None:
        return _replay(session, key, legs, print_, actor_id, _reverses)

    if _reverses is not None:
        already = session.scalar(select(Transfer.id).where(Transfer.reverses_id == _reverses.id))
        if already is not None:
            raise Conflict("This transfer has already been reversed.", code="already-reversed")

    batch = Batch(session, accounts, now)
    for account_id in sorted({leg.debit.id for leg in legs}):
        if accounts[account_id].lotted:
            _expire_due_lots(batch, accounts[account_id])

    balances = {account_id: account.stored_balance + batch.deltas.get(account_id, 0)
                for account_id, account in accounts.items() if account.guarded}
    for leg in legs:  # check every leg before planning any, so a refusal leaves nothing half-posted
        if accounts[leg.debit.id].frozen and leg.kind not in FROZEN_DEBITS:
            raise AccountFrozen(FROZEN_MESSAGE)
        if accounts[leg.debit.id].guarded and balances[leg.debit.id] < leg.amount:
            raise InsufficientPoints("Not enough points.", needed=leg.amount - balances[leg.debit.id])
        if leg.debit.id in balances:
            balances[leg.debit.id] -= leg.amount
        if leg.credit.id in balances:
            balances[leg.credit.id] += leg.amount

    plans = _plans or [None] * len(legs)
    reverses_id = _reverses.id if _reverses is not None else None
    for index, (leg, plan) in enumerate(zip(legs, plans)):
        batch.add(accounts[leg.debit.id], accounts[leg.credit.id], leg.amount, _fields(
            leg.kind, keys[index], key, print_, actor_id, ref, leg.memo, reverses_id), plan)
    return Posting(batch.write()[-len(legs):])


_KEY_USED = select(Transfer.id).where(Transfer.idempotency_key.in_(bindparam("keys", expanding=True))).limit(1)


def _replay(session: Session, key: str, legs: list[Leg], print_: str, actor_id, reverses) -> Posting:
    """The posting a reused key names, if it is this very request; else IdempotencyConflict."""
    keys = [_leg_key(key, index) for index in range(len(legs))]
    found = session.scalars(select(Transfer).where(
        or_(Transfer.batch_key == key, Transfer.idempotency_key.in_(keys))).order_by(Transfer.id)).all()
    existing = [t for t in found if t.batch_key == key]
    if existing and _same_request(existing, legs, print_, actor_id, reverses):
        return Posting(existing, replayed=True)
    # another request's key, or e.g. "k#1" given as a key when "k" was a two-leg posting
    raise IdempotencyConflict("This idempotency key was already used for a different request.")


def _fields(kind, idem_key, batch_key, print_, actor_id, ref, memo, reverses_id) -> dict:
    """A transfer's columns besides its accounts and amount (``Batch.add`` sets those)."""
    return {"kind": kind, "idempotency_key": idem_key, "batch_key": batch_key, "fingerprint": print_,
            "actor_id": actor_id, "ref_type": ref[0] if ref else None, "ref_id": str(ref[1]) if ref else None,
            "memo": (memo or "")[:200], "reverses_id": reverses_id}


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
    plan = Plan(prefer_lots=list(created), mirror_draws=list(original_draws) or None)
    return post(session, key=key, legs=[Leg(debit, credit, original.amount, kind, memo)],
                actor_id=actor_id, ref=(original.ref_type, original.ref_id) if original.ref_type else None,
                now=now, _plans=[plan], _reverses=original)


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
                shares.append(Share(draw.lot_id, take))
                need -= take
            if not need:
                break
    plan = Plan(mirror_draws=shares or None)
    return post(session, key=key, legs=[Leg(debit, credit, amount, kind, memo)], actor_id=actor_id,
                ref=(RETURNS, str(original.id)), now=now, _plans=[plan])


# ---------------------------------------------------------------- expiry
# Expiring a lot is a posting (a transfer like any other), and every posting expires the debited
# account's due lots first: so expiry lives here, beside ``post``.

def _expire_due_lots(batch: Batch, account: Account) -> int:
    """Plan the expiry of the account's lots that are due (called under the account's lock), each its
    own transfer to the expiry account, before anything else the batch takes from the account."""
    due = batch.due_lots(account.id)
    if not due:
        return 0
    sink = system_account(batch.session, "expiry")  # sharded: not locked, its shard is added to
    batch.accounts.setdefault(sink.id, sink)
    for lot in due:
        key, ref = f"{EXPIRY_KEY}{lot.id}", ("lot", str(lot.id))
        print_ = fingerprint([Leg(account, sink, lot.remaining, "expire")], ref)
        batch.add(account, sink, lot.remaining, _fields("expire", key, key, print_, None, ref, "", None),
                  Plan(only_lots=[lot.id]))
    return len(due)


def expire(session: Session, now: datetime | None = None, batch: int = 100) -> int:
    """Move the unspent remainder of every expired lot to the expiry account; returns lots expired.

    Handles up to ``batch`` accounts per call, so each call is one short transaction; call again
    until it returns 0. Idempotent, and safe beside redemptions: it takes the same locks as a post."""
    now = as_utc(now)
    account_ids = session.scalars(select(Lot.account_id).where(
        Lot.remaining > 0, Lot.expires_at <= now).distinct().order_by(Lot.account_id).limit(batch)).all()
    total = 0
    # Every account of the call first, in id order, before any posting adds to the expiry account's shard:
    # locking them one by one between postings let a redemption holding one of them wait on that shard row
    # while this call waited on its account (a deadlock, seen with expiry beside twenty redemptions).
    locked = lock_accounts(session, account_ids)
    for account_id in account_ids:
        accounts = {account_id: locked[account_id]}
        batch = Batch(session, accounts, now)
        expired = _expire_due_lots(batch, accounts[account_id])
        if expired:
            batch.write()
            total += expired
    return total

"""How a posting is written: planned in memory, then sent in a few multi-row statements.

A posting (``posting.post``, an expiry) adds its transfers to one ``Batch``. The batch reads each
debited lotted account's open lots once, decides every draw and every new lot in Python (a lot
credited by one leg can be drawn by the next, as an earn followed by a family-pool share does), and
only then writes: the ids of all new transfers, draws and lots in one statement (PostgreSQL's
sequences; on SQLite the single writer, which holds the database, takes the next ids), so every row is
sealed before it goes out whole; then one INSERT per table, one UPDATE of the lots drawn, one of the
exact accounts' balances, and the shard upserts of sharded accounts (``move_balance``).

The transfers go through the session (``session.execute``), so the audit trail and the edge see the
INSERT like any other; the bookkeeping rows (lots, draws, balances), which neither records, go on the
session's connection. Nothing here goes through the ORM's unit of work: on the posting path it cost
more than all the SQL. What the session already holds is kept true (``set_committed_value``: a
locked account's balance, a loaded lot's remainder), and the new transfers are handed back as
persistent ``Transfer`` objects without being read again.
"""
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from mall.clock import utcnow
from mall.db import is_postgres
from mall.ledger import policy
from mall.ledger.accounts import move_balance
from mall.ledger.errors import InsufficientPoints
from mall.ledger.lots import REFUND_GRACE, Plan
from mall.ledger.models import Account, Lot, LotDraw, Transfer
from mall.ledger.seals import GENESIS, ledger_key, link_hash, seal
from mall.settings import settings_of

_TRANSFERS, _LOTS, _DRAWS = Transfer.__table__, Lot.__table__, LotDraw.__table__
_OPEN_LOTS = (select(_LOTS.c.id, _LOTS.c.remaining, _LOTS.c.expires_at)
              .where(_LOTS.c.account_id == bindparam("account_id"), _LOTS.c.remaining > 0)
              .order_by(_LOTS.c.expires_at.is_(None), _LOTS.c.expires_at, _LOTS.c.id))
_DRAW_LOT = (update(_LOTS).where(_LOTS.c.id == bindparam("lot_id")).values(remaining=bindparam("left"))
             .execution_options(synchronize_session=False))
_SET_BALANCE = (update(Account.__table__).where(Account.__table__.c.id == bindparam("account_id"))
                .values(balance=bindparam("stored")))
_NEXT_IDS = text("SELECT ARRAY(SELECT nextval('ledger_transfer_id_seq') FROM generate_series(1, :t)), "
                 "ARRAY(SELECT nextval('ledger_lot_id_seq') FROM generate_series(1, :l)), "
                 "ARRAY(SELECT nextval('ledger_lot_draw_id_seq') FROM generate_series(1, :d))")
_MAX_IDS = text("SELECT (SELECT max(id) FROM ledger_transfer), (SELECT max(id) FROM ledger_lot), "
                "(SELECT max(id) FROM ledger_lot_draw)")


class LotState:
    """A lot as the batch sees it: an open lot read from the database (``id`` known) or one this batch
    creates (``id`` given when the batch is written)."""

    __slots__ = ("id", "remaining", "expires_at", "amount", "origin", "new", "seq")

    def __init__(self, id_, remaining, expires_at, *, amount=None, origin=None, new=False, seq=0):
        self.id, self.remaining, self.expires_at = id_, remaining, expires_at
        self.amount, self.origin, self.new, self.seq = amount, origin, new, seq

    def order(self):
        """The spending order: earliest expiry first, never-expiring last, then older lots first."""
        return (self.expires_at is None, self.expires_at or datetime.max, self.new, self.id or 0, self.seq)


@dataclass
class _Transfer:
    fields: dict
    draws: list = field(default_factory=list)  # (LotState, amount)


class Batch:
    """One posting's rows, planned before any is written. ``add`` plans a transfer (its draws and new
    lots); ``write`` sends them all and returns the new transfers in the order they were added."""

    def __init__(self, session: Session, accounts: dict[int, Account], now: datetime):
        self.session, self.accounts, self.now = session, accounts, now
        self.transfers: list[_Transfer] = []
        self.lots: dict[int, list[LotState]] = {}  # account id -> its open lots, in spending order
        self.new_lots: list[tuple[int, int, LotState]] = []  # (account id, transfer index, lot)
        self.pending: dict[int, list[LotState]] = {}  # new lots of accounts whose open lots are not read yet
        self.touched: dict[int, LotState] = {}  # existing lots drawn on, by id
        self.deltas: dict[int, int] = {}

    # ---------------------------------------------------------------- planning

    def open_lots(self, account_id: int) -> list[LotState]:
        """The account's open lots (read once per batch, with the lots this batch credited it)."""
        if account_id not in self.lots:
            rows = self.session.connection().execute(_OPEN_LOTS, {"account_id": account_id})
            lots = [LotState(r.id, r.remaining, r.expires_at) for r in rows] + self.pending.pop(account_id, [])
            self.lots[account_id] = sorted(lots, key=LotState.order)
        return self.lots[account_id]

    def due_lots(self, account_id: int) -> list[LotState]:
        """The account's open lots past their date, in spending order."""
        return [lot for lot in self.open_lots(account_id)
                if lot.expires_at is not None and lot.expires_at <= self.now]

    def add(self, debit: Account, credit: Account, amount: int, fields: dict, plan: Plan | None = None) -> None:
        """Plan one transfer of ``amount`` from ``debit`` to ``credit`` (``fields``: its other columns)."""
        plan = plan or Plan()
        entry = _Transfer(dict(fields, debit_account_id=debit.id, credit_account_id=credit.id, amount=amount,
                               created_at=self.now))
        index = len(self.transfers)
        self.transfers.append(entry)
        self.deltas[debit.id] = self.deltas.get(debit.id, 0) - amount
        self.deltas[credit.id] = self.deltas.get(credit.id, 0) + amount
        if debit.lotted:
            entry.draws = self._draw(debit.id, amount, plan)
        if credit.lotted:
            self._credit(credit.id, index, amount, entry.draws, plan.mirror_draws)

    def _draw(self, account_id: int, amount: int, plan: Plan) -> list[tuple[LotState, int]]:
        """Take ``amount`` from the account's lots: preferred lots first, then the earliest-expiring."""
        lots = self.open_lots(account_id)
        if plan.only_lots is not None:
            only = set(plan.only_lots)
            lots = [lot for lot in lots if lot.id in only]
        if plan.prefer_lots:
            preferred = set(plan.prefer_lots)
            lots = sorted(lots, key=lambda lot: lot.id not in preferred)  # stable: expiry order within each
        need, draws = amount, []
        for lot in lots:
            if need == 0:
                break
            take = min(need, lot.remaining)
            if not take:
                continue
            lot.remaining -= take
            need -= take
            draws.append((lot, take))
            if not lot.new:
                self.touched[lot.id] = lot
        if need:
            # Only reachable if lots and balance disagree, which verify() reports as a breach.
            raise InsufficientPoints("Not enough points.", needed=need)
        return draws

    def _credit(self, account_id: int, index: int, amount: int, draws, mirror) -> None:
        """New lots for a credit: mirroring the source lots' dates when points move between members
        (gift, pool, refund: ``draws`` of this leg, or the plan's ``mirror`` of an earlier one), else
        dated by the expiry policy from now. Points whose date has passed get REFUND_GRACE more."""
        if draws or mirror:
            sources = draws or self._mirrored(mirror)
        else:
            expires = policy.expiry_for(self.now, settings_of(self.session).expiry_policy)
            return self._open(account_id, index, [(None, amount, expires)])
        made = []
        for origin, take in sources:
            expires = origin.expires_at
            if expires is not None and expires <= self.now:
                expires = self.now + REFUND_GRACE
            made.append((origin, take, expires))
        self._open(account_id, index, made)

    def _mirrored(self, mirror) -> list[tuple[LotState, int]]:
        """The lots an earlier transfer drew on (``LotDraw`` or ``Share``: lot id, amount), with their dates."""
        wanted = {share.lot_id for share in mirror}
        known = {lot.id: lot for lots in self.lots.values() for lot in lots if lot.id in wanted}
        missing = wanted - known.keys()
        if missing:
            rows = self.session.connection().execute(
                select(_LOTS.c.id, _LOTS.c.expires_at).where(_LOTS.c.id.in_(sorted(missing))))
            known.update((r.id, LotState(r.id, None, r.expires_at)) for r in rows)
        return [(known[share.lot_id], share.amount) for share in mirror]

    def _open(self, account_id: int, index: int, made) -> None:
        lots = self.lots.get(account_id)
        for origin, take, expires in made:
            lot = LotState(None, take, expires, amount=take, origin=origin, new=True, seq=len(self.new_lots))
            self.new_lots.append((account_id, index, lot))
            (lots if lots is not None else self.pending.setdefault(account_id, [])).append(lot)
        if lots is not None:
            lots.sort(key=LotState.order)

    # ---------------------------------------------------------------- writing

    def write(self) -> list[Transfer]:
        """Write every planned row; return the new transfers (persistent in the session)."""
        session, key = self.session, ledger_key(self.session)
        draws = [(i, lot, take) for i, entry in enumerate(self.transfers) for lot, take in entry.draws]
        transfer_ids, lot_ids, draw_ids = self._next_ids(len(self.transfers), len(self.new_lots), len(draws))
        for (_, _, lot), lot_id in zip(self.new_lots, lot_ids):
            lot.id = lot_id

        rows, posted_at = [], utcnow()  # the wall clock, for the sealing lag
        for entry, transfer_id in zip(self.transfers, transfer_ids):
            row = entry.fields
            row["id"] = transfer_id
            row["hash"] = link_hash(GENESIS, transfer_id, row["debit_account_id"], row["credit_account_id"],
                                    row["amount"], row["kind"], row["idempotency_key"], row["actor_id"],
                                    row["ref_type"], row["ref_id"], row["memo"], row["reverses_id"], row["created_at"])
            row["mac"] = seal(key, "ledger_transfer", (transfer_id, row["hash"], row["fingerprint"], row["batch_key"]))
            row["posted_at"] = posted_at
            rows.append(row)
        session.execute(insert(_TRANSFERS), rows)

        connection = session.connection()
        if self.new_lots:
            connection.execute(insert(_LOTS), [self._lot_row(key, account_id, transfer_ids[index], lot)
                                               for account_id, index, lot in self.new_lots])
        if draws:
            connection.execute(insert(_DRAWS), [
                {"id": draw_id, "transfer_id": transfer_ids[i], "lot_id": lot.id, "amount": take,
                 "mac": seal(key, "ledger_lot_draw", (draw_id, transfer_ids[i], lot.id, take))}
                for (i, lot, take), draw_id in zip(draws, draw_ids)])
        if self.touched:
            connection.execute(_DRAW_LOT, [{"lot_id": lot_id, "left": lot.remaining}
                                           for lot_id, lot in sorted(self.touched.items())])
            for lot_id, lot in self.touched.items():
                loaded = session.identity_map.get(identity_key(Lot, lot_id))
                if loaded is not None:
                    set_committed_value(loaded, "remaining", lot.remaining)
        self._move_balances()
        return [self._persistent(row) for row in rows]

    def _lot_row(self, key: bytes, account_id: int, transfer_id: int, lot: LotState) -> dict:
        origin = lot.origin.id if lot.origin is not None else None
        return {"id": lot.id, "account_id": account_id, "transfer_id": transfer_id, "amount": lot.amount,
                "remaining": lot.remaining, "expires_at": lot.expires_at, "origin_lot_id": origin,
                "mac": seal(key, "ledger_lot", (lot.id, account_id, transfer_id, lot.amount, lot.expires_at, origin))}

    def _next_ids(self, transfers: int, lots: int, draws: int) -> tuple[list[int], list[int], list[int]]:
        """Ids for the new rows, drawn before they are written (their seals cover them)."""
        connection = self.session.connection()
        if is_postgres(self.session):
            return tuple(connection.execute(_NEXT_IDS, {"t": transfers, "l": lots, "d": draws}).one())
        # SQLite: this transaction is the only writer (BEGIN IMMEDIATE), so the next ids are its own.
        tops = connection.execute(_MAX_IDS).one()
        return tuple(list(range((top or 0) + 1, (top or 0) + 1 + count))
                     for top, count in zip(tops, (transfers, lots, draws)))

    def _move_balances(self) -> None:
        """Exact accounts' balance columns in one UPDATE (they are locked); sharded ones by their shards."""
        exact = {account_id: delta for account_id, delta in self.deltas.items()
                 if delta and not self.accounts[account_id].sharded}
        if exact:
            stored = {account_id: self.accounts[account_id].stored_balance + delta
                      for account_id, delta in exact.items()}
            self.session.connection().execute(_SET_BALANCE, [{"account_id": account_id, "stored": value}
                                                             for account_id, value in sorted(stored.items())])
            for account_id, value in stored.items():
                set_committed_value(self.accounts[account_id], "stored_balance", value)
        move_balance(self.session, {account_id: delta for account_id, delta in self.deltas.items()
                                    if account_id not in exact}, self.accounts)

    def _persistent(self, row: dict) -> Transfer:
        """The written transfer as an ORM object the session holds, without reading it back."""
        transfer = Transfer(**row)
        transfer.block_id = None
        make_transient_to_detached(transfer)
        self.session.add(transfer)
        return transfer

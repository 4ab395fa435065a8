"""Property-based tests: random earn/spend/gift/expire/reverse sequences against a pure-Python model,
with an injected clock; and the same scenario giving identical results under any server time zone."""
import calendar
import hashlib
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import count
from zoneinfo import ZoneInfo

from flask import current_app
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from sqlalchemy import select

from mall.db import write
from mall.errors import Conflict
from mall.extensions import db
from mall.ledger import policy
from mall.ledger import service as ledger
from mall.ledger.models import Account, Lot, Transfer
from tests.builders import at
from tests.ledger.conftest import Book, reset_ledger

UTC = timezone.utc
SHANGHAI = ZoneInfo("Asia/Shanghai")
START = at(2026, 3, 1, 2)
GRACE = timedelta(days=30)
MEMBERS = (1, 2)  # two members meet each other often: gifts, reversals, shared expiry runs
POLICIES = ("calendar_year_after", "months:2", "months:13")


# ---------------------------------------------------------------- the model

def model_expiry(now: datetime, name: str) -> datetime:
    """Written apart from mall.ledger.policy, so the two check each other."""
    local = now.astimezone(SHANGHAI)
    if name == "calendar_year_after":
        return datetime(local.year + 2, 1, 1, tzinfo=SHANGHAI).astimezone(UTC)
    months = int(name.split(":")[1])
    carry, month0 = divmod(local.month - 1 + months, 12)
    year, month = local.year + carry, month0 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    return datetime(year, month, day, local.hour, local.minute, local.second, local.microsecond,
                    tzinfo=SHANGHAI).astimezone(UTC)


@dataclass
class MLot:
    seq: int
    account: int
    amount: int
    remaining: int
    expires_at: datetime | None


@dataclass
class MTransfer:
    debit: int
    credit: int
    amount: int
    kind: str
    reverses: int | None = None
    reversed: bool = False
    lots: list[int] = field(default_factory=list)  # seqs of lots this transfer created
    draws: list[tuple[int, int]] = field(default_factory=list)  # (lot seq, points) it took


class Model:
    """What the ledger should do, in plain Python: balances, lots in spending order, transfers."""

    def __init__(self, members: set[int], expiry_account: int, expiry_policy: str):
        self.members, self.expiry_account, self.policy = members, expiry_account, expiry_policy
        self.balances: dict[int, int] = {}
        self.lots: list[MLot] = []
        self.transfers: list[MTransfer] = []

    def open_lots(self, account: int) -> list[MLot]:
        lots = [lot for lot in self.lots if lot.account == account and lot.remaining > 0]
        return sorted(lots, key=lambda lot: (lot.expires_at is None, lot.expires_at or START, lot.seq))

    def _move(self, debit, credit, amount, kind, reverses=None) -> MTransfer:
        t = MTransfer(debit, credit, amount, kind, reverses)
        self.transfers.append(t)
        self.balances[debit] = self.balances.get(debit, 0) - amount
        self.balances[credit] = self.balances.get(credit, 0) + amount
        return t

    def _due(self, now, account=None) -> list[MLot]:
        return sorted((lot for lot in self.lots if lot.remaining > 0 and lot.expires_at is not None
                       and lot.expires_at <= now and account in (None, lot.account)),
                      key=lambda lot: (lot.expires_at, lot.seq))

    def _expire_account(self, account, now) -> int:
        due = self._due(now, account)
        for lot in due:
            t = self._move(account, self.expiry_account, lot.remaining, "expire")
            t.draws, lot.remaining = [(lot.seq, lot.remaining)], 0
        return len(due)

    def expire(self, now) -> int:
        return sum(self._expire_account(account, now) for account in sorted({lot.account for lot in self._due(now)}))

    def _new_lot(self, account, t, amount, expires_at):
        t.lots.append(len(self.lots))
        self.lots.append(MLot(len(self.lots), account, amount, amount, expires_at))

    def post(self, legs, now, prefer=(), mirror=None, reverses=None) -> bool:
        """Apply a posting as the ledger must; if it is refused, leave everything as it was."""
        saved = (dict(self.balances), [lot.remaining for lot in self.lots], len(self.lots), len(self.transfers))
        for account in sorted({debit for debit, *_ in legs}):
            if account in self.members:
                self._expire_account(account, now)
        balances = dict(self.balances)
        for debit, credit, amount, _kind in legs:
            if debit in self.members and balances.get(debit, 0) < amount:
                self._restore(saved)
                return False
            balances[debit] = balances.get(debit, 0) - amount
            balances[credit] = balances.get(credit, 0) + amount
        for debit, credit, amount, kind in legs:
            t = self._move(debit, credit, amount, kind, reverses)
            if debit in self.members:
                lots = sorted(self.open_lots(debit), key=lambda lot: lot.seq not in prefer)
                need = amount
                for lot in lots:
                    take = min(need, lot.remaining)
                    if take:
                        lot.remaining -= take
                        need -= take
                        t.draws.append((lot.seq, take))
                assert need == 0
            if credit in self.members:
                source = t.draws if debit in self.members else mirror
                if not source:
                    self._new_lot(credit, t, amount, model_expiry(now, self.policy))
                for seq, points in source or ():
                    expires_at = self.lots[seq].expires_at
                    if expires_at is not None and expires_at <= now:
                        expires_at = now + GRACE
                    self._new_lot(credit, t, points, expires_at)
        return True

    def _restore(self, saved) -> None:
        """Undo what a refused posting did first (expiring due lots): it rolled back in the ledger."""
        balances, remaining, lots, transfers = saved
        self.balances = balances
        del self.lots[lots:], self.transfers[transfers:]
        for lot, left in zip(self.lots, remaining):
            lot.remaining = left

    def reverse(self, index, now) -> str:
        original = self.transfers[index]
        if original.reverses is not None:
            return "reverse-reversal"
        if original.reversed:
            return "already-reversed"
        leg = (original.credit, original.debit, original.amount, "reversal")
        if not self.post([leg], now, prefer=set(original.lots), mirror=original.draws or None, reverses=index):
            return "insufficient"
        original.reversed = True
        return "ok"


# ---------------------------------------------------------------- the machine

class LedgerMachine(RuleBasedStateMachine):
    """Drives the real ledger and the model side by side; after every step they must agree."""

    def __init__(self):
        super().__init__()
        self.session = db.session
        self.config = current_app.config  # the ledger reads the expiry policy here on every posting
        reset_ledger(self.session)
        self.book = Book(self.session)
        self.member_ids = {n: self.book.member(n).id for n in MEMBERS}
        self.issuer = self.book.issuer_id
        self.redemption = self.book.system("redemption").id
        self.expiry = self.book.system("expiry").id
        self.session.commit()
        self.now = START
        self.keys = count()
        self.accepted = []  # ("post", key, legs) or ("reverse", key, transfer id), for replays
        self.model = None

    @initialize(expiry_policy=st.sampled_from(POLICIES), seed=st.lists(st.tuples(
        st.sampled_from(MEMBERS), st.integers(1, 400), st.sampled_from(POLICIES), st.integers(0, 24 * 200)),
        min_size=2, max_size=6))
    def start(self, expiry_policy, seed):
        """Members start with a few lots earned under different policies at different times."""
        self.model = Model(set(self.member_ids.values()), self.expiry, expiry_policy)
        for n, points, lot_policy, hours in seed:
            self.now += timedelta(hours=hours)
            self.earn(n, points, lot_policy)
        self.config["POINTS_EXPIRY_POLICY"] = self.model.policy = expiry_policy

    def _legs(self, legs):
        return [ledger.Leg(self.session.get(Account, d), self.session.get(Account, c), amount, kind)
                for d, c, amount, kind in legs]

    def _post(self, legs):
        key = f"k{next(self.keys)}"
        expected = self.model.post(legs, self.now)
        try:
            with write(self.session):
                ledger.post(self.session, key=key, legs=self._legs(legs), now=self.now)
            accepted = True
        except ledger.InsufficientPoints:
            accepted = False
        assert accepted == expected
        if accepted:
            self.accepted.append(("post", key, legs))

    # time
    @rule(hours=st.one_of(st.integers(1, 72), st.integers(1, 24 * 400)))
    def advance(self, hours):
        self.now += timedelta(hours=hours)

    @rule(offset=st.sampled_from([-1, 0, 1]), then_expire=st.booleans())
    def to_next_expiry(self, offset, then_expire):
        """Jump to a microsecond before, at, or after the next expiry instant (and maybe run expiry)."""
        delta = timedelta(microseconds=offset)
        upcoming = [lot.expires_at + delta for lot in self.model.lots
                    if lot.remaining > 0 and lot.expires_at is not None and lot.expires_at + delta > self.now]
        if upcoming:
            self.now = min(upcoming)
        if then_expire:
            self.expire()

    # money
    @rule(n=st.sampled_from(MEMBERS), points=st.integers(1, 400), expiry_policy=st.sampled_from(POLICIES))
    def earn(self, n, points, expiry_policy):
        """Earn under any policy, so lots created later may expire sooner (spending goes by date)."""
        self.config["POINTS_EXPIRY_POLICY"] = self.model.policy = expiry_policy
        self._post([(self.issuer, self.member_ids[n], points, "earn")])

    def _share(self, n, percent) -> int:
        """Points as a share of the member's balance; above 100% (sometimes) asks for too much."""
        return max(1, self.model.balances.get(self.member_ids[n], 0) * percent // 100)

    @rule(n=st.sampled_from(MEMBERS), percent=st.integers(1, 110))
    def spend(self, n, percent):
        self._post([(self.member_ids[n], self.redemption, self._share(n, percent), "redeem")])

    @rule(pair=st.permutations(MEMBERS), percent=st.integers(1, 110))
    def gift(self, pair, percent):
        points = self._share(pair[0], percent)
        self._post([(self.member_ids[pair[0]], self.member_ids[pair[1]], points, "gift")])

    @rule(n=st.sampled_from(MEMBERS), percent=st.integers(1, 60))
    def award_and_spend_double(self, n, percent):
        """Two legs that stand or fall together."""
        member, points = self.member_ids[n], self._share(n, percent)
        self._post([(self.issuer, member, points, "award"), (member, self.redemption, 2 * points, "redeem")])

    @rule()
    def expire(self):
        expected = self.model.expire(self.now)
        assert self.book.expire(self.now) == expected

    def _reverse(self, index):
        transfer_id = self.session.scalars(select(Transfer.id).order_by(Transfer.id)).all()[index]
        expected = self.model.reverse(index, self.now)
        key = f"k{next(self.keys)}"
        try:
            with write(self.session):
                ledger.reverse(self.session, transfer_id, key=key, now=self.now)
            outcome = "ok"
        except ledger.InsufficientPoints:
            outcome = "insufficient"
        except (ledger.LedgerError, Conflict) as error:
            outcome = error.code
        assert outcome == expected
        if outcome == "ok":
            self.accepted.append(("reverse", key, transfer_id))

    @rule(pick=st.integers(0, 10**6))
    def reverse_any(self, pick):
        """Reverse any transfer at all: an earn, a gift, an expiry, even a reversal (refused)."""
        if self.model.transfers:
            self._reverse(pick % len(self.model.transfers))

    @rule(back=st.integers(1, 4))
    def reverse_recent(self, back):
        """Undo one of the last few transfers, as a cancelled order or a refunded purchase would."""
        if len(self.model.transfers) >= back:
            self._reverse(len(self.model.transfers) - back)

    @rule(pick=st.integers(0, 10**6), days=st.integers(0, 800))
    def refund_a_spend_later(self, pick, days):
        """Refund a redemption, possibly after the points it used have passed their date."""
        spends = [i for i, t in enumerate(self.model.transfers) if t.kind == "redeem" and not t.reversed]
        if spends:
            self.now += timedelta(days=days)
            self._reverse(spends[pick % len(spends)])

    @rule(pick=st.integers(0, 10**6), conflicting=st.booleans())
    def replay(self, pick, conflicting):
        """Send an accepted request again: same content replays, other content is refused."""
        if not self.accepted:
            return
        what, key, body = self.accepted[pick % len(self.accepted)]
        before = len(self.model.transfers)
        try:
            with write(self.session):
                if what == "reverse":
                    target = body + 1 if conflicting else body
                    if self.session.get(Transfer, target) is None:
                        return
                    posting = ledger.reverse(self.session, target, key=key, now=self.now)
                else:
                    legs = [(d, c, a + conflicting, k) for d, c, a, k in body]
                    posting = ledger.post(self.session, key=key, legs=self._legs(legs), now=self.now)
            assert not conflicting and posting.replayed
        except ledger.IdempotencyConflict:
            assert conflicting
        except ledger.LedgerError as error:  # reversing a reversal is refused before the key is looked at
            assert conflicting and error.code == "reverse-reversal"
        assert self.session.scalar(select(db.func.count(Transfer.id))) == before

    # after every step
    @invariant()
    def ledger_agrees_with_model(self):
        if self.model is None:
            return
        report = ledger.verify(self.session)
        assert report.ok, report.problems
        rows = self.session.execute(select(Transfer.id, Transfer.debit_account_id, Transfer.credit_account_id,
                                           Transfer.amount, Transfer.kind, Transfer.reverses_id)
                                    .order_by(Transfer.id)).all()
        ids = [row[0] for row in rows]
        assert [tuple(r[1:]) for r in rows] == [
            (t.debit, t.credit, t.amount, t.kind, None if t.reverses is None else ids[t.reverses])
            for t in self.model.transfers]
        balances = dict(self.session.execute(select(Account.id, Account.balance)).all())
        for account_id, balance in balances.items():
            assert balance == self.model.balances.get(account_id, 0), account_id
        lots = self.session.execute(select(Lot.account_id, Lot.expires_at, Lot.remaining, Lot.amount)
                                    .where(Lot.remaining > 0)
                                    .order_by(Lot.account_id, Lot.expires_at.is_(None), Lot.expires_at, Lot.id)).all()
        for member in self.member_ids.values():
            assert balances[member] >= 0
            assert [tuple(lot[1:]) for lot in lots if lot[0] == member] == [
                (lot.expires_at, lot.remaining, lot.amount) for lot in self.model.open_lots(member)]
        self.session.commit()


def test_random_histories_keep_every_invariant_and_match_the_model(ctx):
    try:
        run_state_machine_as_test(LedgerMachine, settings=settings(
            max_examples=50, stateful_step_count=30, deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
    finally:
        db.session.remove()


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.sampled_from(
    [UTC, SHANGHAI, ZoneInfo("America/Los_Angeles"), ZoneInfo("Asia/Kolkata")])),
    st.sampled_from(POLICIES))
@settings(max_examples=300)
def test_policy_matches_the_model_from_any_zone(earned, expiry_policy):
    expires = policy.expiry_for(earned, expiry_policy)
    assert expires == model_expiry(earned, expiry_policy)
    assert expires.tzinfo is not None and expires > earned
    if expiry_policy == "calendar_year_after":
        local = expires.astimezone(SHANGHAI)
        assert (local.month, local.day, local.hour, local.minute) == (1, 1, 0, 0)
        assert local.year == earned.astimezone(SHANGHAI).year + 2


# ---------------------------------------------------------------- time zones

def scenario(book: Book) -> str:
    """A fixed history across Shanghai's year boundary; returns a digest of everything it left."""
    book.earn(1, 500, at(2026, 12, 31, 15, 59, 59))  # 23:59:59 on 31 Dec in Shanghai: a 2026 earning
    book.earn(1, 300, at(2026, 12, 31, 16))  # midnight in Shanghai: already 2027
    book.earn(2, 200, at(2027, 1, 1, 7, 30))  # still 31 Dec in Los Angeles
    book.spend(1, 450, at(2027, 3, 3, 3))  # 50 left of the 2026 lot
    gift = book.gift(1, 2, 100, at(2027, 6, 1, 20))  # 50 dated 2028, 50 dated 2029
    book.spend(2, 10, at(2027, 12, 31, 15, 59, 59, 999999))  # from the 2028-dated gift lot
    assert book.expire(at(2027, 12, 31, 16)) == 1  # 2028-01-01 00:00 Shanghai: 40 gifted points expire
    book.reverse(gift.transfer.id, at(2028, 1, 2))
    book.earn(3, 40, at(2028, 2, 29, 23))
    assert book.expire(at(2028, 6, 1)) == 0
    session = book.session
    session.expire_all()
    parts = [
        sorted(session.execute(select(Account.id, Account.owner_kind, Account.owner_id, Account.name,
                                      Account.balance)).all()),
        session.execute(select(Lot.id, Lot.account_id, Lot.transfer_id, Lot.amount, Lot.remaining,
                               Lot.expires_at).order_by(Lot.id)).all(),
        session.execute(select(Transfer.id, Transfer.kind, Transfer.amount, Transfer.created_at,
                               Transfer.hash).order_by(Transfer.id)).all(),
        [(r.transfer.id, r.delta) for r in ledger.statement(
            session, book.member(1), start=datetime(2027, 1, 1, tzinfo=SHANGHAI),
            end=datetime(2028, 1, 1, tzinfo=SHANGHAI))],
        ledger.expiring_summary(session, book.member(3), at(2029, 12, 15)),
        ledger.daily_digest(session, datetime(2027, 1, 1, tzinfo=SHANGHAI)),
    ]
    assert book.verify().ok
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def test_the_same_history_gives_identical_results_in_every_server_time_zone(ctx):
    saved = os.environ.get("TZ")
    digests = {}
    try:
        for zone in ("UTC", "Asia/Shanghai", "America/Los_Angeles"):
            os.environ["TZ"] = zone
            time.tzset()
            reset_ledger(db.session)
            book = Book(db.session)
            digests[zone] = scenario(book)
            # spot checks, so that "identical" also means "right"
            assert (book.balance(1), book.balance(2), book.balance(3)) == (350, 150, 40)
            assert book.system("expiry").balance == 40
    finally:
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        time.tzset()
        db.session.remove()
    assert len(set(digests.values())) == 1, digests

"""Redemption, the member's side: cart, pricing, placing orders (stock, limits, early access and points
taken together), payment records, the member's orders and cancellations with compensation. What
merchants do to orders is in ``mall.checkout.merchant_side``; the checkout's steps are run, each in its
own transaction, by ``mall.checkout.orchestrator``. Functions flush, never commit."""
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from mall import events
from mall.account.models import User
from mall.account.service import PHONE
from mall.catalog import service as catalog
from mall.catalog.models import Listing, ServiceSlot, StayNight
from mall.checkout.models import CartItem, Order, OrderLine, Payment, Voucher
from mall.checkout.payments import gateway
from mall.clock import SHANGHAI, local_period_start, utcnow
from mall.db import lock, unique_code
from mall.errors import Conflict, DomainError, InsufficientPoints, NotFound
from mall.family import service as family
from mall.ledger import service as ledger
from mall.ledger.models import Account, Transfer
from mall.references import Reference
from mall.settings import settings_of
from mall.validation import is_whole

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
MAX_NIGHTS = 14
PAYMENT_SOURCES = ("own", "family")


def fault_point(session: Session, name: str) -> None:
    """The one test hook, for bench/faults.sh only: with MALL_FAULT_POINT set to ``name`` the worker
    pauses here (MALL_FAULT_SECONDS) so that it can be killed at this step of checkout."""
    settings = settings_of(session)
    if settings.fault_point == name:
        time.sleep(float(settings.fault_seconds))


class CheckoutError(DomainError):
    status = 422
    code = "checkout"


class OutOfStock(Conflict):
    code = "out-of-stock"


class SoldOut(OutOfStock):
    """Every unit of a listing is gone: the one clear answer a flash sale's losers get (409)."""

    code = "sold-out"


class OverMemberLimit(Conflict):
    """The member already redeemed as many units as the listing allows per member (409)."""

    code = "member-limit"


def sold_out() -> SoldOut:
    return SoldOut(_l("Sold out: every unit has been redeemed."))


@dataclass
class LineRequest:
    listing_id: int
    option: str = "points"
    quantity: int = 1
    slot_id: int | None = None
    first_night: date | None = None
    nights: int | None = None


@dataclass
class Delivery:
    name: str = ""
    phone: str = ""
    address: str = ""
    guest_name: str = ""


@dataclass
class PricedLine:
    request: LineRequest
    listing: Listing
    unit_points: int
    unit_cash_fen: int
    problems: list[str] = field(default_factory=list)
    sold_out: bool = False  # no unit left
    over_limit: bool = False  # more than the member may still redeem

    @property
    def points(self) -> int:
        return self.unit_points * self.request.quantity

    @property
    def cash_fen(self) -> int:
        return self.unit_cash_fen * self.request.quantity


@dataclass
class Quote:
    lines: list[PricedLine]
    balance: int
    now: datetime

    @property
    def points(self) -> int:
        return sum(line.points for line in self.lines)

    @property
    def cash_fen(self) -> int:
        return sum(line.cash_fen for line in self.lines)

    @property
    def shortfall(self) -> int:
        return max(0, self.points - self.balance)

    @property
    def problems(self) -> list[str]:
        return [p for line in self.lines for p in line.problems]

    @property
    def kinds(self) -> set[str]:
        return {line.listing.kind for line in self.lines}


# ---------------------------------------------------------------- cart

def cart(session: Session, member: User) -> list[CartItem]:
    return session.scalars(select(CartItem).where(CartItem.member_id == member.id).order_by(CartItem.id)).all()


def order_references(session: Session, user_id: int, ids: set[str], locale: str) -> dict:
    """The statement's words for the member's orders ``ids``: what they redeemed, linking to the order."""
    wanted = {int(i) for i in ids if i.isdigit()}
    if not wanted:
        return {}
    orders = session.scalars(select(Order).where(Order.id.in_(wanted), Order.member_id == user_id)).all()
    found = {}
    for order in orders:
        titles = [line.title_en if locale.startswith("en") else line.title_zh for line in order.lines]
        words = titles[0] if len(titles) == 1 else str(_l("%(first)s and more, %(total)s items", first=titles[0],
                                                          total=len(titles)))
        found[str(order.id)] = Reference(words, "checkout.order", {"order_id": order.id})
    return found


def cart_count_column(user_id):
    """How many items (quantities summed) the member ``user_id`` has in their cart, as a column: the
    header's count beside the cart, read with the user."""
    return select(func.coalesce(func.sum(CartItem.quantity), 0)).where(CartItem.member_id == user_id).scalar_subquery()


def add_to_cart(session: Session, member: User, listing_id: int, option: str = "points", quantity: int = 1) -> CartItem:
    listing = catalog.get_listing(session, listing_id)
    _check_option(listing, option)
    if not is_whole(quantity, 1, 99):
        raise CheckoutError(_l("Choose a quantity from 1 to 99."), code="quantity")
    item = session.scalar(select(CartItem).where(CartItem.member_id == member.id, CartItem.listing_id == listing.id,
                                                 CartItem.option == option))
    if item is None:
        item = CartItem(member_id=member.id, listing_id=listing.id, option=option, quantity=quantity)
        session.add(item)
    else:
        item.quantity = min(99, item.quantity + quantity)
    session.flush()
    return item


def set_cart_quantity(session: Session, member: User, item_id: int, quantity: int) -> None:
    item = session.get(CartItem, item_id)
    if item is None or item.member_id != member.id:
        raise NotFound(_l("No such cart item."))
    if quantity <= 0:
        session.delete(item)
    else:
        item.quantity = min(99, quantity)
    session.flush()


def clear_cart(session: Session, member: User, listing_ids: set[int]) -> None:
    """Take the redeemed listings out of the member's cart."""
    session.execute(delete(CartItem).where(CartItem.member_id == member.id, CartItem.listing_id.in_(list(listing_ids))))


# ---------------------------------------------------------------- pricing

def _check_option(listing: Listing, option: str) -> None:
    if option == "points" and listing.points_price is None:
        raise CheckoutError(_l("This item is only offered for points + cash."), code="option")
    if option == "mix" and listing.mix_points is None:
        raise CheckoutError(_l("This item is only offered for points."), code="option")
    if option not in ("points", "mix"):
        raise CheckoutError(_l("Choose points or points + cash."), code="option")


def already_redeemed(session: Session, member: User, listing: Listing, now: datetime) -> int:
    """Units of ``listing`` the member redeemed in the listing's current limit period."""
    stmt = (select(func.coalesce(func.sum(OrderLine.quantity), 0)).join(Order, Order.id == OrderLine.order_id)
            .where(Order.member_id == member.id, OrderLine.listing_id == listing.id, Order.status != "cancelled"))
    start = local_period_start(listing.limit_period, now)
    if start is not None:
        stmt = stmt.where(Order.created_at >= start)
    return int(session.scalar(stmt) or 0)


def price(session: Session, member: User, requests: list[LineRequest], now: datetime | None = None,
          listings: dict | None = None, balance: int | None = None) -> Quote:
    """Price the lines as they would be charged now, noting every reason one cannot be redeemed."""
    now = now or utcnow()
    if listings is None:
        ids = [r.listing_id for r in requests]
        listings = {l.id: l for l in session.scalars(catalog.visible().where(Listing.id.in_(ids)))}
    lines = []
    for req in requests:
        listing = listings.get(req.listing_id)
        if listing is None:
            raise NotFound(_l("No such listing."))
        problems = []
        try:
            _check_option(listing, req.option)
        except DomainError as err:
            problems.append(err.message)
        unit_points = (listing.points_now(now) if req.option == "points" else listing.mix_points) or 0
        unit_cash = listing.cash_fen if req.option == "mix" else 0
        state = catalog.availability(listing, member, now).state
        if state not in ("available", "early_access"):
            problems.append({"out_of_stock": _l("Out of stock."), "paused": _l("Not available at the moment."),
                             "not_open": _l("Not open for redemption yet."),
                             "early_access_only": _l("Early access is for members in good credit standing.")}[state])
        if listing.stock is not None and req.quantity > listing.stock:
            problems.append(_l("Not enough stock left."))
        over_limit = False
        if listing.limit_per_member:
            used = already_redeemed(session, member, listing, now)
            if used + req.quantity > listing.limit_per_member:
                problems.append(_l("This exceeds the limit per member."))
                over_limit = True
        if listing.kind == "stay":
            unit_points = _price_nights(session, listing, req, problems) if req.option == "points" else unit_points
        if listing.kind == "service":
            slot = session.get(ServiceSlot, req.slot_id) if req.slot_id else None
            if slot is None or slot.listing_id != listing.id or slot.closed or slot.starts_at <= now:
                problems.append(_l("Choose an open time."))
            elif slot.booked + req.quantity > slot.capacity:
                problems.append(_l("That time is fully booked."))
        lines.append(PricedLine(req, listing, unit_points, unit_cash, problems, sold_out=listing.stock == 0,
                                over_limit=over_limit))
    if balance is None:
        balance = ledger.member_balance(session, member.id) or 0
    return Quote(lines, balance, now)


def _price_nights(session: Session, listing: Listing, req: LineRequest, problems: list) -> int:
    if not req.first_night or not req.nights or not 1 <= req.nights <= MAX_NIGHTS:
        problems.append(_l("Choose the first night and 1 to 14 nights."))
        return listing.points_price or 0
    wanted = [req.first_night + timedelta(days=n) for n in range(req.nights)]
    rows = {n.night: n for n in session.scalars(select(StayNight).where(
        StayNight.listing_id == listing.id, StayNight.night.in_(wanted)))}
    if len(rows) != len(wanted) or any(n.rooms < req.quantity for n in rows.values()):
        problems.append(_l("Some of those nights are not available."))
        return listing.points_price or 0
    return sum(n.points_price for n in rows.values())


def lots_to_use(session: Session, member: User, points: int, source: str = "own") -> list[tuple[datetime | None, int]]:
    """(expiry, points) of the lots a spend of ``points`` would draw, earliest expiry first, one entry
    per expiry date in Asia/Shanghai (lots earned on several days of a year expire together)."""
    account = ledger.member_account(session, member.id)
    row = family.membership(session, member) if source == "family" else None
    if family.has_pool_rights(row):
        account = family.pool_account(session, row.family)
    plan, need = [], points
    for lot in ledger.open_lots(session, account, limit=200):
        if need <= 0:
            break
        take = min(need, lot.remaining)
        day = lot.expires_at and lot.expires_at.astimezone(SHANGHAI).date()
        if plan and (plan[-1][0] and plan[-1][0].astimezone(SHANGHAI).date()) == day:
            plan[-1] = (plan[-1][0], plan[-1][1] + take)
        else:
            plan.append((lot.expires_at, take))
        need -= take
    return plan


# ---------------------------------------------------------------- placing orders

def validate_delivery(kinds: set[str], delivery: Delivery) -> list[str]:
    problems = []
    if "goods" in kinds and not (delivery.name.strip() and delivery.address.strip()):
        problems.append(_l("Give the recipient's name and the delivery address."))
    if kinds & {"goods", "topup"} and not PHONE.match(delivery.phone.strip()):
        problems.append(_l("Give a valid mainland mobile number (11 digits, starting with 1)."))
    if "stay" in kinds and not delivery.guest_name.strip():
        problems.append(_l("Give the guest's name for the hotel."))
    return problems


@dataclass
class Placed:
    orders: list[Order]
    replayed: bool = False


def existing_orders(session: Session, member: User, token: str) -> list[Order]:
    return session.scalars(select(Order).where(Order.member_id == member.id, Order.checkout_token == token)
                           .order_by(Order.id)).all()


def check_request(requests: list[LineRequest], token: str, source: str) -> None:
    """Refuse a checkout form that cannot be placed whatever the database holds."""
    if source not in PAYMENT_SOURCES:
        raise CheckoutError(_l("Choose where the points come from."), code="source")
    if not token or len(token) > 64:
        raise CheckoutError(_l("This checkout form has expired; please start again."), code="token")
    if not requests:
        raise CheckoutError(_l("Your cart is empty."), code="empty")


def refuse_sold_out(session: Session, member: User, requests: list[LineRequest], token: str) -> None:
    """A flash sale's losers are answered at once: before any write transaction or lock, one cheap read
    refuses a listing with no unit left (``SoldOut``, 409) unless ``token`` already placed its orders (a
    replay still finds them). Only a hint: the conditional stock update in ``place`` stays the guard."""
    ids = [r.listing_id for r in requests]
    placed = select(Order.id).where(Order.member_id == member.id, Order.checkout_token == token).exists()
    row = session.execute(select(Listing.id, placed).where(Listing.id.in_(ids), Listing.stock == 0).limit(1)).first()
    if row is not None and not row[1]:  # one read: a listing with no unit left, and no order of this token
        raise sold_out()


def _refuse_lost_race(quote: Quote) -> None:
    """The two refusals a limited listing's race ends in, each a 409 with its own clear message:
    no unit left, or the member already has what the listing allows (a second tab of a winner)."""
    if any(line.sold_out for line in quote.lines):
        raise sold_out()
    if any(line.over_limit for line in quote.lines):
        raise OverMemberLimit(_l("This exceeds the limit per member."))


def redeemable(session: Session, member: User, requests: list[LineRequest], delivery: Delivery,
               now: datetime) -> Quote:
    """The quote of lines that can be redeemed as asked, or a refusal naming every reason they cannot
    (sold out and the per-member limit each alone, as a 409)."""
    quote = price(session, member, requests, now)
    _refuse_lost_race(quote)
    problems = quote.problems + validate_delivery(quote.kinds, delivery)
    if problems:
        raise CheckoutError(" ".join(dict.fromkeys(str(p) for p in problems)), code="not-redeemable")
    return quote


def record_refused_payment(session: Session, member: User, token: str, amount: int, status: str) -> None:
    """Note a cash payment the gateway declined or did not answer (once per checkout token)."""
    if session.scalar(select(Payment.id).where(Payment.member_id == member.id,
                                               Payment.checkout_token == token)) is None:
        session.add(Payment(member_id=member.id, checkout_token=token, amount_fen=amount, status=status))
        session.flush()


def record_authorisation(session: Session, member: User, token: str, amount: int, ref: str) -> int:
    """Note the gateway's authorisation of the cash part; returns the payment's id."""
    payment = session.scalar(select(Payment).where(Payment.member_id == member.id, Payment.checkout_token == token))
    if payment is None:
        payment = Payment(member_id=member.id, checkout_token=token, amount_fen=amount, status="authorised",
                          gateway_ref=ref)
        session.add(payment)
    else:
        payment.status, payment.gateway_ref = "authorised", ref
    session.flush()
    return payment.id


def set_payment_status(session: Session, payment_id: int, status: str) -> None:
    """Note what the gateway did with a payment (captured, voided)."""
    session.get(Payment, payment_id).status = status
    session.flush()


def reconcile_payments(session: Session, grace_minutes: int | None = None, now: datetime | None = None) -> dict[str, int]:
    """Settle what a crash left open: an authorisation still open at the gateway after ``grace_minutes``
    (default: the configured grace period) is captured if a committed order that is not cancelled was
    paid with it, else voided; a payment the mall still records as authorised takes the gateway's final
    state. Idempotent, so a failure half-way is mended by running it again. Returns the counts."""
    if grace_minutes is None:
        grace_minutes = settings_of(session).payment_reconcile_grace_minutes
    before = (now or utcnow()) - timedelta(minutes=grace_minutes)
    refs = [auth["ref"] for auth in gateway().authorisations("authorised", before=before)]
    refs += session.scalars(select(Payment.gateway_ref).where(
        Payment.status == "authorised", Payment.gateway_ref.is_not(None), Payment.created_at < before)).all()
    done = {"captured": 0, "voided": 0}
    for ref in dict.fromkeys(refs):
        payment = session.scalar(select(Payment).where(Payment.gateway_ref == ref))
        held = gateway().payment(ref)
        status = held["status"] if held else "voided"
        if status == "authorised":
            if held["created_at"] >= before:
                continue  # a checkout may still be on its way to placing the order
            paid = payment is not None and session.scalar(select(Order.id).where(
                Order.payment_id == payment.id, Order.status != "cancelled").limit(1)) is not None
            status = "captured" if paid else "voided"
            (gateway().capture if paid else gateway().void)(ref)
            done[status] += 1
        if payment is not None and payment.status == "authorised" and status in ("captured", "voided"):
            payment.status = status
    session.flush()
    return done


def place(session: Session, member: User, requests: list[LineRequest], delivery: Delivery, token: str,
          payment_id: int | None, now: datetime, source: str = "own") -> Placed:
    """Take stock, slots, nights, limits and points for every line, one order per merchant; replaying
    ``token`` returns the orders placed the first time. ``source`` "family" pays the points from the
    member's family pool (pool rights and monthly limit checked under the pool's lock)."""
    done = existing_orders(session, member, token)
    if done:
        return Placed(done, replayed=True)
    listings = lock(session, Listing, [r.listing_id for r in requests])
    # No balance read here: the ledger checks the points under the wallet's lock, and a shortfall is
    # read back only when it refuses (one statement less inside the write).
    quote = price(session, member, requests, now, listings={
        i: l for i, l in listings.items() if l.status == "active" and l.merchant.status == "approved"}, balance=0)
    _refuse_lost_race(quote)  # counted under the listings' locks: two tabs of one member cannot both pass
    if quote.problems:
        raise OutOfStock(" ".join(dict.fromkeys(str(p) for p in quote.problems)))
    for line in quote.lines:
        _take_inventory(session, line)
    fault_point(session, "after_stock")
    by_merchant: dict[int, list[PricedLine]] = defaultdict(list)
    for line in quote.lines:
        by_merchant[line.listing.merchant_id].append(line)
    wallet = ledger.member_account(session, member.id)
    if source == "family" and quote.points:
        wallet = family.pool_for_checkout(session, member, quote.points, now)
    orders, legs = [], []
    for merchant_id, lines in sorted(by_merchant.items()):
        order = Order(member_id=member.id, merchant_id=merchant_id, checkout_token=token, status="placed",
                      points=sum(l.points for l in lines), cash_fen=sum(l.cash_fen for l in lines),
                      payment_id=payment_id, delivery=_delivery_for(lines, delivery), created_at=now,
                      payment_source=source)
        session.add(order)
        session.flush()
        for line in lines:
            row = OrderLine(order_id=order.id, listing_id=line.listing.id, kind=line.listing.kind,
                            title_zh=line.listing.title_zh, title_en=line.listing.title_en, option=line.request.option,
                            quantity=line.request.quantity, unit_points=line.unit_points,
                            unit_cash_fen=line.unit_cash_fen, slot_id=line.request.slot_id,
                            first_night=line.request.first_night, nights=line.request.nights,
                            co2e_g=line.listing.co2e_g * line.request.quantity if line.listing.green else 0)
            session.add(row)
            session.flush()
            if line.listing.kind in ("coupon", "service"):
                _issue_vouchers(session, row, line.listing, now)
            line.listing.redemptions += line.request.quantity
        if order.points:
            redemption = ledger.open_account(session, "merchant", merchant_id, "redemption")
            legs.append((order, ledger.Leg(wallet, redemption, order.points, "redeem", f"order #{order.id}")))
        orders.append(order)
    if legs:
        try:
            posting = ledger.post(session, key=f"checkout:{member.id}:{token}", legs=[leg for _, leg in legs],
                                  actor_id=member.id, ref=("checkout", token), now=now)
        except ledger.InsufficientPoints as err:
            if source == "family":
                needed = err.params.get("needed", 0)
                raise InsufficientPoints(_l("Not enough points in the family pool: it needs %(num)s more.",
                                            num=needed), needed=needed) from err
            shortfall = max(0, quote.points - (ledger.member_balance(session, member.id) or 0))
            raise InsufficientPoints(_l("Not enough points: you need %(num)s more.", num=shortfall),
                                     needed=shortfall) from err
        for (order, _), transfer in zip(legs, posting.transfers):
            order.transfer_id = transfer.id
        fault_point(session, "after_points")
    clear_cart(session, member, {r.listing_id for r in requests})
    session.flush()
    for order in orders:
        events.order_placed.send(session, order_id=order.id, member_id=member.id, merchant_id=order.merchant_id,
                                 points=order.points, cash_fen=order.cash_fen)
    return Placed(orders)


def _delivery_for(lines: list[PricedLine], delivery: Delivery) -> dict:
    kinds = {l.listing.kind for l in lines}
    data = {}
    if "goods" in kinds:
        data.update(name=delivery.name.strip(), phone=delivery.phone.strip(), address=delivery.address.strip())
    if "topup" in kinds:
        data["phone"] = delivery.phone.strip()
    if "stay" in kinds:
        data["guest_name"] = delivery.guest_name.strip()
    return data


def _take_inventory(session: Session, line: PricedLine) -> None:
    """Conditional updates: two checkouts for the last unit cannot both succeed."""
    qty, listing = line.request.quantity, line.listing
    if listing.stock is not None:
        taken = session.execute(update(Listing).where(Listing.id == listing.id, Listing.stock >= qty)
                                .values(stock=Listing.stock - qty)).rowcount
        if taken != 1:
            raise OutOfStock(_l("Sorry, that item has just run out."))
    if listing.kind == "service":
        booked = session.execute(update(ServiceSlot).where(
            ServiceSlot.id == line.request.slot_id, ServiceSlot.booked + qty <= ServiceSlot.capacity,
            ServiceSlot.closed.is_(False)).values(booked=ServiceSlot.booked + qty)).rowcount
        if booked != 1:
            raise OutOfStock(_l("Sorry, that time has just been booked up."))
    if listing.kind == "stay" and line.request.first_night:
        nights = [line.request.first_night + timedelta(days=n) for n in range(line.request.nights or 0)]
        taken = session.execute(update(StayNight).where(
            StayNight.listing_id == listing.id, StayNight.night.in_(nights), StayNight.rooms >= qty)
            .values(rooms=StayNight.rooms - qty)).rowcount
        if taken != len(nights):
            raise OutOfStock(_l("Sorry, some of those nights have just been booked up."))
    session.expire(listing, ["stock"])


def _issue_vouchers(session: Session, row: OrderLine, listing: Listing, now: datetime) -> None:
    if listing.kind == "coupon":
        valid_until = now + timedelta(days=listing.coupon_valid_days or 30)
    else:
        slot = session.get(ServiceSlot, row.slot_id)
        valid_until = slot.starts_at + timedelta(days=1)
    for _ in range(row.quantity):
        session.add(Voucher(order_line_id=row.id, merchant_id=listing.merchant_id, code=unique_code(session, Voucher.code, CODE_ALPHABET, 10),
                            valid_until=valid_until))


def orders_of(session: Session, member: User, limit: int = 50) -> list[Order]:
    return session.scalars(select(Order).where(Order.member_id == member.id).order_by(Order.id.desc()).limit(limit)).all()


def placed_with(session: Session, order: Order) -> list[Order]:
    """The other orders the same checkout placed (one per merchant of a mixed cart), in id order."""
    return session.scalars(select(Order).where(Order.member_id == order.member_id,
                                               Order.checkout_token == order.checkout_token,
                                               Order.id != order.id).order_by(Order.id)).all()


def get_order_for(session: Session, member: User, order_id: int) -> Order:
    """The member's own order, or NotFound (another member's order looks absent)."""
    order = session.get(Order, order_id)
    if order is None or order.member_id != member.id:
        raise NotFound(_l("No such order."))
    return order


# ---------------------------------------------------------------- cancelling

def cancel(session: Session, order: Order, by: str, reason: str, now: datetime | None = None) -> Order:
    """Cancel a placed order: every point back to the lots it came from (original expiry, or 30 more
    days if that has passed), stock, slots and nights released, vouchers void, cash refunded. A
    merchant cancellation adds compensation from the programme at the published rate."""
    now = now or utcnow()
    order = lock_order_and_stock(session, order)
    if order.status != "placed":
        raise Conflict(_l("Only an order that has not been fulfilled or cancelled can be cancelled."), code="not-cancellable")
    if by == "member":
        ends = member_cancel_deadline(session, order)
        if ends is None or now > ends:
            raise DomainError(_l("This order can no longer be cancelled by you."), code="window-closed")
    remaining = order.points - (ledger.returned(session, order.transfer_id) if order.transfer_id else 0)
    if remaining > 0:
        lock_order_accounts(session, order)
    if order.transfer_id and remaining > 0:
        if remaining == order.points:
            refund = ledger.reverse(session, order.transfer_id, key=f"order:{order.id}:refund", kind="refund",
                                    memo=f"order #{order.id}", actor_id=order.member_id, now=now).transfer
        else:  # after partial refunds, the rest
            refund = ledger.give_back(session, order.transfer_id, remaining, key=f"order:{order.id}:refund",
                                      kind="refund", memo=f"order #{order.id}", actor_id=order.member_id,
                                      now=now).transfer
        if order.payment_source == "family":
            family.settle_refund(session, session.get(Account, refund.credit_account_id), order.member_id,
                                 refund.amount, key=f"order:{order.id}:refund:member", now=now)
    if by == "merchant" and remaining > 0:
        order.compensation = remaining * settings_of(session).compensation_percent // 100
        if order.compensation:
            ledger.transfer(session, ledger.system_account(session, "compensation"),
                            ledger.member_account(session, order.member_id), order.compensation, "compensate",
                            key=f"order:{order.id}:compensation", memo=f"order #{order.id}",
                            ref=("order", str(order.id)), now=now)
    refunded_cash = sum(line.unit_cash_fen * line.refunded_quantity for line in order.lines)  # by partial refunds
    for line in order.lines:
        release(session, line)
        line.refunded_quantity = line.quantity
        for voucher in line.vouchers:
            if voucher.status == "active":
                voucher.status = "cancelled"
    order.status, order.cancelled_by, order.cancel_reason, order.cancelled_at = "cancelled", by, reason[:200], now
    if order.payment_id and order.cash_fen:
        payment = session.get(Payment, order.payment_id)
        others = session.scalar(select(func.count(Order.id)).where(
            Order.payment_id == payment.id, Order.status != "cancelled", Order.id != order.id))
        if payment.status == "captured":  # each merchant's order gives back its own cash
            gateway().refund(payment.gateway_ref, order.cash_fen - refunded_cash)
            payment.status = "captured" if others else "refunded"
    session.flush()
    events.order_cancelled.send(session, order_id=order.id, member_id=order.member_id, merchant_id=order.merchant_id,
                                by=by, points_returned=remaining if order.transfer_id else 0,
                                compensation=order.compensation)
    return order


def lock_order_and_stock(session: Session, order: Order) -> Order:
    """The canonical lock order (``mall.db``) for undoing an order: the order, then its listings by id
    (whose slots and nights only a holder of the listing changes) — before any ledger account."""
    order = lock(session, Order, [order.id])[order.id]
    lock(session, Listing, [line.listing_id for line in order.lines])
    return order


def lock_order_accounts(session: Session, order: Order) -> None:
    """The accounts points go back to, all at once and in id order (``ledger.lock_accounts``): the
    member's and, for an order paid from a family pool, the pool's (the debit of the redemption)."""
    ids = {ledger.member_account(session, order.member_id).id}
    if order.transfer_id:
        ids.add(session.get(Transfer, order.transfer_id).debit_account_id)
    ledger.lock_accounts(session, sorted(ids))


def cancel_own_order(session: Session, member: User, order_id: int) -> Order:
    """The member cancels one of their orders within the listings' cancellation window."""
    return cancel(session, get_order_for(session, member, order_id), "member", "cancelled by member")


def member_cancel_deadline(session: Session, order: Order) -> datetime | None:
    """When the member's own cancellation window closes (None: the listings allow none)."""
    hours = session.scalar(select(func.min(Listing.cancel_hours)).where(
        Listing.id.in_([line.listing_id for line in order.lines])))
    return order.created_at + timedelta(hours=hours) if hours else None


def release(session: Session, line: OrderLine, quantity: int | None = None) -> None:
    """Put ``quantity`` units (default: all not yet refunded) back into stock, slots and nights."""
    quantity = line.quantity - line.refunded_quantity if quantity is None else quantity
    if quantity <= 0:
        return
    session.execute(update(Listing).where(Listing.id == line.listing_id, Listing.stock.is_not(None))
                    .values(stock=Listing.stock + quantity))
    if line.slot_id:
        session.execute(update(ServiceSlot).where(ServiceSlot.id == line.slot_id)
                        .values(booked=ServiceSlot.booked - quantity))
    if line.first_night and line.nights:
        nights = [line.first_night + timedelta(days=n) for n in range(line.nights)]
        session.execute(update(StayNight).where(StayNight.listing_id == line.listing_id, StayNight.night.in_(nights))
                        .values(rooms=StayNight.rooms + quantity))


# ---------------------------------------------------------------- reading, for other areas

def get_order(session: Session, order_id: int) -> Order:
    """An order by id, for reactions to order events (no per-object check: never for a door)."""
    order = session.get(Order, order_id)
    if order is None:
        raise NotFound(_l("No such order."))
    return order


def orders_after(session: Session, after_id: int, limit: int) -> list[Order]:
    """The next ``limit`` orders by id above ``after_id`` (for batch jobs)."""
    return session.scalars(select(Order).where(Order.id > after_id).order_by(Order.id).limit(limit)).all()


def count_orders_of(session: Session, member_id: int) -> int:
    """How many orders the member has redeemed, cancelled ones aside."""
    return int(session.scalar(select(func.count(Order.id)).where(Order.member_id == member_id,
                                                                 Order.status != "cancelled")) or 0)


def fulfilled_orders_of(session: Session, member_id: int, *, excluding=(), limit: int = 20) -> list[Order]:
    """The member's fulfilled orders, newest first, but those with ids in ``excluding`` (ids or a query)."""
    return session.scalars(select(Order).where(Order.member_id == member_id, Order.status == "fulfilled",
                                               Order.id.not_in(excluding))
                           .order_by(Order.id.desc()).limit(limit)).all()


def order_ids_with(listing_id: int):
    """A query of the ids of the orders that contain the listing (to use as a subquery)."""
    return select(OrderLine.order_id).where(OrderLine.listing_id == listing_id)


def has_open_orders(session: Session, member_id: int) -> bool:
    """Whether the member has orders that are neither fulfilled nor cancelled."""
    return session.scalar(select(Order.id).where(Order.member_id == member_id, Order.status == "placed")
                          .limit(1)) is not None


def forget(session: Session, member_id: int) -> None:
    """A deleted member's personal data in checkout: delivery details of their orders, and their cart."""
    session.execute(update(Order).where(Order.member_id == member_id).values(delivery={}))
    session.execute(delete(CartItem).where(CartItem.member_id == member_id))

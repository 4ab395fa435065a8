"""Families: lifecycle, permissions, limits, invitations, the pool, gifts and the ledger's totals."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from mall.account.models import User
from mall.checkout import service as checkout
from mall.checkout.models import Order
from mall.db import write
from mall.errors import Conflict, DomainError, NotFound
from mall.extensions import db
from mall.family import service as family
from mall.family.models import Family, FamilyEvent, FamilyMember
from mall.ledger.models import Lot, Transfer
from mall.models import utcnow

LR = checkout.LineRequest


def test_full_lifecycle(app, home):
    head, kid, gran = home.member("head@example.com", 10000), home.member("kid@example.com", 6000), \
        home.member("gran@example.com", 2000)
    fid = home.family(head, kid, gran)
    home.contribute(head, 6000)
    home.contribute(kid, 3000)
    home.contribute(gran, 1000)
    assert home.pool(fid) == 10000
    assert home.balance(head) == 4000
    home.run(head, family.set_rights, kid, True, None)
    item = home.listing(points_price=2000, stock=5)
    [order_id] = home.pay_from_pool(kid, [LR(item)])
    assert home.pool(fid) == 8000 and home.balance(kid) == 3000
    with app.app_context():
        order = db.session.get(Order, order_id)
        assert order.payment_source == "family" and order.member_id == kid
        fam = db.session.get(Family, fid)
        statement = family.pool_statement(db.session, fam)
        assert statement[0][0].transfer.kind == "redeem" and statement[0][1] == "kid"
        shares = {s.member.user_id: s for s in family.shares(db.session, fam)}
        assert (shares[kid].contributed, shares[kid].redeemed, shares[kid].unspent) == (3000, 2000, 1000)
    home.verify()

    # gran leaves: by the default policy her pooled points stay in the pool
    home.run(gran, family.leave)
    assert home.pool(fid) == 8000 and home.balance(gran) == 1000
    with pytest.raises(NotFound):
        home.run(gran, family.get_family_for)
    home.verify()

    # dissolution: pro rata to unspent contributions (head 6000, kid 1000) of the 8000 in the pool
    returned = dict(home.run(head, family.dissolve))
    assert returned == {head: 6857, kid: 1143}
    assert home.pool(fid) == 0
    assert home.balance(head) == 4000 + 6857 and home.balance(kid) == 3000 + 1143
    with pytest.raises(NotFound):
        home.run(kid, family.get_family_for)
    with app.app_context():
        assert db.session.get(Family, fid).status == "dissolved"
        assert db.session.scalar(select(FamilyMember.id).where(FamilyMember.family_id == fid)) is None
    home.verify()


def test_contributions_and_returns_keep_lot_expiry(app, home):
    head, kid = home.member("head@example.com", 0), home.member("kid@example.com", 0)
    home.earn(head, 500)
    fid = home.family(head, kid)
    home.contribute(head, 300)
    with app.app_context():
        pool = family.pool_account(db.session, db.session.get(Family, fid))
        wallet_lot = db.session.scalar(select(Lot).join(Transfer, Transfer.id == Lot.transfer_id)
                                       .where(Transfer.kind == "earn"))
        pool_lot = db.session.scalar(select(Lot).where(Lot.account_id == pool.id))
        assert pool_lot.expires_at == wallet_lot.expires_at and pool_lot.origin_lot_id == wallet_lot.id
    home.run(head, family.dissolve)
    with app.app_context():
        back = db.session.scalars(select(Lot).join(Transfer, Transfer.id == Lot.transfer_id)
                                  .where(Transfer.kind == "pool_out")).all()
        assert [lot.expires_at for lot in back] == [wallet_lot.expires_at]
    home.verify()


def test_contribution_needs_consent_and_points_and_replays_once(app, home):
    head = home.member("head@example.com", 1000)
    fid = home.family(head)
    with pytest.raises(DomainError, match="Tick the box"):
        home.run(head, family.contribute, 100, "t1", False)
    with pytest.raises(DomainError, match="that many points"):
        home.run(head, family.contribute, 5000, "t2", True)
    for bad in (0, -5, True, 1.5, "100"):
        with pytest.raises(DomainError):
            home.run(head, family.contribute, bad, "t3", True)
    home.contribute(head, 400, token="same")
    home.contribute(head, 400, token="same")  # a double submit moves the points once
    assert home.pool(fid) == 400 and home.balance(head) == 600
    with app.app_context():
        event = db.session.scalar(select(FamilyEvent).where(FamilyEvent.kind == "contributed"))
        assert "400" in event.data["consent"] and event.transfer_id
    home.verify()


def test_percent_opt_in_applies_at_award_time(app, home):
    from mall.coalition.models import Merchant
    from mall.rules import service as rules

    head = home.member("head@example.com", 0)
    fid = home.family(head)
    with pytest.raises(DomainError, match="Tick the box"):
        home.run(head, family.set_pool_percent, 10, False)
    home.run(head, family.set_pool_percent, 25, True)
    doc = {"member_code": home.code(head), "total_fen": 100000,
           "items": [{"category": "grocery", "amount_fen": 100000}]}
    with app.app_context(), write(db.session):
        row = rules.award_purchase(db.session, db.session.get(Merchant, home.merchant_id), rules.parse_purchase(doc))
        earned = row.points
    assert earned > 0
    assert home.pool(fid) == earned * 25 // 100
    assert home.balance(head) == earned - earned * 25 // 100
    home.run(head, family.set_pool_percent, 0, False)  # opting out needs no consent
    home.verify()


def test_permissions(app, home):
    head, kid, stranger = (home.member(e, 5000) for e in ("head@example.com", "kid@example.com", "x@example.com"))
    fid = home.family(head, kid)
    home.contribute(head, 3000)
    item = home.listing(points_price=500, stock=None)
    # a member without pool rights is refused, and nothing moves
    with pytest.raises(DomainError, match="not allowed you"):
        home.pay_from_pool(kid, [LR(item)])
    assert home.pool(fid) == 3000 and home.balance(kid) == 5000
    # a non-member cannot pay from, see or change the family
    with pytest.raises(DomainError, match="not in a family"):
        home.pay_from_pool(stranger, [LR(item)])
    for action, args in ((family.get_family_for, ()), (family.invite, ("",)), (family.contribute, (10, "t", True)),
                         (family.set_goal, ("x", 10))):
        with pytest.raises(NotFound):
            home.run(stranger, action, *args)
    # head-only actions
    for action, args in ((family.invite, ("",)), (family.set_rights, (kid, True, None)), (family.hand_over, (kid,)),
                         (family.remove_member, (head,)), (family.dissolve, ())):
        with pytest.raises(DomainError, match="Only the head"):
            home.run(kid, action, *args)
    # the head hands over; the new head can grant rights, the old one cannot
    home.run(head, family.hand_over, kid)
    with pytest.raises(DomainError, match="Only the head"):
        home.run(head, family.set_rights, kid, True, None)
    with pytest.raises(DomainError, match="Hand over"):
        home.run(kid, family.leave)
    home.run(kid, family.remove_member, head)
    with pytest.raises(NotFound):
        home.run(head, family.get_family_for)
    home.verify()


def test_monthly_limit_per_member(app, home):
    head, kid = home.member("head@example.com", 10000), home.member("kid@example.com", 0)
    fid = home.family(head, kid)
    home.contribute(head, 10000)
    home.run(head, family.set_rights, kid, True, 1000)
    item = home.listing(points_price=400, stock=None)
    home.pay_from_pool(kid, [LR(item)])
    home.pay_from_pool(kid, [LR(item)])
    with pytest.raises(DomainError, match="monthly limit"):
        home.pay_from_pool(kid, [LR(item)])
    assert home.pool(fid) == 9200
    with app.app_context():
        kid_user = db.session.get(User, kid)
        assert family.pool_available(db.session, kid_user) == 200
    # a cancelled order gives the month's allowance back, and the points go back to the pool
    with app.app_context(), write(db.session):
        order = db.session.scalar(select(Order).where(Order.member_id == kid).order_by(Order.id))
        checkout.cancel(db.session, order, "merchant", "sold out")
    assert home.pool(fid) == 9600
    home.pay_from_pool(kid, [LR(item)])
    home.verify()


def test_member_limit_and_one_family_per_member(app, home, monkeypatch):
    monkeypatch.setitem(app.config, "FAMILY_MEMBER_LIMIT", 3)
    head, a, b, c = (home.member(f"{n}@example.com", 0) for n in ("head", "a", "b", "c"))
    home.family(head, a)
    home.run(head, family.invite, "")  # an open link counts toward the limit
    with pytest.raises(Conflict, match="at most 3"):
        home.run(head, family.invite, home.code(b))
    other_head = home.member("other@example.com", 0)
    home.family(other_head)
    with pytest.raises(Conflict, match="already in a family"):
        home.run(other_head, family.invite, home.code(a))
    with pytest.raises(Conflict, match="already in a family"):
        home.run(a, family.create_family, "Another")


def test_invitation_link_works_once_for_the_invited_code_and_expires(app, home):
    head, invited, other = (home.member(f"{n}@example.com", 0) for n in ("head", "invited", "other"))
    home.family(head)
    _inv, token = home.run(head, family.invite, home.code(invited))
    with pytest.raises(NotFound):  # bound to another member's code
        home.run(other, family.invitation_by_token, token)
    with app.app_context(), write(db.session):
        user = db.session.get(User, invited)
        family.accept(db.session, user, family.invitation_by_token(db.session, user, token))
    home.run(invited, family.leave)
    with pytest.raises(Conflict, match="already been used"):  # reused
        home.run(invited, family.invitation_by_token, token)
    # an open link, expired
    _inv, open_token = home.run(head, family.invite, "")
    later = utcnow() + timedelta(days=7, seconds=1)
    with pytest.raises(Conflict, match="expired"):
        home.run(other, family.invitation_by_token, open_token, later)
    with pytest.raises(NotFound):
        home.run(other, family.invitation_by_token, "not-a-token")
    # declined invitations cannot be accepted afterwards
    _inv, token = home.run(head, family.invite, home.code(other))
    with app.app_context(), write(db.session):
        user = db.session.get(User, other)
        family.decline(db.session, user, family.invitation_by_token(db.session, user, token))
    with pytest.raises(Conflict):
        home.run(other, family.invitation_by_token, token)


def test_leave_policy_return_gives_back_unspent_contributions(app, home, monkeypatch):
    monkeypatch.setitem(app.config, "FAMILY_LEAVE_POLICY", "return")
    head, kid = home.member("head@example.com", 1000), home.member("kid@example.com", 1000)
    fid = home.family(head, kid)
    home.contribute(kid, 700)
    home.contribute(head, 100)
    assert home.run(kid, family.leave) == 700
    assert home.balance(kid) == 1000 and home.pool(fid) == 100
    home.verify()


def test_gifts_within_family_with_limits_and_confirmation(app, home, monkeypatch):
    a, b, outsider = (home.member(f"{n}@example.com", 30000) for n in ("a", "b", "out"))
    home.family(a, b)
    name, masked = home.run(a, family.preview_gift, home.code(b), 1000,
                            then=lambda p: (p.recipient.display_name, p.masked_code))
    assert name == "b" and "*" in masked
    assert masked[:2] == home.code(b)[:2] and masked != home.code(b)
    with pytest.raises(DomainError, match="yourself"):
        home.run(a, family.gift_points, home.code(a), 10, "self")
    with pytest.raises(DomainError, match="members of your family"):
        home.run(a, family.gift_points, home.code(outsider), 10, "out")
    home.run(a, family.gift_points, home.code(b), 3000, "g1")
    home.run(a, family.gift_points, home.code(b), 3000, "g1")  # replay: once
    assert home.balance(a) == 27000 and home.balance(b) == 33000
    with pytest.raises(DomainError, match="gift limit"):
        home.run(a, family.gift_points, home.code(b), 2001, "g2")
    home.run(a, family.gift_points, home.code(b), 2000, "g3")
    with pytest.raises(DomainError, match="gift limit"):
        home.run(a, family.gift_points, home.code(b), 1, "g4")
    # the monthly limit holds across days
    from mall.clock import SHANGHAI

    now = utcnow()
    later = now + timedelta(days=1)
    if later.astimezone(SHANGHAI).month != now.astimezone(SHANGHAI).month:
        later = now + timedelta(hours=1)
    monkeypatch.setitem(app.config, "FAMILY_GIFT_MONTHLY_LIMIT", 6000)
    with pytest.raises(DomainError, match="gift limit"):
        home.run(a, family.gift_points, home.code(b), 1001, "g5", later)
    monkeypatch.setitem(app.config, "FAMILY_GIFT_MONTHLY_LIMIT", 20000)
    monkeypatch.setitem(app.config, "FAMILY_GIFT_OUTSIDE_FAMILY", True)
    home.run(b, family.gift_points, home.code(outsider), 10, "g6")
    home.verify()


def test_gift_and_pool_loops_do_not_change_the_supply(app, home, monkeypatch):
    """A thousand gifts A→B→A and contributions, with withdrawals, neither print nor lose points."""
    a, b = home.member("a@example.com", 5000), home.member("b@example.com", 5000)
    fid = home.family(a, b)
    supply = home.supply()
    with pytest.raises(DomainError, match="yourself"):
        home.run(a, family.gift_points, home.code(a), 1, "self")
    for key, value in (("FAMILY_GIFT_DAILY_LIMIT", 10**9), ("FAMILY_GIFT_MONTHLY_LIMIT", 10**9),
                       ("FAMILY_LEAVE_POLICY", "return")):
        monkeypatch.setitem(app.config, key, value)
    code_a, code_b = home.code(a), home.code(b)
    with app.app_context():
        for n in range(1000):  # a thousand movements: gift A→B, gift B→A, contribute, in turn
            with write(db.session):
                if n % 3 == 0:
                    family.gift_points(db.session, db.session.get(User, a), code_b, 100, f"ab{n}")
                elif n % 3 == 1:
                    family.gift_points(db.session, db.session.get(User, b), code_a, 100, f"ba{n}")
                else:
                    family.contribute(db.session, db.session.get(User, b), 3, f"c{n}", True)
            if n % 60 == 59:  # withdraw: leave (unspent contributions come back) and rejoin
                with write(db.session):
                    assert family.leave(db.session, db.session.get(User, b)) == 60
                home.join(a, b)
    assert home.balance(a) + home.balance(b) + home.pool(fid) == 10000
    assert home.pool(fid) == 3 * (333 - 320)  # contributions since the last withdrawal
    assert home.supply() == supply
    home.verify()


def test_refund_of_a_pool_order_after_dissolution_goes_to_the_member(app, home):
    head, kid = home.member("head@example.com", 2000), home.member("kid@example.com", 0)
    fid = home.family(head, kid)
    home.run(head, family.set_rights, kid, True, None)
    home.contribute(head, 2000)
    item = home.listing(points_price=500, stock=None)
    [order_id] = home.pay_from_pool(kid, [LR(item)])
    home.run(head, family.dissolve)
    assert home.pool(fid) == 0 and home.balance(head) == 1500
    with app.app_context(), write(db.session):
        checkout.cancel(db.session, db.session.get(Order, order_id), "merchant", "closed")
    assert home.pool(fid) == 0  # nothing stranded in a pool no one can use
    assert home.balance(kid) == 500 + 50  # the refund, plus the programme's compensation
    home.verify()

"""Concurrent redemptions from one pool, gifts and dissolution: nothing goes below zero or over a limit."""
from mall.checkout import service as checkout
from mall.family import service as family
from tests.builders import race

LR = checkout.LineRequest


def test_concurrent_pool_redemptions_never_overdraw(app, home):
    head, a, b = (home.member(f"{n}@example.com", 1000) for n in ("head", "a", "b"))
    fid = home.family(head, a, b)
    for user_id in (a, b):
        home.run(head, family.set_rights, user_id, True, None)
    home.contribute(head, 1000)
    item = home.listing(points_price=300, stock=None)
    members = [head, a, b]
    results = race(lambda i: home.pay_from_pool(members[i % 3], [LR(item)]), range(30))
    assert results.count("ok") == 3
    assert all(r in (409, 422) for r in results if r != "ok")
    assert home.pool(fid) == 100
    assert [home.balance(u) for u in (a, b)] == [1000, 1000]
    home.verify()


def test_concurrent_redemptions_respect_the_monthly_limit(app, home):
    head, kid = home.member("head@example.com", 10000), home.member("kid@example.com", 0)
    fid = home.family(head, kid)
    home.run(head, family.set_rights, kid, True, 500)
    home.contribute(head, 10000)
    item = home.listing(points_price=100, stock=None)
    results = race(lambda i: home.pay_from_pool(kid, [LR(item)]), range(20))
    assert results.count("ok") == 5
    assert home.pool(fid) == 9500
    home.verify()


def test_concurrent_gifts_never_overdraw_or_exceed_the_daily_limit(app, home):
    a, b = home.member("a@example.com", 1000), home.member("b@example.com", 0)
    home.family(a, b)
    code = home.code(b)
    results = race(lambda i: home.run(a, family.gift_points, code, 300, f"g{i}"), range(20))
    assert results.count("ok") == 3
    assert home.balance(a) == 100 and home.balance(b) == 900
    home.earn(a, 10000)
    results = race(lambda i: home.run(a, family.gift_points, code, 1000, f"h{i}"), range(20))
    assert results.count("ok") == 4  # 900 sent already: 4,100 of the 5,000 a day allowed
    home.verify()


def test_dissolution_racing_redemptions_returns_exactly_what_is_left(app, home):
    head, a = home.member("head@example.com", 3000), home.member("a@example.com", 3000)
    fid = home.family(head, a)
    home.run(head, family.set_rights, a, True, None)
    home.contribute(head, 3000)
    home.contribute(a, 3000)
    supply = home.supply()
    item = home.listing(points_price=200, stock=None)

    def step(i):
        if i == 10:
            home.run(head, family.dissolve)
        else:
            home.pay_from_pool(a, [LR(item)])

    results = race(step, range(20))
    spent = 200 * (results.count("ok") - 1)
    assert home.pool(fid) == 0
    assert home.balance(head) + home.balance(a) == 6000 - spent
    assert home.supply() == supply - spent
    home.verify()

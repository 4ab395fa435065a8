"""Fair games: published odds, a chi-square check of the draw, budget exhaustion, daily limits."""
import random
import re
from fractions import Fraction

import pytest
from sqlalchemy import func, select

from mall.db import write
from mall.engage import games
from mall.engage.models import Coupon, Game, GamePlay
from mall.errors import DomainError
from mall.extensions import db
from mall.ledger import service as ledger
from tests.builders import Auth, csrf_token, make_user, race


def test_observed_frequencies_match_the_published_odds(world):
    """Chi-square goodness of fit of 60,000 draws of the demo wheel against its published weights.

    df = 6 prizes − 1 = 5; at alpha = 0.001 the critical value is 20.515 (standard table). A fixed seed
    keeps the test repeatable; production draws use secrets.SystemRandom."""
    with world.app.app_context():
        game = db.session.get(Game, world.game("green-wheel"))
        prizes = list(game.prizes)
        rng = random.Random(20261126)
        draws = 60000
        counts = {p.id: 0 for p in prizes}
        for _ in range(draws):
            prize, number, total = games.draw(prizes, rng)
            assert 0 <= number < total
            counts[prize.id] += 1
        chi2 = sum((counts[p.id] - draws * chance) ** 2 / (draws * chance) for p, chance in games.odds(game))
        assert chi2 < 20.515, (chi2, counts)
        # and the test has power: a draw that ignores the weights fails it
        uniform = {p.id: 0 for p in prizes}
        for _ in range(draws):
            uniform[prizes[rng.randrange(len(prizes))].id] += 1
        skewed = sum((uniform[p.id] - draws * chance) ** 2 / (draws * chance) for p, chance in games.odds(game))
        assert skewed > 20.515


def test_odds_and_expected_value_are_published(world, client):
    game_id = world.game("green-wheel")
    with world.app.app_context():
        game = db.session.get(Game, game_id)
        ev = games.expected_points(game)
        assert ev == Fraction(25 * 10 + 20 * 20 + 9 * 50 + 1 * 200, 100) - 20
        assert sum(chance for _, chance in games.odds(game)) == 1
    html = client.get(f"/games/{game_id}").get_data(as_text=True)
    assert "Published odds" in html and "40%" in html and "9%" in html and "1%" in html
    assert 'id="expected-value"' in html and "13.00" in html and "7.00" in html  # returns 13 of 20 points
    assert "Closed: budget used up" in client.get("/games").get_data(as_text=True)  # nothing funded yet
    world.fund(200)
    assert "Sign in to play" in client.get(f"/games/{game_id}").get_data(as_text=True)
    listing = client.get("/games").get_data(as_text=True)
    assert "25%" in listing and "Closed: budget used up" not in listing


def test_a_play_pays_the_cost_into_the_budget_and_the_prize_from_it(world):
    world.fund(1000)
    member = world.member(points=100)
    game = world.make_game([("points", 1, 50)], cost=10)
    play_id = world.play(member, game)
    assert world.balance(member) == 100 - 10 + 50
    assert world.budget() == 1000 + 10 - 50
    with world.app.app_context():
        play = db.session.get(GamePlay, play_id)
        assert (play.prize_points, play.paid_points, play.total_weight) == (50, 10, 1)
    world.verify()


def test_same_token_is_one_play(world):
    world.fund(1000)
    member = world.member(points=100)
    game = world.make_game([("points", 1, 5)], cost=10)
    assert world.play(member, game, token="same") == world.play(member, game, token="same")
    assert world.balance(member) == 95


def test_not_enough_points_and_no_free_play_are_refused(world):
    world.fund(1000)
    member = world.member(points=5)
    game = world.make_game([("points", 1, 5)], cost=10)
    for free in (False, True):
        try:
            world.play(member, game, free=free)
        except DomainError as err:
            assert err.status == 409
        else:
            raise AssertionError("a play went through")
    assert world.balance(member) == 5 and world.budget() == 1000


def test_coupon_prize_gives_the_member_a_coupon(world):
    world.fund(1000)
    member = world.member()
    game = world.make_game([("coupon", 1, 0)], cost=0)
    play_id = world.play(member, game)
    with world.app.app_context():
        coupon = db.session.scalar(select(Coupon).where(Coupon.play_id == play_id))
        assert coupon.member_id == member and coupon.value_fen == 500 and coupon.status == "active"
        assert coupon.code.startswith("GC") and len(coupon.code) == 12


def test_daily_limit_is_enforced_under_concurrency(world):
    world.fund(100000)
    member = world.member(points=1000)
    game = world.make_game([("points", 1, 1)], cost=10, limit=3)
    outcomes = race(lambda _: world.play(member, game), range(8))
    assert outcomes.count("ok") == 3 and outcomes.count(409) == 5
    with world.app.app_context():
        assert db.session.scalar(select(func.count(GamePlay.id))) == 3
    assert world.balance(member) == 1000 - 3 * 10 + 3
    world.verify()


def test_budget_exhaustion_closes_the_game_without_overspending(world):
    """Every play wins 100 points; 350 in the budget covers the largest prize three times only."""
    world.fund(350)
    members = [world.member(f"m{i}@example.com", points=0) for i in range(8)]
    game = world.make_game([("points", 1, 100)], cost=0)
    outcomes = race(lambda m: world.play(m, game), members)
    assert outcomes.count("ok") == 3 and outcomes.count(409) == 5
    assert world.budget() == 50
    assert sum(world.balance(m) for m in members) == 300
    with world.app.app_context():
        assert games.state(db.session, db.session.get(Game, game)) == "closed"
    world.verify()


def test_closed_game_shows_as_closed(world, client):
    world.fund(150)  # the demo wheel's largest prize is 200
    game = world.game("green-wheel")
    world.member("p@example.com")
    Auth(client).login("p@example.com")
    html = client.get(f"/games/{game}").get_data(as_text=True)
    assert 'id="game-closed"' in html and 'id="play-button"' not in html


def play_form(client, game_id):
    html = client.get(f"/games/{game_id}").get_data(as_text=True)
    import re

    token = re.search(r'id="play-token" name="token" type="hidden" value="([^"]+)"', html).group(1)
    return {"csrf_token": csrf_token(client, f"/games/{game_id}"), "token": token}


def test_htmx_play_returns_the_panel_and_a_plain_post_redirects(world, client, app):
    world.fund(10000)
    world.member("p@example.com", points=1000)
    Auth(client).login("p@example.com")
    game = world.game("eco-scratch")
    fragment = client.post(f"/games/{game}/play", data=play_form(client, game), headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    html = fragment.get_data(as_text=True)
    assert html.lstrip().startswith('<section class="panel game-panel" id="game-panel"')
    assert 'id="game-result"' in html and "<html" not in html
    assert 'id="header-balance" hx-swap-oob="true"' in html
    # the odds panel's counts and the member's plays come out of band with the answer
    odds = re.search(r'<section class="panel" id="odds" hx-swap-oob="true">.*?</section>', html, re.S).group(0)
    assert "Seen so far: 1 play in total." in odds and "100%" in odds
    assert re.search(r'<div id="my-plays-panel" hx-swap-oob="true">.*?id="my-plays"', html, re.S)
    plain = client.post(f"/games/{game}/play", data=play_form(client, game))
    assert plain.status_code == 303 and "/games/plays/" in plain.headers["Location"]
    result = client.get(plain.headers["Location"]).get_data(as_text=True)
    assert 'id="game-result"' in result and 'id="my-plays"' in result
    with app.app_context():
        assert db.session.scalar(select(func.count(GamePlay.id))) == 2


def test_a_member_cannot_see_another_members_play(world, client):
    world.fund(10000)
    owner = world.member("a@example.com")
    play_id = world.play(owner, world.game("eco-scratch"))
    world.member("b@example.com")
    Auth(client).login("b@example.com")
    assert client.get(f"/games/plays/{play_id}").status_code == 404


def test_operator_funds_the_budget_from_issuance_with_a_memo(world, client, app):
    Auth(client).login("op@example.com")
    page = client.get("/admin/engage").get_data(as_text=True)
    import re

    token = re.search(r'id="token" name="token" type="hidden" value="([^"]+)"', page).group(1)
    data = {"csrf_token": csrf_token(client, "/admin/engage"), "token": token, "points": "5000",
            "memo": "November games"}
    assert client.post("/admin/engage/fund", data=data).status_code == 303
    assert client.post("/admin/engage/fund", data=data).status_code == 303  # a double submit moves nothing more
    assert world.budget() == 5000
    with app.app_context():
        assert ledger.system_account(db.session, "issuance").balance == -5000
    assert "November games" in client.get("/admin/engage").get_data(as_text=True)
    bad = dict(data, token="t2", points="0")
    assert client.post("/admin/engage/fund", data=bad).status_code == 422


def test_console_is_operators_only(world, client):
    world.member("p@example.com")
    Auth(client).login("p@example.com")
    assert client.get("/admin/engage").status_code == 404
    assert client.post("/admin/engage/fund", data={"csrf_token": csrf_token(client, "/rewards")}).status_code == 404


def test_merchant_accepts_a_won_coupon_once(world, client, app):
    world.fund(1000)
    member = world.member()
    play_id = world.play(member, world.make_game([("coupon", 1, 0)], cost=0))
    with app.app_context():
        code = db.session.scalar(select(Coupon.code).where(Coupon.play_id == play_id))
    make_user(app, "staff@example.com", role="merchant", merchant_id=world.merchant_id)
    Auth(client).login("staff@example.com")
    url = "/merchant/game-coupons"
    assert client.post(url, data={"csrf_token": csrf_token(client, url), "code": "GCNOSUCHCODE"}).status_code == 422
    assert client.post(url, data={"csrf_token": csrf_token(client, url), "code": code.lower()}).status_code == 303
    again = client.post(url, data={"csrf_token": csrf_token(client, url), "code": code})
    assert again.status_code == 422 and "already been used" in again.get_data(as_text=True)
    with app.app_context():
        coupon = db.session.scalar(select(Coupon).where(Coupon.code == code))
        assert coupon.status == "used" and coupon.used_merchant_id == world.merchant_id
    Auth(client).logout()
    Auth(client).login("m@example.com")
    assert client.get(url).status_code == 404  # members are not merchant staff
    assert "Used on" in client.get("/rewards").get_data(as_text=True)


def test_public_draw_log_shows_plays_but_not_players(world, client):
    world.fund(1000)
    member = world.member("secret.player@example.com", name="Secret Player")
    game = world.make_game([("points", 1, 5)], cost=1)
    play_id = world.play(member, game)
    html = client.get(f"/games/{game}/plays").get_data(as_text=True)
    assert f"#{play_id}" in html and "0 / 1" in html and "Prize 0" in html
    assert "Secret Player" not in html and "secret.player" not in html
    assert client.get("/games/999999/plays").status_code == 404


def game_form(client, url, **changes):
    data = {"csrf_token": csrf_token(client, url), "slug": "leaf-wheel", "kind": "wheel", "name_zh": "树叶转盘",
            "name_en": "Leaf wheel", "cost_points": "15", "daily_limit": "2",
            "prizes-0-kind": "none", "prizes-0-weight": "3", "prizes-0-label_zh": "谢谢", "prizes-0-label_en": "None",
            "prizes-1-kind": "points", "prizes-1-weight": "1", "prizes-1-points": "30",
            "prizes-1-label_zh": "30 积分", "prizes-1-label_en": "30 points"}
    data.update(changes)
    return data


def test_operator_creates_a_game_paused_with_published_odds(world, client, app):
    world.fund(1000)
    Auth(client).login("op@example.com")
    url = "/admin/engage/games/new"
    bad = client.post(url, data=game_form(client, url, **{"prizes-1-weight": ""}))  # one outcome only
    assert bad.status_code == 422 and "2 to 12 outcomes" in bad.get_data(as_text=True)
    made = client.post(url, data=game_form(client, url))
    assert made.status_code == 303
    game_id = int(made.headers["Location"].rsplit("/", 1)[1])
    page = client.get(f"/games/{game_id}").get_data(as_text=True)
    assert "75%" in page and "25%" in page and "This game is paused." in page
    with app.app_context():
        game = db.session.get(Game, game_id)
        assert games.expected_points(game) == Fraction(30, 4) - 15
    # still unplayed and paused: it can change; once played, its odds stay
    edit = f"/admin/engage/games/{game_id}/edit"
    assert client.post(edit, data=game_form(client, edit, **{"prizes-0-weight": "1"})).status_code == 303
    assert "50%" in client.get(f"/games/{game_id}").get_data(as_text=True)
    client.post(f"/admin/engage/games/{game_id}/open", data={"csrf_token": csrf_token(client, "/admin/engage")})
    member = world.member("p@example.com")
    world.play(member, game_id)
    client.post(f"/admin/engage/games/{game_id}/paused", data={"csrf_token": csrf_token(client, "/admin/engage")})
    refused = client.post(edit, data=game_form(client, edit))
    assert refused.status_code == 422 and "Create a new game instead" in refused.get_data(as_text=True)
    with app.app_context():
        assert [p.weight for p in db.session.get(Game, game_id).prizes] == [1, 1]


def test_a_member_frozen_by_a_fraud_case_cannot_pay_to_play(world):
    from mall.fraud import service as fraud
    from mall.ledger.service import AccountFrozen

    world.fund(10000)
    member = world.member(points=1000)
    game = world.make_game([("points", 1, 5)], cost=10)
    with world.app.app_context(), write(db.session):
        earned = ledger.statement(db.session, ledger.member_account(db.session, member), limit=1)[0].transfer.id
        case = fraud.open_case(db.session, world.user(world.operator_id), member, "Receipts reused at two tills.",
                               transfer_ids=[earned], private_root=world.app.config["PRIVATE_ROOT"])
        fraud.request_freeze(db.session, world.user(world.operator_id), case.id)
    with pytest.raises(AccountFrozen):
        world.play(member, game)
    assert world.balance(member) == 1000
    world.verify()

"""The family journey in a real browser: create, invite by link, accept, contribute (HTMX), redeem from the pool."""
import re

from playwright.sync_api import expect

from mall.demo.data import DEMO_PASSWORD
from tests.e2e.conftest import assert_clean, sign_in


def sign_out(page):
    page.goto("/auth/logout")
    page.locator('main form[action$="/auth/logout"] button').click()
    page.wait_for_load_state()


def pool_balance(page) -> int:
    return int(page.locator("#pool-balance").inner_text().replace(",", ""))


def contribute(page, points):
    form = page.locator("#contribute-form")
    form.locator('input[name="points"]').fill(str(points))
    form.locator('input[name="consent"]').check()
    with page.expect_response(lambda r: r.url.endswith("/family/contribute") and r.request.headers.get("hx-request") == "true"):
        form.locator('button[type="submit"]').click()


def test_invite_accept_contribute_and_redeem_from_the_pool(page):
    sign_in(page, "li.na@demo.test", DEMO_PASSWORD)
    page.goto("/family/")
    page.locator('main input[name="name"]').fill("李家")
    page.locator('main form[action="/family/"] button[type="submit"]').click()
    expect(page.locator("main h1")).to_have_text("李家")
    page.wait_for_load_state("load")  # htmx is set up once the page has loaded; click after that

    with page.expect_response(lambda r: r.url.endswith("/family/invitations")):
        page.locator('#members form[action="/family/invitations"] button[type="submit"]').click()
    link = page.locator("#invite-link").inner_text()
    assert "/family/join/" in link
    assert page.url.endswith("/family/")  # swapped in place, no navigation
    sign_out(page)

    sign_in(page, "wang.qiang@demo.test", DEMO_PASSWORD)
    page.goto(link)
    expect(page.locator("main")).to_contain_text("李家")
    page.locator("#accept-invitation").click()
    expect(page).to_have_url(re.compile(r"/family/$"))
    expect(page.locator("#members")).to_contain_text("王强")
    page.wait_for_load_state("load")
    contribute(page, 5)
    expect(page.locator("#pool-balance")).to_have_text("5")
    sign_out(page)

    sign_in(page, "li.na@demo.test", DEMO_PASSWORD)
    page.goto("/family/")
    contribute(page, 3000)
    expect(page.locator("#pool-balance")).to_have_text("3,005")
    own_before = int(page.locator("header .balance strong").inner_text().replace(",", ""))

    page.goto("/catalog?q=购物券")
    page.locator("#results .card a").first.click()
    page.locator(".redeem .redeem-option a.button").first.click()
    expect(page).to_have_url(re.compile(r"/checkout\?"))
    page.wait_for_load_state("load")
    with page.expect_response(lambda r: "/checkout/summary" in r.url):
        page.locator('input[name="source"][value="family"]').check()
    expect(page.locator("#summary")).to_contain_text("3,005")
    page.locator('#summary button[type="submit"]').click()
    expect(page).to_have_url(re.compile(r"/orders/\d+$"))
    assert int(page.locator("header .balance strong").inner_text().replace(",", "")) == own_before

    page.goto("/family/")
    assert pool_balance(page) < 3005
    expect(page.locator("#pool-statement tbody tr").first).to_contain_text("李娜")
    assert_clean(page)

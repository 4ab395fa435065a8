"""The redemption journey in a real browser: find, add to cart, pay points + cash, voucher, cancel, refund."""
import re

from playwright.sync_api import expect

from mall.demo.data import DEMO_PASSWORD
from tests.e2e.conftest import assert_clean, sign_in


def test_find_redeem_with_points_and_cash_then_cancel(page):
    sign_in(page, "member@demo.test", DEMO_PASSWORD)
    page.goto("/catalog")  # goto waits for the load event, so htmx is ready
    with page.expect_response(lambda r: "q=" in r.url and r.request.headers.get("hx-request") == "true"):
        page.locator("#q").fill("滤芯")
    result = page.locator("#results .card a").first
    expect(result).to_contain_text("滤芯")
    result.click()

    mix_option = page.locator(".redeem .redeem-option").filter(has_text="¥")
    mix_option.locator('form button[type="submit"]').click()
    expect(page).to_have_url(re.compile(r"/cart$"))
    page.locator('main a[href="/checkout"]').click()
    page.wait_for_load_state("load")  # htmx is set up once the page has loaded

    slot = page.locator('main select[name^="slot-"]')
    with page.expect_response(lambda r: r.url.endswith("/checkout/summary")):
        slot.select_option(index=1)  # the first open time
    expect(page.locator("#summary")).to_contain_text("¥30.00")
    before = int(page.locator("header .balance strong").inner_text().replace(",", ""))
    page.locator('#summary button[type="submit"]').click()

    expect(page).to_have_url(re.compile(r"/orders/\d+$"))
    voucher = page.locator(".voucher").first
    expect(voucher.locator("svg")).to_have_count(1)
    code = voucher.locator("code").inner_text()
    assert re.fullmatch(r"[2-9A-Z]{10}", code), code
    after = int(page.locator("header .balance strong").inner_text().replace(",", ""))
    assert after == before - 6500

    page.locator('main form[action$="/cancel"] button').click()
    expect(page.locator(".timeline")).to_contain_text("6,500")
    expect(page.locator(".voucher").first).to_have_class(re.compile("cancelled"))
    assert int(page.locator("header .balance strong").inner_text().replace(",", "")) == before

    page.goto("/account/statement")
    rows = page.locator("#statement-rows tr")
    expect(rows.first).to_contain_text("+6,500")
    assert_clean(page)

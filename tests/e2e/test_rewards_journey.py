"""Play a game in a real browser (HTMX reveals the result in place), then read the impact page."""
import re

from playwright.sync_api import expect

from mall.demo.data import DEMO_PASSWORD
from tests.e2e.conftest import assert_clean, sign_in


def number(text: str) -> int:
    return int(re.sub(r"[^\d]", "", text))


def test_play_the_wheel_with_htmx_then_see_my_impact(page):
    sign_in(page, "chen.jing@demo.test", DEMO_PASSWORD)
    page.goto("/account")
    page.locator("main a[href='/rewards']").click()
    page.locator("nav.kinds a[href='/games']").click()
    page.locator("#game-green-wheel h2 a").click()
    expect(page).to_have_url(re.compile(r"/games/\d+$"))
    page.wait_for_load_state("load")
    expect(page.locator("#odds")).to_contain_text("40%")
    expect(page.locator("#expected-value")).to_contain_text("7.00")
    balance = number(page.locator("header .balance strong").inner_text())

    with page.expect_response(lambda r: r.url.endswith("/play") and r.request.headers.get("hx-request") == "true"):
        page.locator("#play-button").click()
    result = page.locator("#game-result")
    expect(result).to_be_visible()
    expect(page).to_have_url(re.compile(r"/games/\d+$"))  # swapped in place, no navigation
    expect(page.locator("svg.wheel.spun .seg.won")).to_have_count(1)
    text = result.inner_text()
    won = number(re.search(r"(\d[\d,]*) 积分", text).group(1)) if "积分！" in text else 0
    expect(page.locator("header .balance strong")).to_have_text(f"{balance - 20 + won:,}")
    expect(page.locator("#game-panel")).to_contain_text("1 / 5")

    page.goto("/account/impact")
    expect(page.locator("#impact-total strong")).to_have_text(re.compile(r"[\d,]+\.\d kg"))
    expect(page.locator("svg.chart rect.bar").first).to_be_visible()
    expect(page.locator("#impact-categories")).to_contain_text("节能家电")
    page.locator("details summary").first.click()
    expect(page.locator("figcaption table tbody tr")).to_have_count(12)
    assert_clean(page)

"""The donation journey in a real browser: find a project, donate, watch the progress bar move, read the receipt."""
import re

from playwright.sync_api import expect

from mall.demo.data import DEMO_PASSWORD
from tests.e2e.conftest import assert_clean, sign_in


def number(text: str) -> int:
    return int(re.sub(r"[^\d]", "", text))


def test_donate_progress_bar_updates_then_receipt(page):
    sign_in(page, "member@demo.test", DEMO_PASSWORD)
    page.goto("/charity")
    page.locator(".card", has_text="长江湿地修复").locator("a").first.click()
    expect(page).to_have_url(re.compile(r"/charity/\d+$"))
    page.wait_for_load_state("load")  # htmx is set up once the page has loaded

    raised = number(page.locator("#raised").inner_text())
    bar = page.locator("#progress-bar")
    assert int(bar.get_attribute("value")) == raised
    balance = number(page.locator("header .balance strong").inner_text())

    page.locator("#progress input[name=points]").fill("100")
    with page.expect_response(lambda r: r.url.endswith("/donate") and r.request.headers.get("hx-request") == "true"):
        page.locator('#progress form.donate button[type="submit"]:not([name])').click()

    # the demo's 1:1 merchant matching doubles the gift: 100 from the member, 100 from the sponsor
    expect(page.locator("#raised")).to_have_text(f"{raised + 200:,}")
    expect(bar).to_have_attribute("value", str(raised + 200))
    expect(page.locator("header .balance strong")).to_have_text(f"{balance - 100:,}")
    expect(page).to_have_url(re.compile(r"/charity/\d+$"))  # swapped in place, no navigation

    page.locator("#progress a[href*='/charity/receipts/']").click()
    expect(page).to_have_url(re.compile(r"/charity/receipts/CH\d{8}-\d{7}$"))
    receipt = page.locator(".receipt")
    expect(receipt).to_contain_text("长江湿地修复")
    expect(receipt).to_contain_text("¥1.00")
    expect(receipt.locator(".receipt-number strong")).to_have_text(re.compile(r"CH\d{8}-\d{7}"))

    page.emulate_media(media="print")
    expect(page.locator("header.site")).to_be_hidden()
    expect(receipt).to_be_visible()
    page.emulate_media(media="screen")

    page.goto("/account/donations")
    expect(page.locator("main table").last).to_contain_text("长江湿地修复")
    assert_clean(page)

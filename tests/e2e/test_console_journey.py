"""The fraud-case journey in a real browser: an operator finds a member and opens a case with evidence,
freezes and deducts (a second operator approves); the member sees why, appeals; the case is reversed."""
import re

from playwright.sync_api import expect

from mall.demo.data import DEMO_PASSWORD
from tests.e2e.conftest import CHROMIUM_ARGS, WATCH_CSP, assert_clean, sign_in  # noqa: F401


def balance(page) -> int:
    return int(re.sub(r"[^\d]", "", page.locator("header .balance strong").inner_text()))


def second_page(browser, live_server):
    context = browser.new_context(base_url=live_server, locale="zh-CN",
                                  extra_http_headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    context.set_default_timeout(10_000)
    return context.new_page()


def approve_as_second_operator(page, browser, live_server):
    """Above the four-eyes threshold an action waits; the demo's second operator approves it."""
    checker = second_page(browser, live_server)
    sign_in(checker, "auditor@demo.test", DEMO_PASSWORD)
    checker.goto(page.url)
    checker.locator("main form[action$='/approve'] button").first.click()
    expect(checker.locator(".flash")).to_contain_text("已批准并执行")
    checker.context.close()
    page.reload()


def test_case_freeze_deduct_appeal_reverse(page, browser, live_server):
    member = second_page(browser, live_server)
    sign_in(member, "chen.jing@demo.test", DEMO_PASSWORD)
    member.goto("/account")
    before = balance(member)
    assert before > 0

    sign_in(page, "operator@demo.test", DEMO_PASSWORD)
    page.goto("/admin/members")
    page.locator('input[name="q"]').fill("chen.jing@demo.test")
    page.locator("main form.filters button").click()
    page.locator("main table a", has_text=re.compile(r"^[0-9A-Z]{8}$")).first.click()
    expect(page.locator("h1")).to_contain_text("陈静")
    first_entry = page.locator("main table tbody tr").last  # the oldest earning shown
    entry_id = first_entry.locator("td").first.inner_text()
    earned = int(re.sub(r"[^\d]", "", first_entry.locator("td.num").inner_text()))
    page.locator('textarea[name="reason"]').fill("同一张小票在两家门店重复积分。")
    page.locator('input[name="transfer_ids"]').fill(entry_id)
    page.locator('input[name="file"]').set_input_files(
        files=[{"name": "小票.txt", "mimeType": "text/plain", "buffer": "POS 0231 / 0232".encode()}])
    page.locator("main form[enctype] button").click()
    expect(page).to_have_url(re.compile(r"/admin/cases/\d+$"))
    expect(page.locator("main")).to_contain_text("小票.txt")

    page.locator("main form", has=page.locator('input[value="freeze"]')).locator("button").click()
    if before > 1000:  # the freeze covers more than the threshold
        expect(page.locator(".flash")).to_contain_text("等待第二名运营人员批准")
        approve_as_second_operator(page, browser, live_server)
    expect(page.locator("h1")).to_contain_text("已冻结")
    deduct = min(earned, 1500)
    page.locator('input[name="amount"]').fill(str(deduct))
    page.locator("main form", has=page.locator('input[value="deduct"]')).locator("button").click()
    if deduct > 1000:
        approve_as_second_operator(page, browser, live_server)
    expect(page.locator("main table").first).to_contain_text("已执行")

    member.goto("/account")
    expect(member.locator(".banner.frozen")).to_contain_text("冻结")
    assert balance(member) == before - deduct
    member.locator(".banner.frozen a").click()
    expect(member.locator("main")).to_contain_text("同一张小票在两家门店重复积分。")
    member.locator('textarea[name="statement"]').fill("那天我确实在两家门店各买了一次，小票号不同。")
    member.locator('main form [type="submit"]').click()
    expect(member.locator("main")).to_contain_text("申诉已提交")

    page.reload()
    page.locator('select[name="outcome"]').select_option("reversed")
    page.locator('textarea[name="note"]').fill("已与商户核实，两张小票均真实。")
    page.locator("main form[action$='/resolve'] button").click()
    expect(page.locator("h1")).to_contain_text("已撤销")

    member.goto("/account")
    expect(member.locator(".banner.frozen")).to_have_count(0)
    assert balance(member) == before
    assert_clean(page)
    member.context.close()


def test_operator_approves_a_merchant_application_with_one_click(page):
    """Approving needs no reason (only suspending does), so the browser must not ask for one."""
    sign_in(page, "operator@demo.test", DEMO_PASSWORD)
    page.goto("/admin/merchants?status=pending")
    row = page.locator("main tr", has_text="青风单车维修")
    row.locator('button[value="approve"]').click()
    page.wait_for_load_state()
    expect(page.locator(".flash.success")).to_contain_text("青风单车维修")
    page.goto("/admin/merchants?status=approved")
    expect(page.locator("main tr", has_text="青风单车维修")).to_have_count(1)
    assert_clean(page)

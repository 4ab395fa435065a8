"""A new business joins in a real browser: a visitor signs up and applies, an operator approves, the new
owner lists an item and publishes it, and a member finds it on the merchant's page and redeems it."""
import re

from playwright.sync_api import expect

from mall.coalition.service import credit_code_check
from mall.demo.data import DEMO_PASSWORD
from tests.e2e.conftest import assert_clean, sign_in

CODE17 = "91440300MA5GQ8W3X"  # a Shenzhen business's first 17 characters; the 18th is its check character


def test_a_business_goes_from_application_to_a_redeemed_listing(page, browser, live_server):
    page.goto("/auth/register")
    page.locator('main input[name="email"]').fill("qiaoshan@example.com")
    page.locator('main input[name="display_name"]').fill("乔姗")
    page.locator('main input[name="password"]').fill(DEMO_PASSWORD)
    page.locator('main input[name="confirm"]').fill(DEMO_PASSWORD)
    page.locator('main input[name="consent"]').check()
    page.locator('main form [type="submit"]').click()
    expect(page).to_have_url(re.compile(r"/account$"))

    page.locator('main a[href="/merchant/apply"]').click()  # from their account page
    fields = {"name_zh": "乔山旧物循环店", "name_en": "Qiaoshan Reuse Shop", "credit_code": CODE17 + "0",
              "contact_name": "乔姗", "phone": "13800138777", "email": "qiaoshan@example.com",
              "address": "深圳市南山区科技南路 18 号", "opening_hours": "周二至周日 10:00–20:00",
              "green_statement": "回收旧家具和旧书，修好再卖；每卖出一件少生产一件。"}
    for name, value in fields.items():
        page.locator(f'main [name="{name}"]').fill(value)
    page.locator('main select[name="category"]').select_option("second_hand")
    page.locator("#send-application").click()
    expect(page.locator("main")).to_contain_text("统一社会信用代码无效")  # a wrong check character
    page.console_errors.clear()  # Chromium logs the 422 that answered it; nothing else may appear
    page.locator('main [name="credit_code"]').fill(CODE17 + credit_code_check(CODE17))
    page.locator("#send-application").click()
    expect(page.locator("#application-status")).to_contain_text("待审核")

    operator = browser.new_context(base_url=live_server, locale="zh-CN").new_page()
    sign_in(operator, "operator@demo.test", DEMO_PASSWORD)
    operator.goto("/admin/applications")
    card = operator.locator("section.panel", has_text="乔山旧物循环店")
    card.locator("button", has_text="批准入驻").click()
    expect(operator.locator(".flash")).to_contain_text("乔山旧物循环店")
    operator.context.close()

    page.goto("/merchant/apply")
    expect(page.locator("#application-status")).to_contain_text("已批准")
    page.goto("/merchant/listings/new")
    page.locator('main select[name="kind"]').select_option("goods")
    page.locator('main select[name="category"]').select_option("second_hand")
    page.locator('main [name="title_zh"]').fill("修复实木书架")
    page.locator('main [name="title_en"]').fill("Restored solid-wood bookshelf")
    page.locator('main [name="points_price"]').fill("2000")
    page.locator('main [name="stock"]').fill("3")
    page.locator('main form [type="submit"]').first.click()
    expect(page).to_have_url(re.compile(r"/merchant/listings/\d+$"))
    page.locator("main form button", has_text="发布").first.click()
    page.wait_for_load_state()
    assert_clean(page)

    member = browser.new_context(base_url=live_server, locale="zh-CN").new_page()
    sign_in(member, "member@demo.test", DEMO_PASSWORD)
    member.goto("/merchants/qiaoshan-reuse-shop")
    expect(member.locator("main")).to_contain_text("回收旧家具和旧书")
    member.locator(".card a", has_text="修复实木书架").first.click()
    expect(member.locator("main")).to_contain_text("乔山旧物循环店")
    member.locator('main form[action*="/cart/"] button').first.click()
    expect(member).to_have_url(re.compile(r"/cart$"))
    member.locator('main a[href="/checkout"]').click()
    member.wait_for_load_state("load")
    member.locator('main [name="name"]').fill("林小绿")  # goods are delivered
    member.locator('main [name="phone"]').fill("13800138000")
    member.locator('main [name="address"]').fill("上海市浦东新区世纪大道 100 号")
    member.locator('#summary button[type="submit"]').click()
    expect(member).to_have_url(re.compile(r"/orders/\d+$"))
    expect(member.locator("main")).to_contain_text("修复实木书架")
    member.context.close()

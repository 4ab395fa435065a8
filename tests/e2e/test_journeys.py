"""The main journeys in a real browser: join, sign out and in, switch language, and HTMX swaps."""
import os
import re

from playwright.sync_api import expect

from mall.demo.data import DEMO_PASSWORD, LISTINGS
from tests.e2e.conftest import assert_clean, sign_in

CATALOG_BUILT = os.path.exists(os.path.join(os.path.dirname(__file__), "..", "..", "mall", "translations",
                                            "zh_Hans_CN", "LC_MESSAGES", "messages.mo"))


def test_join_sign_out_sign_in_and_switch_language(page):
    page.goto("/auth/register")
    page.locator('main input[name="display_name"]').fill("小林")
    page.locator('main input[name="email"]').fill("lin.e2e@example.com")
    page.locator('main input[name="password"]').fill("a-long-enough-pass")
    page.locator('main input[name="confirm"]').fill("a-long-enough-pass")
    page.locator('main input[name="phone"]').fill("138 0013 8000")
    page.locator('main input[name="consent"]').check()
    page.locator('main form [type="submit"]').click()

    expect(page).to_have_url(re.compile(r"/account$"))
    code = page.locator("main p.code").inner_text().strip()
    assert re.fullmatch(r"[A-Z0-9]{8}", code), code
    expect(page.locator(".flash")).to_contain_text(code)

    page.locator('main a[href="/auth/logout"]').click()
    page.locator('main form[action="/auth/logout"] button[type="submit"]').click()
    expect(page).to_have_url(re.compile(r"/$"))
    assert page.goto("/account").url.split("?")[0].endswith("/auth/login")  # signed out for real

    sign_in(page, "lin.e2e@example.com", "a-long-enough-pass")
    expect(page).to_have_url(re.compile(r"/$"))
    html = page.locator("html")
    expect(html).to_have_attribute("lang", "zh-CN")
    chinese = page.locator('header form.lang button[lang="zh-CN"]')
    expect(chinese).to_have_attribute("aria-current", "true")
    if CATALOG_BUILT:
        expect(page.locator("header .brand")).to_contain_text("绿色积分商城")
        expect(page.locator('header nav a[href="/catalog"]')).not_to_have_text("Catalog")

    page.locator('header form.lang button[lang="en"]').click()
    expect(html).to_have_attribute("lang", "en")
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator('header form.lang button[lang="en"]')).to_have_attribute("aria-current", "true")
    expect(page.locator("header .brand")).to_contain_text("Green Points Mall")
    expect(page.locator('header nav a[href="/catalog"]')).to_have_text("Catalog")
    page.goto("/account")  # the choice sticks to the account, page after page
    expect(html).to_have_attribute("lang", "en")
    expect(page.locator("main")).to_contain_text("Member code")
    assert_clean(page)


def test_member_qr_code_swaps_in_without_a_page_load(page):
    sign_in(page, "member@demo.test", DEMO_PASSWORD)
    page.goto("/account")
    url = page.url
    page.evaluate("window.__stillTheSamePage = 42")
    target = page.locator("#member-code")
    expect(target.locator("svg")).to_have_count(0)

    with page.expect_response(lambda r: "/account/member-code" in r.url) as info:
        target.locator('a[hx-get="/account/member-code"]').click()
    response = info.value
    assert response.request.headers.get("hx-request") == "true"
    expect(target.locator("svg")).to_have_count(1)
    expect(target.locator("figcaption")).to_have_text(page.locator("main p.code").inner_text().strip())
    assert page.evaluate("window.__stillTheSamePage") == 42  # no full navigation happened
    assert page.url == url
    assert page.locator("html").count() == 1 and page.locator("#member-code header").count() == 0
    assert_clean(page)


def test_catalog_kind_filter_swaps_results_and_history_works(page):
    stay_titles = {row[3] for row in LISTINGS if row[1] == "stay"}  # the demo's hotel stays, in Chinese
    page.goto("/catalog")
    page.evaluate("window.__stillTheSamePage = 7")
    results, count = page.locator("#results"), page.locator("#result-count")
    everything = count.inner_text()
    all_cards = results.locator("article.card").count()
    assert all_cards > len(stay_titles)

    with page.expect_response(lambda r: "kind=stay" in r.url) as info:
        chip = page.locator('main a[hx-get*="kind=stay"]')
        if chip.count():
            chip.first.click()
        else:  # the kind filter is a select in the catalog's filter form
            page.locator('main select[name="kind"]').select_option("stay")
    assert info.value.request.headers.get("hx-request") == "true"
    expect(page).to_have_url(re.compile(r"/catalog\?(.*&)?kind=stay(&|$)"))
    expect(count).not_to_have_text(everything)
    titles = set(results.locator("article.card h3").all_inner_texts())
    assert titles and titles <= stay_titles, titles
    assert page.evaluate("window.__stillTheSamePage") == 7  # swapped by HTMX, not navigated
    assert page.locator("#results header, #results #results").count() == 0  # a fragment, not a page

    page.go_back()
    expect(page).to_have_url(re.compile(r"/catalog$"))
    expect(count).to_have_text(everything)
    expect(page.locator("#results article.card")).to_have_count(all_cards)
    assert_clean(page)

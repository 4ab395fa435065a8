"""No page of the demo's journeys is wider than the screen: a member's, merchant staff's and an
operator's pages, and a visitor's, at 360 px and 1280 px, in Chinese and English (tables become card
lists or scroll inside their panel; the page itself never scrolls sideways)."""
import pytest

from tests.e2e.conftest import sign_in


PASSWORD = "demo-pass-2026"
JOURNEYS = {
    None: ["/", "/catalog", "/catalog?q=空调", "/catalog/2", "/charity", "/charity/1", "/rules", "/transparency",
           "/merchants", "/merchants/lvlin-mart", "/auth/login", "/auth/register", "/merchant/apply", "/games/1"],
    "member@demo.test": ["/", "/catalog", "/catalog/2", "/catalog/6", "/catalog/23", "/checkout?listing=2&option=points",
                         "/cart", "/orders", "/account", "/account/statement", "/account/notifications",
                         "/account/messages", "/account/impact", "/account/donations", "/rewards", "/rewards/badges",
                         "/games/1", "/family/", "/bills", "/charity/1", "/rules", "/account/channels"],
    "merchant@demo.test": ["/merchant/", "/merchant/listings", "/merchant/listings/1", "/merchant/orders",
                           "/merchant/purchases/new", "/merchant/vouchers", "/merchant/bills", "/merchant/staff",
                           "/merchant/statements", "/merchant/api-keys", "/merchant/activity", "/merchant/campaigns",
                           "/merchant/webhooks", "/account"],
    "operator@demo.test": ["/admin/", "/admin/members", "/admin/members/1", "/admin/cases", "/admin/merchants",
                           "/admin/applications", "/admin/rules", "/admin/reports", "/admin/audit", "/admin/engage",
                           "/admin/impact", "/admin/channels", "/admin/merchant-campaigns", "/admin/charity", "/account"],
}
WIDTHS = (360, 1280)


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
@pytest.mark.parametrize("email", list(JOURNEYS), ids=lambda e: (e or "visitor").split("@")[0])
def test_no_page_is_wider_than_the_screen(browser, live_server, email, lang):
    too_wide = []
    for width in WIDTHS:
        context = browser.new_context(base_url=live_server, locale=lang, viewport={"width": width, "height": 800},
                                      extra_http_headers={"Accept-Language": lang})
        page = context.new_page()
        if email:
            sign_in(page, email, PASSWORD)
        for path in JOURNEYS[email]:
            answer = page.goto(path)
            assert answer.status == 200, f"{email} {path}: {answer.status}"
            wide = page.evaluate("document.documentElement.scrollWidth")
            if wide > width:
                too_wide.append(f"{path} at {width} px: {wide} px")
        context.close()
    assert not too_wide, f"{email or 'a visitor'} in {lang}: " + "; ".join(too_wide)

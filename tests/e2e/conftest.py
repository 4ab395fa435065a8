"""End-to-end fixtures: the mall served on a free local port from a migrated, seeded SQLite file,
and headless Chromium (Debian's /usr/bin/chromium, never a downloaded browser) driven by Playwright."""
import threading

import pytest

from tests.conftest import CHROMIUM, chromium_available, require_or_skip

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]

# Runs before any page script: records CSP violations so a test can assert there were none.
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in item.nodeid.replace("\\", "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """The demo mall, migrated and seeded, served by a threaded WSGI server on 127.0.0.1."""
    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    from mall import create_app
    from mall.extensions import db

    path = tmp_path_factory.mktemp("e2e") / "mall.sqlite3"
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "SECRET_KEY": "e2e-secret-key",
                      "RATELIMIT_ENABLED": False, "PAYMENT_SANDBOX_URL": f"sqlite:///{path.parent / 'sandbox.sqlite3'}"})
    with app.app_context():
        upgrade()
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="e2e-live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="session")
def browser():
    require_or_skip(chromium_available(), f"Playwright and {CHROMIUM} are needed for browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    """A fresh browser profile (no cookies) whose console errors and CSP violations are collected."""
    context = browser.new_context(base_url=live_server, locale="zh-CN",
                                  extra_http_headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    context.set_default_timeout(10_000)
    context.add_init_script(WATCH_CSP)
    page = context.new_page()
    page.console_errors = []

    def on_console(message):
        # Chromium fetches /favicon.ico on its own; that answer is not part of the page under test.
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            page.console_errors.append(f"{message.text} at {message.location.get('url')}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: page.console_errors.append(f"uncaught: {error}"))
    yield page
    context.close()


def assert_clean(page) -> None:
    """No console errors, no uncaught exceptions and no Content-Security-Policy violations so far."""
    assert page.console_errors == []
    assert page.evaluate("window.__cspViolations") == []


def sign_in(page, email, password):
    page.goto("/auth/login")
    page.locator('main input[name="email"]').fill(email)
    page.locator('main input[name="password"]').fill(password)
    page.locator('main form [type="submit"]').click()
    page.wait_for_load_state()

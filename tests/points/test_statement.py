"""The member's statement page, its HTMX "load more" and filter fragments, and the CSV export."""
import csv
import io
import re
from datetime import timedelta

from mall.clock import SHANGHAI, utcnow
from tests.builders import at, make_user

HX = {"HX-Request": "true"}


def history_rows(html: str) -> list[str]:
    """The memo-tagged rows of the history, top to bottom."""
    return re.findall(r"row-(\d+)", html)


def test_statement_needs_a_signed_in_member(client):
    response = client.get("/account/statement")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    assert client.get("/account/statement.csv").status_code == 302


def test_statement_shows_balance_points_expiring_soon_and_history_in_plain_words(
        client, member, points, app, monkeypatch):
    monkeypatch.setitem(app.config, "POINTS_EXPIRY_POLICY", "months:1")
    soon = utcnow() - timedelta(days=20)  # a month's validity: about ten days left
    points.earn(member, 1234, soon, memo="row-1", ref=("purchase", "P-77"))
    points.redeem(member, 200, soon + timedelta(hours=1), memo="row-2")
    html = client.get("/account/statement", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "<strong>1,034</strong>" in html  # balance
    expires = (soon + timedelta(days=30)).astimezone(SHANGHAI)
    assert "1,034" in html and expires.strftime("%Y-%m-%d") in html  # expiring soon, with the date
    assert history_rows(html) == ["2", "1"]  # newest first
    assert "Earned row-1 · lvlin shop" in html and "P-77" not in html  # no raw reference
    assert "Redeemed row-2 · lvlin shop" in html
    assert "+1,234" in html and "−200" in html


def test_history_pages_with_a_load_more_fragment(client, member, points, app):
    app.config["PAGE_SIZE"] = 5
    for n in range(1, 13):
        points.earn(member, n, at(2026, 5, 1, n), memo=f"row-{n}")
    page = client.get("/account/statement").get_data(as_text=True)
    assert history_rows(page) == ["12", "11", "10", "9", "8"]
    more = re.search(r'hx-get="([^"]+)"[^>]*>[^<]*</a>\s*</td></tr>', page)
    assert more and "before=" in more.group(1)
    link = more.group(1).replace("&amp;", "&")
    assert f'href="{more.group(1)}"' in page  # works without JavaScript too

    fragment = client.get(link, headers=HX)
    body = fragment.get_data(as_text=True)
    assert "<html" not in body and "<table" not in body and body.lstrip().startswith("<tr")
    assert history_rows(body) == ["7", "6", "5", "4", "3"]
    assert "HX-Request" in fragment.headers["Vary"]
    last = re.search(r'hx-get="([^"]+)"', body).group(1).replace("&amp;", "&")
    tail = client.get(last, headers=HX).get_data(as_text=True)
    assert history_rows(tail) == ["2", "1"] and "hx-get" not in tail

    full = client.get(link).get_data(as_text=True)  # the same link without HTMX: a whole page
    assert "<html" in full and history_rows(full) == ["7", "6", "5", "4", "3"]


def test_history_filters_by_kind_and_by_shanghai_dates(client, member, points):
    points.earn(member, 10, at(2026, 5, 1, 15, 59), memo="row-1")  # 1 May, 23:59 in Shanghai
    points.earn(member, 20, at(2026, 5, 1, 16, 0), memo="row-2")  # 2 May, 00:00 in Shanghai
    points.redeem(member, 5, at(2026, 5, 3, 2), memo="row-3")
    points.earn(member, 30, at(2026, 5, 4, 2), memo="row-4")
    by_kind = client.get("/account/statement?kind=redeem").get_data(as_text=True)
    assert history_rows(by_kind) == ["3"]
    by_date = client.get("/account/statement?start=2026-05-02&end=2026-05-03").get_data(as_text=True)
    assert history_rows(by_date) == ["3", "2"]
    both = client.get("/account/statement?kind=earn&start=2026-05-01&end=2026-05-02", headers=HX)
    html = both.get_data(as_text=True)
    assert history_rows(html) == ["2", "1"]
    assert "<table" in html and "<html" not in html  # the filter swaps the whole history table
    bad = client.get("/account/statement?start=yesterday")
    assert bad.status_code == 200 and 'class="error"' in bad.get_data(as_text=True)


def test_load_more_keeps_the_filters(client, member, points, app):
    app.config["PAGE_SIZE"] = 2
    for n in range(1, 7):
        (points.earn if n % 2 else points.redeem)(member, 1 if n % 2 == 0 else 10, at(2026, 5, n), memo=f"row-{n}")
    page = client.get("/account/statement?kind=earn").get_data(as_text=True)
    assert history_rows(page) == ["5", "3"]
    link = re.search(r'hx-get="([^"]+before=[^"]+)"', page).group(1).replace("&amp;", "&")
    assert "kind=earn" in link
    assert history_rows(client.get(link, headers=HX).get_data(as_text=True)) == ["1"]


def test_csv_export_has_a_bom_a_header_and_every_row(client, member, points, app):
    app.config["PAGE_SIZE"] = 2  # the export is not paged
    for n in range(1, 6):
        points.earn(member, 100 * n, at(2026, 5, n), memo=f"row-{n}")
    points.redeem(member, 50, at(2026, 5, 9), memo="=HYPERLINK(\"http://evil\")")
    response = client.get("/account/statement.csv", headers={"Accept-Language": "en"})
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"  # the charset once
    assert "attachment" in response.headers["Content-Disposition"]
    data = response.get_data()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][:4] == ["Time (Asia/Shanghai)", "Kind", "Description", "Points"]
    assert len(rows) == 1 + 6
    assert rows[1][1] == "Redeemed" and rows[1][3] == "-50"
    assert not any(cell.startswith("=") for row in rows for cell in row)  # no formulas for Excel
    assert rows[-1][0] == "2026-05-01 08:00" and rows[-1][3] == "100" and "row-1" in rows[-1][2]
    filtered = client.get("/account/statement.csv?kind=redeem").get_data().decode("utf-8-sig")
    assert len(list(csv.reader(io.StringIO(filtered)))) == 2


def test_other_members_rows_never_appear(client, member, points, app):
    other = make_user(app, "other@example.com", name="Other")
    points.earn(other, 777, at(2026, 5, 1), memo="SECRET-OTHER")
    points.earn(member, 5, at(2026, 5, 2), memo="row-1")
    for path in ("/account/statement", "/account/statement?kind=earn", "/account/statement?before=999999",
                 "/account/statement.csv"):
        for headers in ({}, HX):
            body = client.get(path, headers=headers).get_data(as_text=True)
            assert "SECRET-OTHER" not in body and "777" not in body, path
    assert "row-1" in client.get("/account/statement").get_data(as_text=True)

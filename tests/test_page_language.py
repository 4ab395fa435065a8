"""One language per page: every page the demo reaches, for each role, in Chinese shows no English words
and in English no Chinese characters, but for what is allowed on either: names and units (ALLOWED), the
language switch, codes, and what people wrote themselves (a review, a case's reason, a key's name),
which pages mark ``translate="no"`` (or with a ``lang`` attribute of its own).

Only Chinese pages are held to it yet: English pages still show what members and merchants wrote in
Chinese (names, addresses) without marking it."""
import re
from html.parser import HTMLParser

import pytest

from tests.test_hostile_forms import ROLES, prepare, sign_in, walk

PAGES_PER_ROUTE = 2
CRAWL_LIMIT = 400
# words a Chinese page may show in Latin letters: units, brands, formats, codes
ALLOWED = {"kg", "km", "kwh", "gb", "mb", "ml", "hp", "led", "ev", "co", "csv", "qr", "api", "json", "id",
           "url", "sms", "https", "http", "wifi", "webp", "png", "jpeg", "jpg", "pdf", "zip", "openapi", "iso",
           "utc", "asia", "shanghai", "english", "en", "gpm", "post", "get", "idempotency", "key", "sha", "hmac",
           "merkle", "sku", "vip", "app", "ip", "webhook", "webhooks", "ok", "wrap",  # WRAP: a UK charity, a source
           "gc"}  # gc: the prefix of a game coupon's code
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
HAN = re.compile(r"[\u4e00-\u9fff]+")
CODE = re.compile(r"[\"“][a-z_]+[\"”]|\b[A-Z0-9]{6,}\b|\b[A-Z0-9]{2}\*+[A-Z0-9]{2}\b|\b[a-z]+(?:_[a-z]+)+\b|\b[A-Z0-9]{2,}(?:-[A-Z0-9]{2,})+\b|(?<![\w.])/[\w/.{}-]+|\b[\w.+-]+@[\w.-]+\b|\bgpm_\S+|\bhttps?://\S+|\b[0-9a-f]{12,}\b|\bCH\d{8}-\d+\b")


class Text(HTMLParser):
    """A page's visible text, leaving out scripts, styles and whatever is marked in another language."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self, lang):
        super().__init__(convert_charrefs=True)
        self.lang, self.stack, self.parts, self.links = lang, [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag in self.VOID:
            return
        other = (a.get("lang") is not None and not a["lang"].startswith(self.lang[:2])) or a.get("translate") == "no"
        self.stack.append((tag, other or tag in ("script", "style", "code", "pre", "svg", "textarea")))

    def handle_endtag(self, tag):
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data):
        if not any(skip for _tag, skip in self.stack):
            self.parts.append(data)


def pages(app, client, lang):
    """(url, visible text) of every page reachable from the start pages, a few per route."""
    def parse(html):
        text = Text(lang)
        text.feed(html)
        return text

    for url, text in walk(app, client, parse, limit=CRAWL_LIMIT, per_route=PAGES_PER_ROUTE,
                          headers={"Accept-Language": lang}):
        yield url, " ".join(text.parts)


def foreign(text: str, lang: str) -> list[str]:
    if lang == "zh-CN":
        text = CODE.sub(" ", text)
        return sorted({w for w in LATIN_WORD.findall(text) if w.lower() not in ALLOWED})
    return sorted(set(HAN.findall(text)) - {"中文"})


@pytest.mark.parametrize("lang", ["zh-CN"])
def test_every_page_speaks_one_language(app, lang):
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    prepare(app)
    found = {}
    for role in ROLES:
        client = sign_in(app, role)
        for url, text in pages(app, client, lang):
            words = foreign(text, lang)
            if words:
                found[f"{role} {url}"] = words
    report = "\n".join(f"{where}: {' '.join(words[:12])}" for where, words in sorted(found.items()))
    assert not found, f"{len(found)} pages in {lang} show words of the other language:\n{report}"

"""The message catalogs: complete, faithful to their placeholders, in sync with the sources and
compiled; and the site actually speaks Chinese by default and English on request."""
import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "mall" / "translations"
LOCALES = ("zh_Hans_CN", "en")

UPDATE_HINT = (
    "Run:\n"
    "  pybabel extract -F babel.cfg -k _l -k lazy_gettext -o mall/translations/messages.pot --no-location --sort-output . \\\n"
    "    && pybabel update -i mall/translations/messages.pot -d mall/translations --no-fuzzy-matching\n"
    "then translate the new entries in mall/translations/*/LC_MESSAGES/messages.po "
    "(English: msgstr = msgid) and run `pybabel compile -d mall/translations`."
)

# %(name)s-style placeholders (with optional flags/width/precision), and any other %-directive.
NAMED = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]")
ANY_PERCENT = re.compile(r"%(?:\(\w+\))?[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa%]")


def bare_percents(text: str) -> int:
    return ANY_PERCENT.sub("", text).count("%")


def po_path(locale: str) -> Path:
    return TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"


def mo_path(locale: str) -> Path:
    return TRANSLATIONS / locale / "LC_MESSAGES" / "messages.mo"


def load_po(locale: str):
    with open(po_path(locale), "rb") as f:
        return read_po(f, locale=locale)


def messages(catalog):
    """The live (non-obsolete) messages, without the header."""
    return [m for m in catalog if m.id]


def strings(message) -> list[str]:
    return list(message.string) if isinstance(message.string, (list, tuple)) else [message.string]


def ids(message) -> list[str]:
    return list(message.id) if message.pluralizable else [message.id]


def singular(message) -> str:
    return message.id[0] if message.pluralizable else message.id


def label(message) -> str:
    return repr(singular(message))


# --- (a) complete, nothing fuzzy -------------------------------------------------------------

@pytest.mark.parametrize("locale", LOCALES)
def test_catalog_is_complete_and_not_fuzzy(locale):
    catalog = load_po(locale)
    entries = messages(catalog)
    assert entries, f"{po_path(locale)} has no messages"
    untranslated = [label(m) for m in entries if not all(s and s.strip() for s in strings(m))]
    fuzzy = [label(m) for m in entries if m.fuzzy]
    assert not untranslated, f"{locale}: {len(untranslated)} untranslated entries: " + ", ".join(untranslated)
    assert not fuzzy, f"{locale}: fuzzy entries (review them and drop the flag): " + ", ".join(fuzzy)
    assert not catalog.fuzzy, f"{locale}: the catalog header is marked fuzzy"


def test_chinese_catalog_has_one_plural_form():
    catalog = load_po("zh_Hans_CN")
    assert catalog.num_plurals == 1 and catalog.plural_expr.strip() == "0", catalog.plural_forms
    for m in messages(catalog):
        if m.pluralizable:
            assert len(strings(m)) == 1 and strings(m)[0], f"plural entry {label(m)} needs msgstr[0]"


def test_english_catalog_is_the_identity():
    for m in messages(load_po("en")):
        assert strings(m) == ids(m), f"en: {label(m)} should be translated as itself"


# --- (b) placeholders ---------------------------------------------------------------------------

@pytest.mark.parametrize("locale", LOCALES)
def test_placeholders_survive_translation(locale):
    problems = []
    for m in messages(load_po(locale)):
        expected = set().union(*(NAMED.findall(i) for i in ids(m)))
        for s in strings(m):
            found = set(NAMED.findall(s))
            if missing := expected - found:
                problems.append(f"{label(m)}: msgstr lacks {sorted(missing)}")
            if extra := found - expected:
                problems.append(f"{label(m)}: msgstr has unknown {sorted(extra)}")
            # Templates always %-format (Jinja's new-style gettext), so a stray "%" breaks rendering.
            if bare_percents(s) > bare_percents(ids(m)[0]):
                problems.append(f"{label(m)}: msgstr has a bare '%' (write '%%')")
    assert not problems, f"{locale}:\n" + "\n".join(problems)


def test_translations_add_no_markup():
    problems = [label(m) for m in messages(load_po("zh_Hans_CN"))
                if not any("<" in i for i in ids(m)) and any("<" in s for s in strings(m))]
    assert not problems, "HTML in translations of plain-text messages: " + ", ".join(problems)


def test_catalog_passes_babel_checks():
    problems = []
    for locale in LOCALES:
        for message, errors in load_po(locale).check():
            problems += [f"{locale} {label(message)}: {e}" for e in errors]
    assert not problems, "\n".join(problems)


# --- (c) in sync with the sources ---------------------------------------------------------------

def extracted_msgids() -> set[str]:
    with open(ROOT / "babel.cfg", encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f)
    keywords = dict(DEFAULT_KEYWORDS)
    keywords.update({"_l": None, "lazy_gettext": None, "lazy_ngettext": (1, 2)})
    found = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=keywords):
        found.add(message[0] if isinstance(message, (list, tuple)) else message)
    return found


@pytest.fixture(scope="module")
def source_msgids():
    found = extracted_msgids()
    assert len(found) > 50, "extraction found almost nothing: is babel.cfg right?"
    return found


@pytest.mark.parametrize("locale", LOCALES)
def test_every_source_string_is_in_the_catalog(locale, source_msgids):
    known = {singular(m) for m in messages(load_po(locale))}
    missing = sorted(source_msgids - known)
    assert not missing, (f"{len(missing)} message(s) in the code/templates are not in the {locale} catalog:\n  "
                         + "\n  ".join(repr(s) for s in missing) + "\n" + UPDATE_HINT)


def test_template_is_in_sync_with_the_sources(source_msgids):
    with open(TRANSLATIONS / "messages.pot", "rb") as f:
        template = {singular(m) for m in messages(read_po(f))}
    missing = sorted(source_msgids - template)
    assert not missing, "messages.pot is out of date; missing:\n  " + "\n  ".join(map(repr, missing)) + "\n" + UPDATE_HINT


# --- (d) compiled catalogs match the sources ----------------------------------------------------

@pytest.mark.parametrize("locale", LOCALES)
def test_compiled_catalog_matches_po(locale):
    assert mo_path(locale).exists(), f"{mo_path(locale)} is missing: run `pybabel compile -d mall/translations`"
    with open(mo_path(locale), "rb") as f:
        compiled = read_mo(f)
    compiled_strings = {singular(m): strings(m) for m in compiled if m.id}
    stale = []
    for m in messages(load_po(locale)):
        if m.fuzzy or not all(strings(m)):
            continue
        got = compiled_strings.get(singular(m))
        if got != strings(m):
            stale.append(f"{label(m)}: .po {strings(m)!r}, .mo {got!r}")
    assert not stale, (f"{mo_path(locale)} is older than its .po; run `pybabel compile -d mall/translations`:\n  "
                       + "\n  ".join(stale))


# --- (e) the site speaks the right language -----------------------------------------------------
# A fresh ``app.test_client()``: the shared ``client`` fixture may carry a default Accept-Language.

def test_home_page_defaults_to_chinese(app):
    client = app.test_client()
    client.environ_base.pop("HTTP_ACCEPT_LANGUAGE", None)
    response = client.get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<html lang="zh-CN">' in html
    assert "绿色积分商城" in html
    assert "登录" in html and "注册" in html
    assert "Green Points Mall" not in html


def test_home_page_in_english_on_request(app):
    response = app.test_client().get("/", headers={"Accept-Language": "en"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "Green Points Mall" in html
    assert "Sign in" in html
    assert "绿色积分商城" not in html


def test_chinese_accept_language_gives_chinese(app):
    response = app.test_client().get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    html = response.get_data(as_text=True)
    assert '<html lang="zh-CN">' in html and "绿色积分商城" in html

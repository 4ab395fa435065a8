"""Search terms of a listing, and the query a shopper's words become, alike on SQLite and PostgreSQL.

A listing's titles and descriptions become one line of space-separated terms (``Listing.search_terms``),
which each database indexes as words: an FTS5 table on SQLite (``listing_fts``), a stored ``tsvector``
column with a GIN index on PostgreSQL (``listing.search_vector``). The terms are:

- Chinese: every character and every pair of neighbouring characters (a bigram index: 空调, 茶叶, 酒店
  of two characters are found through the index, as a longer word is through its pairs), and the
  pinyin of each word (segmented by jieba) joined and by syllable: 空调 → ``kongtiao``, ``kong``,
  ``tiao``, and its initials ``kt``;
- other words: lower-cased, with their English stem (Snowball): "Kettles" → ``kettles``, ``kettl``.

A query needs every one of its terms (AND): a Chinese run by its pairs (or its one character), a
latin word as a prefix of a term (``kettl*``: the stem or the word as typed, so "kongt" finds 空调
by pinyin and "towels" finds "towel"). Terms never carry query syntax: only letters and digits.
"""
import re
from functools import lru_cache

CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
LATIN = re.compile(r"[0-9a-z]+")
MAX_QUERY_TERMS = 12


@lru_cache(maxsize=1)
def _segmenter():
    import jieba

    jieba.setLogLevel(60)  # its dictionary loads once per process (about a second), quietly
    jieba.initialize()
    return jieba


@lru_cache(maxsize=1)
def _stemmer():
    import snowballstemmer

    return snowballstemmer.stemmer("english")


def _pairs(run: str) -> list[str]:
    return [run[i:i + 2] for i in range(len(run) - 1)]


def _pinyin(text: str) -> list[str]:
    from pypinyin import Style, lazy_pinyin

    terms = []
    for word in _segmenter().cut_for_search(text):  # words and the shorter words inside them
        if not CJK.fullmatch(word):
            continue
        syllables = lazy_pinyin(word)
        terms += syllables
        if len(syllables) > 1:
            terms.append("".join(syllables))
            terms.append("".join(lazy_pinyin(word, style=Style.FIRST_LETTER)))
    return terms


def _latin(text: str) -> list[str]:
    words = LATIN.findall(text.lower())
    return words + [stem for stem in _stemmer().stemWords(words) if stem]


def index_terms(title_zh: str, title_en: str, description_zh: str = "", description_en: str = "") -> str:
    """The terms a listing is found by, space-separated, each once."""
    terms: dict[str, None] = {}
    for text, with_pinyin in ((title_zh, True), (title_en, False), (description_zh, False), (description_en, False)):
        text = text or ""
        for run in CJK.findall(text):
            terms.update(dict.fromkeys(run))
            terms.update(dict.fromkeys(_pairs(run)))
        if with_pinyin and CJK.search(text):
            terms.update(dict.fromkeys(_pinyin(text)))
        terms.update(dict.fromkeys(_latin(text)))
    return " ".join(terms)


def query_terms(q: str) -> list[tuple[str, ...]]:
    """What a query needs, as groups of alternatives: every group must match one of its terms. A
    Chinese group is one exact term; a latin group is prefixes (the stem and the word typed)."""
    q = (q or "").lower()
    groups: list[tuple[str, ...]] = []
    for run in CJK.findall(q):
        groups += [(pair,) for pair in (_pairs(run) or [run])]
    for word in LATIN.findall(q):
        stem = _stemmer().stemWord(word)
        groups.append(tuple(dict.fromkeys(t for t in (stem, word) if t)))
    unique = list(dict.fromkeys(groups))
    return unique[:MAX_QUERY_TERMS]


def fts5_query(groups) -> str:
    """The FTS5 MATCH expression of ``query_terms`` (terms are letters and digits only)."""
    def term(text: str) -> str:
        return f'"{text}"' if CJK.fullmatch(text) else f'"{text}"*'
    return " AND ".join("(" + " OR ".join(term(t) for t in group) + ")" for group in groups)


def tsquery(groups) -> str:
    """The PostgreSQL tsquery text of ``query_terms`` (lexemes quoted, taken as written)."""
    def term(text: str) -> str:
        return f"'{text}'" if CJK.fullmatch(text) else f"'{text}':*"
    return " & ".join("(" + " | ".join(term(t) for t in group) + ")" for group in groups)

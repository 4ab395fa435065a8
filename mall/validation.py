"""Field checks for JSON documents (API bodies, listing documents): strict types, every problem
collected as {"field", "message"} so the caller can report them all at once."""
import re

# C0 and C1 control characters and lone surrogates (which no database stores as text); a multi-line
# text keeps its line breaks and tabs.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
CONTROL_MULTILINE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def has_control_characters(text: str, multiline: bool = False) -> bool:
    return (CONTROL_MULTILINE if multiline else CONTROL).search(text) is not None


def is_whole(value, low: int, high: int) -> bool:
    """The one strict-integer check: an int within [low, high]; booleans (an int in Python), floats
    and numeric strings are not."""
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def strict_int(value, field: str, errors: list, low: int, high: int) -> int | None:
    """An integer within [low, high] for a JSON document; booleans, floats and numeric strings are refused."""
    if not is_whole(value, float("-inf"), float("inf")):
        errors.append({"field": field, "message": "must be an integer (not a boolean, float or string)"})
        return None
    if not low <= value <= high:
        errors.append({"field": field, "message": f"must be between {low} and {high}"})
        return None
    return value


def strict_text(value, field: str, errors: list, limit: int, required: bool = True,
                multiline: bool = False) -> str | None:
    """Text of at most ``limit`` characters, stripped, without control characters (``multiline`` text
    keeps line breaks and tabs); absent optional text is ""."""
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > limit:
        errors.append({"field": field, "message": f"must be text of {1 if required else 0} to {limit} characters"})
        return None
    if has_control_characters(value, multiline):
        errors.append({"field": field, "message": "must not contain control characters"
                                                  + (" (line breaks and tabs are fine)" if multiline else "")})
        return None
    return value.strip()


MAX_PURCHASE_FEN = 10**10  # ¥100,000,000: anything above is not a real till purchase
MAX_PAGE = 10**6


def strict_query(args, parsers: dict) -> tuple[dict, list]:
    """A query string (a multi-dict) read strictly: only the named parameters, each at most once, each
    read by its parser (text in, value out, ValueError when not valid). Returns (values, problems)."""
    errors = [{"field": name, "message": "is not a parameter of this operation"}
              for name in args if name not in parsers]
    values = {}
    for name, parse in parsers.items():
        given = args.getlist(name)
        if len(given) > 1:
            errors.append({"field": name, "message": "may be given only once"})
        elif given:
            try:
                values[name] = parse(given[0])
            except ValueError as err:
                errors.append({"field": name, "message": str(err)})
    return values, errors


def one_of(*choices):
    """A query parser that takes one of ``choices``."""
    def parse(text):
        if text not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return text
    return parse


def page_number(text):
    """A query parser for a page number, 1 to MAX_PAGE in plain digits."""
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_PAGE):
        raise ValueError(f"must be a whole number from 1 to {MAX_PAGE}")
    return int(text)

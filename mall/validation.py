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


def strict_int(value, field: str, errors: list, low: int, high: int) -> int | None:
    """An integer within [low, high]; booleans, floats and numeric strings are refused."""
    if isinstance(value, bool) or not isinstance(value, int):
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

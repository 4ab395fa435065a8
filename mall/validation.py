"""Field checks for JSON documents (API bodies, listing documents): strict types, every problem
collected as {"field", "message"} so the caller can report them all at once."""


def strict_int(value, field: str, errors: list, low: int, high: int) -> int | None:
    """An integer within [low, high]; booleans, floats and numeric strings are refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        errors.append({"field": field, "message": "must be an integer (not a boolean, float or string)"})
        return None
    if not low <= value <= high:
        errors.append({"field": field, "message": f"must be between {low} and {high}"})
        return None
    return value


def strict_text(value, field: str, errors: list, limit: int, required: bool = True) -> str | None:
    """Text of at most ``limit`` characters, stripped; absent optional text is ""."""
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > limit:
        errors.append({"field": field, "message": f"must be text of {1 if required else 0} to {limit} characters"})
        return None
    return value.strip()

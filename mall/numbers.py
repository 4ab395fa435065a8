"""Points and cash as people read them (no Flask: services and templates share it)."""


def format_points(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def format_fen(value: int | None) -> str:
    """Integer fen as yuan with two decimals, e.g. 12800 → ¥128.00."""
    if value is None:
        return "—"
    sign = "-" if value < 0 else ""
    yuan, fen = divmod(abs(value), 100)
    return f"{sign}¥{yuan:,}.{fen:02d}"

"""Mechanics shared by every area's views: fragments, safe redirects, display formatting."""
from datetime import datetime
from urllib.parse import urlsplit

from flask import make_response, render_template, request

from mall.clock import SHANGHAI, local_period_start, shanghai  # noqa: F401  (templates' helpers)
from mall.numbers import format_fen, format_points  # noqa: F401  (templates' filters)


def is_htmx() -> bool:
    """True for an HTMX request that wants a fragment (not a history restore, which wants the page)."""
    return request.headers.get("HX-Request") == "true" and not request.headers.get(
        "HX-History-Restore-Request"
    )


def render_page_or_fragment(page: str, fragment: str, /, **context):
    """Render the fragment for HTMX, the full page otherwise, and tell caches the two differ."""
    response = make_response(render_template(fragment if is_htmx() else page, **context))
    response.vary.add("HX-Request")
    return response


def safe_next(target: str | None, default: str) -> str:
    """Return ``target`` only if it is a path on this site; anything else falls back to ``default``."""
    if not target:
        return default
    target = target.strip()
    if "\\" in target or any(ord(c) < 32 for c in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


def format_datetime_local(value: datetime | None, with_time: bool = True) -> str:
    if value is None:
        return "—"
    local = shanghai(value)
    return local.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


def csv_cell(value) -> str:
    """A value as a spreadsheet shows it, never as a formula (text may start with "=")."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        int(text)
        return True
    except ValueError:
        return False


def csv_response(filename: str, rows):
    """Stream ``rows`` (the header first) as CSV in UTF-8 with a BOM, so Excel reads the Chinese."""
    import csv
    import io

    from flask import Response, stream_with_context

    def generate():
        yield "\ufeff"
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for index, row in enumerate(rows, 1):
            writer.writerow([csv_cell(v) for v in row])
            if index % 500 == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(stream_with_context(generate()), mimetype="text/csv", headers=headers)


def readable_json(value) -> str:
    """A value as compact JSON that keeps Chinese readable (the template escapes it)."""
    import json

    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)

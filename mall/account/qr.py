"""QR codes rendered as inline SVG (no script, no inline style: fits our CSP)."""
from functools import lru_cache

import qrcode
from markupsafe import Markup


@lru_cache(maxsize=4096)  # a code's picture never changes; encoding one takes milliseconds
def qr_svg(text: str, scale: int = 8) -> Markup:
    qr = qrcode.QRCode(border=2, error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(text)
    qr.make(fit=True)
    matrix = qr.get_matrix()
    size = len(matrix)
    path = "".join(
        f"M{x},{y}h1v1h-1z" for y, row in enumerate(matrix) for x, dark in enumerate(row) if dark
    )
    px = size * scale
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" width="{px}" height="{px}" '
        f'role="img" aria-label="QR {text}" shape-rendering="crispEdges">'
        f'<rect width="{size}" height="{size}" fill="#fff"/><path d="{path}" fill="#000"/></svg>'
    )

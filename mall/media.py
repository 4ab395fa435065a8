"""Uploaded pictures (listing images, merchant logos): checked by their content, never their name,
resized into WebP copies under the media root. No Flask: callers pass the media root."""
import io
import uuid
from pathlib import Path

from flask_babel import lazy_gettext as _l

from mall.errors import DomainError

MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000
FORMATS = ("JPEG", "PNG", "WEBP")


def store_image(data: bytes, media_root: str, folder: str, sizes: dict[str, int]) -> tuple[str, dict]:
    """Check ``data`` is a JPEG, PNG or WebP picture of sensible size and save one WebP copy per
    ``sizes`` entry (name: longest edge) as ``<folder>/<stem>-<name>.webp``. Returns the path stem
    (relative to the media root) and each copy's (width, height)."""
    from PIL import Image, UnidentifiedImageError

    if len(data) > MAX_IMAGE_BYTES:
        raise DomainError(_l("The image is larger than 5 MB."), code="image-too-large", field="image")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            probe.verify()
        image = Image.open(io.BytesIO(data))
        if image.format not in FORMATS:
            raise DomainError(_l("Upload a JPEG, PNG or WebP image."), code="image-type", field="image")
        if image.width * image.height > MAX_PIXELS:
            raise DomainError(_l("The image has too many pixels."), code="image-too-large", field="image")
        image = image.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError):
        raise DomainError(_l("Upload a JPEG, PNG or WebP image."), code="image-type", field="image")
    target = Path(media_root) / folder
    target.mkdir(parents=True, exist_ok=True)
    stem = uuid.uuid4().hex
    saved = {}
    for name, edge in sizes.items():
        copy = image.copy()
        copy.thumbnail((edge, edge))
        copy.save(target / f"{stem}-{name}.webp", "WEBP", quality=82)
        saved[name] = copy.size
    return f"{folder}/{stem}", saved

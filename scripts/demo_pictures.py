"""Make the demo's pictures (mall/demo/pictures/*.webp): a Twemoji illustration on a soft gradient, one
per demo listing, merchant logo and charity project. ``flask seed-demo`` stores them through the same
upload pipeline as a merchant's own pictures (mall.media.store_image).

Run once when the demo's items change, not in CI:

    npm pack @twemoji/svg@15.0.0 && tar xzf twemoji-svg-15.0.0.tgz   # Twemoji, graphics CC-BY 4.0
    pip install cairosvg pillow
    python scripts/demo_pictures.py package/ mall/demo/pictures/

Twemoji © Twitter, Inc. and other contributors, graphics licensed under CC-BY 4.0
(https://creativecommons.org/licenses/by/4.0/); credited in README."""
import io
import sys
from pathlib import Path

import cairosvg
from PIL import Image, ImageDraw

# (file stem, emoji, two colours of the background, top-left to bottom-right)
GREEN, SKY, SAND, ROSE, LILAC, MINT = ("#e3f4e8", "#b9e2c6"), ("#e1eefb", "#b8d6f2"), ("#fbf1de", "#f1d9a8"), \
    ("#fbe6e6", "#f2c0c0"), ("#ece6fb", "#cfc2f2"), ("#dff6f1", "#aee6da")
LISTINGS = {  # by the listing's place in mall/demo/data.py LISTINGS, from 1
    1: ("🛍️", GREEN), 2: ("🌾", SAND), 3: ("🧺", SAND), 4: ("🥛", SKY), 5: ("🥤", MINT), 6: ("🏝️", SKY),
    7: ("🏞️", GREEN), 8: ("🏙️", LILAC), 9: ("🍽️", ROSE), 10: ("📱", SKY), 11: ("📲", LILAC), 12: ("📶", SKY),
    13: ("📧", MINT), 14: ("🛏️", LILAC), 15: ("🛁", SKY), 16: ("🧶", ROSE), 17: ("🏷️", SAND), 18: ("❄️", SKY),
    19: ("💡", SAND), 20: ("🔌", MINT), 21: ("♻️", GREEN), 22: ("🔁", GREEN), 23: ("🚿", SKY), 24: ("🌬️", MINT),
    25: ("🛞", SAND), 26: ("🎫", ROSE), 27: ("🥕", GREEN), 28: ("🫖", ROSE), 29: ("🔋", MINT), 30: ("👕", LILAC),
}
MERCHANTS = {
    "lvlin-mart": ("🏪", GREEN), "yuetu-hotels": ("🏨", SKY), "hualian-telecom": ("📡", LILAC),
    "mianyu-home": ("🧵", ROSE), "qingfeng-appliances": ("🔌", MINT), "jingchi-carwash": ("🚗", SKY),
    "qingfeng-bike": ("🚲", GREEN), "lvzhou-bank-green-card": ("💳", MINT), "shencheng-metro": ("🚇", SKY),
}
PROJECTS = {1: ("📚", SAND), 2: ("🦢", SKY), 3: ("⛑️", ROSE)}  # by their place in mall/charity/demo.py


def twemoji_file(emoji: str) -> str:
    codes = [f"{ord(c):x}" for c in emoji]
    if "200d" not in codes:  # Twemoji's names drop the variation selector except inside sequences
        codes = [c for c in codes if c != "fe0f"]
    return "-".join(codes) + ".svg"


def picture(svg_dir: Path, emoji: str, colours, size: tuple[int, int], share: float) -> Image.Image:
    width, height = size
    background = Image.new("RGB", size)
    draw = ImageDraw.Draw(background)
    top, bottom = (Image.new("RGB", (1, 1), c).getpixel((0, 0)) for c in colours)
    for y in range(height):  # a diagonal-ish vertical gradient
        t = y / max(1, height - 1)
        draw.line([(0, y), (width, y)], fill=tuple(round(a + (b - a) * t) for a, b in zip(top, bottom)))
    edge = int(min(width, height) * share)
    png = cairosvg.svg2png(url=str(svg_dir / twemoji_file(emoji)), output_width=edge, output_height=edge)
    art = Image.open(io.BytesIO(png)).convert("RGBA")
    background.paste(art, ((width - edge) // 2, (height - edge) // 2), art)
    return background


def main(svg_dir: str, out_dir: str) -> None:
    svg, out = Path(svg_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for number, (emoji, colours) in LISTINGS.items():
        picture(svg, emoji, colours, (960, 720), .55).save(out / f"listing-{number}.webp", "WEBP", quality=80)
    for slug, (emoji, colours) in MERCHANTS.items():
        picture(svg, emoji, colours, (256, 256), .62).save(out / f"merchant-{slug}.webp", "WEBP", quality=82)
    for number, (emoji, colours) in PROJECTS.items():
        picture(svg, emoji, colours, (960, 720), .5).save(out / f"project-{number}.webp", "WEBP", quality=80)


if __name__ == "__main__":
    main(*sys.argv[1:3])

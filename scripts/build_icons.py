"""Draw the app icons from the brand mark (src/fieldcast/web/static/favicon.svg: a red rounded square
with a white play triangle) into PNGs next to it, for home screens and the web app manifest:

    .venv/bin/python scripts/build_icons.py

icon-192.png and icon-512.png keep the mark's rounded corners on transparency; apple-touch-icon.png
fills its square (iOS rounds the corners itself and shows transparency as black). The files are
committed; run this again only when the mark changes. Pillow only, the same bytes every run.
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

from PIL import Image, ImageDraw

STATIC = Path(__file__).resolve().parents[1] / "src" / "fieldcast" / "web" / "static"
RED = (0xC0, 0x39, 0x2B, 255)
WHITE = (255, 255, 255, 255)
VIEWBOX = 32  # favicon.svg's viewBox
CORNER = 7  # its rx
TRIANGLE = ((12, 9), (12, 23), (23, 16))  # its path: M12 9v14l11-7z
SUPERSAMPLE = 4  # drawn this much larger, then scaled down, for smooth edges

# file name -> (side in px, rounded corners as in the mark)
ICONS: dict[str, tuple[int, bool]] = {
    "icon-192.png": (192, True),
    "icon-512.png": (512, True),
    "apple-touch-icon.png": (180, False),
}


def draw_icon(side: int, *, rounded: bool) -> Image.Image:
    """The mark at `side` px, as an RGBA image."""
    big = side * SUPERSAMPLE
    unit = big / VIEWBOX
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    if rounded:
        draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=round(CORNER * unit), fill=RED)
    else:
        draw.rectangle((0, 0, big - 1, big - 1), fill=RED)
    draw.polygon([(x * unit, y * unit) for x, y in TRIANGLE], fill=WHITE)
    return image.resize((side, side), Image.Resampling.LANCZOS)


def icon_png(name: str) -> bytes:
    side, rounded = ICONS[name]
    out = BytesIO()
    draw_icon(side, rounded=rounded).save(out, "PNG", optimize=True)
    return out.getvalue()


def main() -> None:
    for name in ICONS:
        (STATIC / name).write_bytes(icon_png(name))
        print(f"wrote {STATIC / name}")


if __name__ == "__main__":
    main()

"""Pictures for the demo: simple shapes suggesting each product, two storefront logos and the
live rooms' covers, drawn with Pillow at seed time (no network, no fonts) and the same for the same
seed."""

from __future__ import annotations

import random
from collections.abc import Callable
from io import BytesIO

from PIL import Image, ImageDraw

PICTURE_SIZE = (800, 600)
LOGO_SIZE = (400, 400)
COVER_SIZE = (960, 540)  # 16:9, as the room cards show it

Colour = tuple[int, int, int]
Painter = Callable[[ImageDraw.ImageDraw, random.Random, int, int], None]


def _shade(colour: Colour, delta: int) -> Colour:
    r, g, b = (min(255, max(0, c + delta)) for c in colour)
    return (r, g, b)


def _dot(draw: ImageDraw.ImageDraw, x: float, y: float, r: float, fill: Colour, outline: Colour | None = None) -> None:
    draw.ellipse((x - r, y - r, x + r, y + r), fill=fill, outline=outline, width=3)


def _fruit(
    draw: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int, fill: Colour, r: int, n: int, leaf: bool
) -> None:
    """A heap of round fruit on a plate, each with a highlight (and a leaf for oranges and apples)."""
    draw.ellipse((w * 0.1, h * 0.55, w * 0.9, h * 0.95), fill=(236, 228, 214))
    for _ in range(n):
        x, y = rng.uniform(w * 0.2, w * 0.8), rng.uniform(h * 0.35, h * 0.75)
        size = r * rng.uniform(0.85, 1.1)
        _dot(draw, x, y, size, fill, _shade(fill, -40))
        _dot(draw, x - size * 0.35, y - size * 0.35, size * 0.2, (255, 255, 255))
        if leaf:
            draw.ellipse((x + size * 0.1, y - size * 1.25, x + size * 0.7, y - size * 0.85), fill=(70, 140, 60))


def _sticks(draw: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int, fill: Colour, n: int, thick: int) -> None:
    """A bundle of long pieces (codonopsis roots, yuba sticks, jerky strips)."""
    for i in range(n):
        y = h * 0.25 + i * (h * 0.5 / n) + rng.uniform(-4, 4)
        x0 = w * 0.12 + rng.uniform(0, 30)
        x1 = w * 0.88 - rng.uniform(0, 30)
        shade = _shade(fill, rng.randint(-18, 18))
        draw.rounded_rectangle((x0, y, x1, y + thick), radius=thick // 2, fill=shade, outline=(120, 90, 60))


def _blueberries(d: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int) -> None:
    _fruit(d, rng, w, h, (58, 72, 140), 34, 26, leaf=False)


def _oranges(d: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int) -> None:
    _fruit(d, rng, w, h, (245, 140, 30), 70, 7, leaf=True)


def _apples(d: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int) -> None:
    _fruit(d, rng, w, h, (200, 40, 45), 72, 6, leaf=True)


def _red_dates(d: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int) -> None:
    d.ellipse((w * 0.1, h * 0.55, w * 0.9, h * 0.95), fill=(236, 228, 214))
    for _ in range(24):
        x, y = rng.uniform(w * 0.18, w * 0.82), rng.uniform(h * 0.35, h * 0.8)
        d.ellipse((x - 38, y - 24, x + 38, y + 24), fill=(140, 25, 30), outline=(90, 15, 20), width=3)
        d.ellipse((x - 22, y - 14, x - 8, y - 6), fill=(200, 90, 90))


def _wood_ear(d: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int) -> None:
    for _ in range(18):
        x, y = rng.uniform(w * 0.15, w * 0.85), rng.uniform(h * 0.2, h * 0.8)
        r = rng.uniform(40, 70)
        d.chord((x - r, y - r * 0.7, x + r, y + r * 0.7), rng.uniform(0, 90), rng.uniform(230, 330), fill=(45, 30, 25))


def _ferns(d: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int) -> None:
    for i in range(7):
        x = w * 0.15 + i * w * 0.11
        d.line((x, h * 0.9, x + rng.uniform(-20, 20), h * 0.35), fill=(80, 120, 50), width=10)
        d.arc((x - 40, h * 0.2, x + 30, h * 0.4), 180, 90, fill=(80, 120, 50), width=10)


def _gift_box(d: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int) -> None:
    d.rounded_rectangle((w * 0.2, h * 0.3, w * 0.8, h * 0.85), radius=16, fill=(170, 40, 40))
    d.rectangle((w * 0.47, h * 0.3, w * 0.53, h * 0.85), fill=(230, 190, 80))
    d.rectangle((w * 0.2, h * 0.5, w * 0.8, h * 0.56), fill=(230, 190, 80))
    _dot(d, w * 0.44, h * 0.27, 30, (230, 190, 80))
    _dot(d, w * 0.56, h * 0.27, 30, (230, 190, 80))


def _jerky(d: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int) -> None:
    _sticks(d, rng, w, h, (120, 60, 35), 8, 34)


def _codonopsis(d: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int) -> None:
    _sticks(d, rng, w, h, (196, 160, 110), 10, 22)


def _yuba(d: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int) -> None:
    _sticks(d, rng, w, h, (236, 205, 120), 9, 28)


def _rice(d: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int) -> None:
    d.rounded_rectangle((w * 0.3, h * 0.15, w * 0.7, h * 0.85), radius=40, fill=(226, 210, 170), outline=(150, 130, 90))
    d.rectangle((w * 0.3, h * 0.45, w * 0.7, h * 0.58), fill=(70, 140, 70))
    for _ in range(60):
        x, y = rng.uniform(w * 0.05, w * 0.95), rng.uniform(h * 0.8, h * 0.97)
        d.ellipse((x - 7, y - 3, x + 7, y + 3), fill=(250, 248, 240))


def _koi(d: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int) -> None:
    for i in range(3):
        x, y = w * (0.25 + 0.25 * i), h * (0.3 + 0.2 * (i % 2))
        d.polygon([(x - 110, y), (x - 160, y - 40), (x - 160, y + 40)], fill=(240, 240, 235))
        d.ellipse((x - 120, y - 40, x + 90, y + 40), fill=(245, 245, 240))
        for _ in range(3):
            px = x + rng.uniform(-80, 50)
            d.ellipse((px - 25, y - 30, px + 25, y + 10), fill=(220, 50, 40))
        _dot(d, x + 60, y - 12, 6, (20, 20, 20))


def _crayfish(d: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int) -> None:
    red, dark = (200, 50, 30), (140, 30, 20)
    for i in range(3):
        x, y = w * (0.22 + 0.28 * i), h * (0.42 + 0.08 * (i % 2))
        d.line((x - 20, y - 40, x - 70, y - 150), fill=dark, width=3)  # antennae
        d.line((x + 20, y - 40, x + 70, y - 150), fill=dark, width=3)
        d.line((x - 25, y - 10, x - 60, y - 70), fill=red, width=12)  # arms
        d.line((x + 25, y - 10, x + 60, y - 70), fill=red, width=12)
        d.ellipse((x - 90, y - 130, x - 40, y - 60), fill=red, outline=dark, width=3)  # claws
        d.ellipse((x + 40, y - 130, x + 90, y - 60), fill=red, outline=dark, width=3)
        d.ellipse((x - 38, y - 50, x + 38, y + 40), fill=red, outline=dark, width=3)  # head
        for k in range(5):
            _dot(d, x, y + 55 + k * 24, 30 - k * 3, red, dark)
        d.polygon([(x, y + 160), (x - 40, y + 200), (x + 40, y + 200)], fill=red, outline=dark)  # tail fan


def _car(d: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int) -> None:
    d.rectangle((0, h * 0.72, w, h), fill=(110, 110, 115))
    d.polygon(
        [(w * 0.3, h * 0.45), (w * 0.38, h * 0.3), (w * 0.62, h * 0.3), (w * 0.72, h * 0.45)], fill=(200, 205, 215)
    )
    d.rounded_rectangle((w * 0.15, h * 0.44, w * 0.85, h * 0.66), radius=30, fill=(200, 205, 215))
    d.polygon(
        [(w * 0.35, h * 0.44), (w * 0.4, h * 0.33), (w * 0.6, h * 0.33), (w * 0.67, h * 0.44)], fill=(90, 130, 170)
    )
    for x in (w * 0.3, w * 0.7):
        _dot(d, x, h * 0.67, 48, (30, 30, 30))
        _dot(d, x, h * 0.67, 20, (170, 170, 175))


def _aircraft(d: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int) -> None:
    for _ in range(4):
        x, y = rng.uniform(0, w), rng.uniform(0, h * 0.4)
        d.ellipse((x - 70, y - 20, x + 70, y + 20), fill=(245, 248, 252))
    d.polygon([(w * 0.42, h * 0.5), (w * 0.52, h * 0.5), (w * 0.6, h * 0.8), (w * 0.5, h * 0.8)], fill=(235, 235, 240))
    d.ellipse((w * 0.15, h * 0.42, w * 0.8, h * 0.58), fill=(250, 250, 252), outline=(150, 150, 160), width=3)
    d.polygon([(w * 0.15, h * 0.5), (w * 0.1, h * 0.3), (w * 0.2, h * 0.3), (w * 0.25, h * 0.46)], fill=(200, 40, 40))
    d.ellipse((w * 0.55, h * 0.43, w * 0.68, h * 0.5), fill=(80, 120, 160))
    d.line((w * 0.81, h * 0.38, w * 0.81, h * 0.62), fill=(60, 60, 60), width=6)


def _logo_rice(d: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int) -> None:
    _dot(d, w / 2, h / 2, w * 0.42, (60, 130, 70))
    d.line((w * 0.5, h * 0.8, w * 0.5, h * 0.25), fill=(250, 235, 170), width=8)
    for k in range(6):
        y = h * (0.3 + 0.08 * k)
        d.ellipse((w * 0.5 - 40, y - 12, w * 0.5 - 4, y + 12), fill=(250, 220, 120))
        d.ellipse((w * 0.5 + 4, y - 12, w * 0.5 + 40, y + 12), fill=(250, 220, 120))


def _logo_mountains(d: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int) -> None:
    _dot(d, w / 2, h / 2, w * 0.42, (40, 90, 140))
    d.polygon([(w * 0.2, h * 0.7), (w * 0.42, h * 0.3), (w * 0.62, h * 0.7)], fill=(235, 240, 245))
    d.polygon([(w * 0.45, h * 0.7), (w * 0.62, h * 0.42), (w * 0.8, h * 0.7)], fill=(120, 180, 120))


PAINTERS: dict[str, tuple[Colour, Painter]] = {
    "blueberries": ((226, 236, 222), _blueberries),
    "wood_ear": ((232, 222, 200), _wood_ear),
    "ferns": ((236, 240, 220), _ferns),
    "gift_box": ((246, 236, 220), _gift_box),
    "jerky": ((250, 236, 210), _jerky),
    "rice": ((250, 244, 220), _rice),
    "koi": ((40, 100, 150), _koi),
    "oranges": ((240, 246, 232), _oranges),
    "crayfish": ((215, 230, 240), _crayfish),
    "codonopsis": ((242, 234, 218), _codonopsis),
    "yuba": ((230, 236, 240), _yuba),
    "red_dates": ((246, 238, 226), _red_dates),
    "apples": ((232, 244, 232), _apples),
    "car": ((200, 225, 245), _car),
    "aircraft": ((140, 190, 235), _aircraft),
    "logo_rice": ((255, 255, 255), _logo_rice),
    "logo_mountains": ((255, 255, 255), _logo_mountains),
}


def draw_picture(kind: str, *, seed: int, size: tuple[int, int] = PICTURE_SIZE) -> bytes:
    """A simple PNG suggesting the product (shapes only, no text), the same for the same seed."""
    background, painter = PAINTERS[kind]
    image = Image.new("RGB", size, background)
    rng = random.Random(f"{kind}-{seed}")  # noqa: S311 -- layout of a picture, not a secret
    painter(ImageDraw.Draw(image), rng, *size)
    out = BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def draw_cover(kind: str, *, seed: int, size: tuple[int, int] = COVER_SIZE) -> bytes:
    """A live room's cover: the room's product on a table in the open, under the sky of the place
    it comes from, with a phone on a stand filming it. A PNG, the same for the same seed."""
    w, h = size
    rng = random.Random(f"cover-{kind}-{seed}")  # noqa: S311 -- layout of a picture, not a secret
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    sky_top, sky_low = (120, 170, 220), (214, 232, 244)
    horizon = int(h * 0.55)
    for y in range(horizon):  # the sky, lighter towards the horizon
        t = y / horizon
        draw.line((0, y, w, y), fill=tuple(round(a + (b - a) * t) for a, b in zip(sky_top, sky_low, strict=True)))
    for k in range(3):  # far hills, then nearer and greener ones
        green = _shade((96, 150, 88), 30 - k * 25)
        peaks = [(x, horizon - rng.uniform(30, 110) + k * 25) for x in range(-100, w + 200, 160)]
        draw.polygon([(-100, h), *peaks, (w + 200, h)], fill=green)
    draw.rectangle((0, int(h * 0.72), w, h), fill=(156, 112, 72))  # the table
    draw.rectangle((0, int(h * 0.72), w, int(h * 0.74)), fill=(120, 84, 52))
    # The product's own picture, framed like a board standing on the table.
    background, painter = PAINTERS[kind]
    board = Image.new("RGB", PICTURE_SIZE, background)
    painter(ImageDraw.Draw(board), random.Random(f"{kind}-{seed}"), *PICTURE_SIZE)  # noqa: S311
    bw, bh = int(w * 0.42), int(w * 0.42 * PICTURE_SIZE[1] / PICTURE_SIZE[0])
    bx, by = int(w * 0.5), int(h * 0.78) - bh
    draw.rounded_rectangle((bx - 10, by - 10, bx + bw + 10, by + bh + 10), radius=14, fill=(250, 250, 248))
    image.paste(board.resize((bw, bh), Image.Resampling.LANCZOS), (bx, by))
    # A phone on a stand at the left, its red dot on: the show is filmed.
    px, py = int(w * 0.16), int(h * 0.3)
    draw.line((px + 40, py + 150, px + 40, int(h * 0.74)), fill=(60, 60, 66), width=8)
    draw.line((px + 40, int(h * 0.74), px - 10, int(h * 0.8)), fill=(60, 60, 66), width=6)
    draw.line((px + 40, int(h * 0.74), px + 90, int(h * 0.8)), fill=(60, 60, 66), width=6)
    draw.rounded_rectangle((px, py, px + 80, py + 150), radius=12, fill=(35, 35, 40))
    draw.rounded_rectangle((px + 6, py + 10, px + 74, py + 140), radius=8, fill=(70, 110, 150))
    _dot(draw, px + 62, py + 24, 7, (220, 40, 40))
    out = BytesIO()
    image.save(out, "PNG")
    return out.getvalue()

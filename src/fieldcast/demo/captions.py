"""What a live demo room sells, drawn on its test picture: a strip along the bottom of the video
with the product being explained (the pinned one, else the first on the shelf), its spec and
live price, so a viewer of the demo sees "丰城富硒大米" rather than bare colour bars.

The strip is a PNG drawn with Pillow in a CJK font (fonts-noto-cjk, `make system-deps`) and laid
over the test video by ffmpeg (media/ffmpeg.py demo_source_args), which reads the file again a
few times a second: `follow_pins` rewrites it (atomically) when the host pins another product,
so the picture follows the "explaining now" card. Without a CJK font it falls back to a Latin
font with a Latin caption, and without any font to no text, with a warning: the demo still runs.
Production never draws on a picture."""

from __future__ import annotations

import asyncio
import io
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from PIL import Image, ImageDraw, ImageFont

from fieldcast.catalog.models import Product, Sku
from fieldcast.db.uow import UnitOfWork
from fieldcast.live.models import LiveSession, SessionState, ShelfItem

log = logging.getLogger(__name__)

WIDTH, HEIGHT = 640, 64  # over the bottom of the 640x360 test picture (media/ffmpeg.py TEST_SIZE)
FOLLOW_EVERY_S = 2.0
# (file pattern, face index of Simplified Chinese in the collection); the first found is used.
CJK_FONTS = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc", 2),
    ("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Bold.ttc", 2),
)
LATIN_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
)
DEMO_MARK = "演示直播"
DEMO_MARK_LATIN = "DEMO"


@dataclass(frozen=True)
class CaptionFont:
    path: str
    index: int
    cjk: bool  # whether it draws Chinese; a Latin font gets a Latin caption


@cache
def caption_font() -> CaptionFont | None:
    """The font the captions are drawn in, looked up once; None (with a warning) when none is
    installed, and the captions are strips without text."""
    for path, index in CJK_FONTS:
        if Path(path).is_file():
            return CaptionFont(path, index, cjk=True)
    for path in LATIN_FONTS:
        if Path(path).is_file():
            log.warning("demo captions: no CJK font (install fonts-noto-cjk); product names drawn in Latin only")
            return CaptionFont(path, 0, cjk=False)
    log.warning("demo captions: no font found (install fonts-noto-cjk); the test video carries no product name")
    return None


@dataclass(frozen=True)
class Caption:
    """What a room's picture says: the product and, smaller, its spec and live price."""

    title: str
    detail: str  # spec and live price, e.g. "5公斤装 · 直播价 ¥62.91"
    latin: str  # what a Latin font can draw of it (the price, and DEMO)


def price_text(fen: int) -> str:
    return f"¥{fen // 100}.{fen % 100:02d}"


def _font(choice: CaptionFont, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(choice.path, size, index=choice.index)


def draw_caption(caption: Caption, font: CaptionFont | None) -> bytes:
    """The caption strip as an RGBA PNG: a dark translucent band, a red "演示直播" tag (a demo
    never passes for a real show), the product name, then the spec and price; with no font, the
    band alone."""
    image = Image.new("RGBA", (WIDTH, HEIGHT), (0, 0, 0, 150))
    pen = ImageDraw.Draw(image)
    if font is not None:
        mark = DEMO_MARK if font.cjk else DEMO_MARK_LATIN
        small, big = _font(font, 16), _font(font, 26)
        right = 12 + int(pen.textlength(mark, font=small)) + 12
        pen.rounded_rectangle((8, 8, right, 32), radius=4, fill=(220, 38, 38, 255))
        pen.text((14, 10), mark, font=small, fill=(255, 255, 255, 255))
        if font.cjk:
            pen.text((right + 10, 2), _fit(pen, caption.title, big, WIDTH - right - 20), font=big, fill="white")
            pen.text((right + 10, 38), caption.detail, font=small, fill=(255, 230, 150, 255))
        else:
            pen.text((right + 10, 8), caption.latin, font=big, fill="white")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _fit(pen: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, width: int) -> str:
    """The text, cut with an ellipsis to fit `width` pixels."""
    if pen.textlength(text, font=font) <= width:
        return text
    while text and pen.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def write_atomically(path: Path, data: bytes) -> None:
    """Replace the file in one step, so ffmpeg never reads half a picture."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    partial.write_bytes(data)
    os.replace(partial, path)


async def room_captions(uow_factory: Callable[..., UnitOfWork]) -> dict[int, Caption]:
    """Every live demo room's caption: its pinned product, else the first on its shelf."""
    async with uow_factory(write=False) as uow:
        rows = (
            await uow.session.execute(
                sa.select(LiveSession.id, LiveSession.pinned_sku_id, ShelfItem.sku_id, ShelfItem.live_price_fen)
                .add_columns(Product.title, Sku.spec_label)
                .join(ShelfItem, ShelfItem.session_id == LiveSession.id)
                .join(Sku, Sku.id == ShelfItem.sku_id)
                .join(Product, Product.id == Sku.product_id)
                .where(LiveSession.is_demo.is_(True), LiveSession.state == SessionState.LIVE)
                .order_by(LiveSession.id, ShelfItem.position, ShelfItem.id)
            )
        ).all()
    captions: dict[int, Caption] = {}
    for room_id, pinned, sku_id, price_fen, title, spec in rows:
        explaining = sku_id == pinned
        if room_id in captions and not explaining:
            continue
        price = price_text(price_fen)
        said = f"讲解中 · {spec}" if explaining else spec
        captions[room_id] = Caption(title, f"{said} · 直播价 {price}", f"{price}  SKU {sku_id}")
    return captions


@dataclass
class Captions:
    """The caption files of the live demo rooms, one PNG per room under `folder`."""

    folder: Path
    shown: dict[int, Caption] | None = None

    def path(self, room_id: int) -> Path:
        return self.folder / f"room-{room_id}.png"

    async def refresh(self, uow_factory: Callable[..., UnitOfWork]) -> dict[int, Path]:
        """Draw the caption of every live demo room whose product changed; the files by room."""
        shown = self.shown if self.shown is not None else {}
        captions = await room_captions(uow_factory)
        for room_id, caption in captions.items():
            if shown.get(room_id) != caption:
                png = await asyncio.to_thread(draw_caption, caption, caption_font())
                await asyncio.to_thread(write_atomically, self.path(room_id), png)
                shown[room_id] = caption
        self.shown = shown
        return {room_id: self.path(room_id) for room_id in captions}


async def follow_pins(
    captions: Captions, uow_factory: Callable[..., UnitOfWork], every_s: float = FOLLOW_EVERY_S
) -> None:
    """Until cancelled: redraw a room's caption when its host pins another product."""
    while True:
        try:
            await captions.refresh(uow_factory)
        except Exception:  # a busy database must not end the captions
            log.exception("demo captions: refresh failed")
        await asyncio.sleep(every_s)

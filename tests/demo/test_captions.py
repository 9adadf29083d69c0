"""The demo draws what a live room sells on its test picture (#19 point 8): a caption strip in
a CJK font (falling back to Latin, then to none, with a warning), laid over the test video by
ffmpeg and read again while it runs; it follows the product the host pins."""

from __future__ import annotations

import io
import logging
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from fieldcast.demo import captions as demo_captions
from fieldcast.demo.captions import Caption, Captions, caption_font, draw_caption, room_captions
from fieldcast.demo.live import ROOMS, rotate_pins
from fieldcast.live.models import SessionState
from fieldcast.media.ffmpeg import TEST_SIZE, demo_source_args, ffmpeg_executable
from tests.demo.conftest import Seeded

RICE = Caption("丰城富硒大米 当季新米", "讲解中 · 5公斤装 · 直播价 ¥62.91", "¥62.91  SKU 1")


@pytest.fixture
def fresh_font_lookup() -> object:
    caption_font.cache_clear()
    yield None
    caption_font.cache_clear()


def _image(png: bytes) -> Image.Image:
    return Image.open(io.BytesIO(png))


def test_a_caption_is_a_strip_the_width_of_the_test_picture_with_the_product_drawn_on_it() -> None:
    font = caption_font()
    assert font is not None and font.cjk, "fonts-noto-cjk is installed by make system-deps"
    drawn, bare = _image(draw_caption(RICE, font)), _image(draw_caption(RICE, None))
    width = int(TEST_SIZE.split("x")[0])
    assert drawn.format == "PNG" and drawn.mode == "RGBA" and drawn.size == (width, demo_captions.HEIGHT)
    # Without a font the strip is bare; with one, the name and the demo tag are on it.
    assert ImageChops.difference(drawn.convert("RGB"), bare.convert("RGB")).getbbox() is not None
    assert bare.getextrema() == ((0, 0), (0, 0), (0, 0), (150, 150))  # one colour: the band
    other = _image(draw_caption(Caption("秭归脐橙", RICE.detail, RICE.latin), font))
    assert ImageChops.difference(drawn.convert("RGB"), other.convert("RGB")).getbbox() is not None


def test_without_a_cjk_font_the_caption_falls_back_to_latin_then_to_none_with_a_warning(
    fresh_font_lookup: object, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.setattr(demo_captions, "CJK_FONTS", ((str(tmp_path / "none.ttc"), 2),))
    with caplog.at_level(logging.WARNING, logger=demo_captions.__name__):
        latin = caption_font()
    if latin is not None:  # DejaVu comes with most systems
        assert not latin.cjk and "no CJK font" in caplog.text
        assert _image(draw_caption(RICE, latin)).size == (640, demo_captions.HEIGHT)
    caption_font.cache_clear()
    caplog.clear()
    monkeypatch.setattr(demo_captions, "LATIN_FONTS", (str(tmp_path / "none.ttf"),))
    with caplog.at_level(logging.WARNING, logger=demo_captions.__name__):
        assert caption_font() is None
    assert "no font found" in caplog.text


def _mean_difference(a: Image.Image, b: Image.Image) -> float:
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


def _frame(args: list[str], out: Path) -> Image.Image:
    """One frame of the demo's video input (the first -i of `args`)."""
    video = args[: args.index("-i") + 2]
    command = [
        ffmpeg_executable(""),
        "-hide_banner",
        "-loglevel",
        "error",
        *video[1:],
        "-frames:v",
        "1",
        "-y",
        str(out),
    ]
    subprocess.run(command, check=True, timeout=60, capture_output=True)
    return Image.open(out).convert("RGB")


def test_ffmpeg_lays_the_caption_over_the_bottom_of_the_test_picture_even_from_an_odd_path(tmp_path: Path) -> None:
    folder = tmp_path / "a dir: with, [odd] 'chars';"
    rice, oranges = folder / "room-1.png", folder / "room-2.png"
    demo_captions.write_atomically(rice, draw_caption(RICE, caption_font()))
    demo_captions.write_atomically(oranges, draw_caption(Caption("秭归脐橙", "5斤装", ""), caption_font()))
    plain = _frame(demo_source_args(), tmp_path / "plain.png")
    with_rice = _frame(demo_source_args(caption_png=rice), tmp_path / "rice.png")
    with_oranges = _frame(demo_source_args(caption_png=oranges), tmp_path / "oranges.png")
    assert plain.size == with_rice.size == with_oranges.size
    width, height = plain.size
    band = (0, height - demo_captions.HEIGHT, width, height)
    above = (0, 0, width, height - demo_captions.HEIGHT)
    assert _mean_difference(plain.crop(band), with_rice.crop(band)) > 20  # the dark band is drawn
    # What the caption says is in the band, and nowhere else.
    assert _mean_difference(with_rice.crop(band), with_oranges.crop(band)) > 1
    assert _mean_difference(with_rice.crop(above), with_oranges.crop(above)) == 0
    assert not list(folder.glob("*.part"))  # written in one step


async def test_each_live_demo_room_is_captioned_with_its_pinned_product_which_follows_the_next_pin(
    seeded: Seeded, tmp_path: Path
) -> None:
    uow = seeded.app.state.ctx.uow
    live_rooms = [r for r in ROOMS if r.state == SessionState.LIVE]
    before = await room_captions(uow)
    assert len(before) == len(live_rooms) == 3
    assert {c.title for c in before.values()} == {r.products[0] for r in live_rooms}
    assert all(c.detail.startswith("讲解中") for c in before.values())
    captions = Captions(tmp_path / "captions")
    files = await captions.refresh(uow)
    assert set(files) == set(before) and all(p.is_file() for p in files.values())
    stamps = {room: p.stat().st_mtime_ns for room, p in files.items()}

    assert await rotate_pins(uow) == len(live_rooms)  # every live room has two SKUs on its shelf
    after = await room_captions(uow)
    assert all(after[room].detail != before[room].detail for room in before)
    files = await captions.refresh(uow)
    assert all(p.stat().st_mtime_ns != stamps[room] for room, p in files.items())
    unchanged = {room: p.stat().st_mtime_ns for room, p in files.items()}
    await captions.refresh(uow)  # nothing moved: nothing redrawn
    assert {room: p.stat().st_mtime_ns for room, p in files.items()} == unchanged

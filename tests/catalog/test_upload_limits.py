"""Issue #14: an upload is judged before it is decoded. A 131 KB PNG that claims 6300x6300
pixels is refused from its header (Pillow never decodes it); each user may upload only so many
images in ten minutes; decodes run in the worker pool inside a memory budget."""

from __future__ import annotations

import asyncio
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import ImageFile

from fieldcast import offload
from fieldcast.accounts.throttle import memory_throttles
from fieldcast.catalog.errors import ImageTooLarge
from fieldcast.catalog.images import UploadLimits, configure_uploads, store_image
from fieldcast.config import Settings
from tests.factories import create_product, png_bytes


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def huge_png(side: int = 6300) -> bytes:
    """A valid greyscale PNG of side x side black pixels: ~40 KB on disk, 40 MP decoded."""
    packer = zlib.compressobj(9)
    row = b"\x00" * (side + 1)  # filter byte + one byte per pixel
    idat = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Every image Pillow decodes (its size), wherever it happens."""
    seen: list[tuple[int, int]] = []
    load = ImageFile.ImageFile.load

    def spy(self: ImageFile.ImageFile) -> Any:
        seen.append(self.size)
        return load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    return seen


async def test_a_huge_pixel_png_is_refused_without_decoding(tmp_path: Path, decodes: list[tuple[int, int]]) -> None:
    data = huge_png()
    assert len(data) < 200_000
    with pytest.raises(ImageTooLarge) as refused:
        await store_image(data, tmp_path, "brands/1", uploader_id=None, field="logo")
    assert refused.value.status == 413 and refused.value.field == "logo"
    assert decodes == []
    assert not list(tmp_path.rglob("*.webp"))  # noqa: ASYNC240 - a test's temporary folder


async def test_a_huge_logo_is_a_413_problem_and_the_form_again(
    make_org: Callable[..., Any], decodes: list[tuple[int, int]]
) -> None:
    org = await make_org("hugelogo")
    owner = org["owner"]
    r = await owner.post(
        f"/api/v1/organisations/{org.slug}/brand", files={"logo": ("logo.png", huge_png(), "image/png")}
    )
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "image_too_large" and r.json()["errors"][0]["field"] == "logo"
    page = await owner.post(
        f"/orgs/{org.slug}/brand",
        data={"brand_name": "好物", "csrf_token": owner.headers["X-CSRF-Token"]},
        files={"logo": ("logo.png", huge_png(), "image/png")},
    )
    assert page.status_code == 422 and "<form" in page.text and "24" in page.text
    assert decodes == []


@pytest.fixture
def three_uploads_per_user(database_url: str, tmp_path: Path) -> Iterator[None]:
    production = Settings(database_url=database_url, data_dir=tmp_path, redis_url="", uploads_per_user_per_10_min=3)
    configure_uploads(UploadLimits(per_user=memory_throttles(production).upload_user))
    yield
    configure_uploads(UploadLimits())


async def test_each_user_may_upload_only_so_many_images(
    make_org: Callable[..., Any], three_uploads_per_user: None
) -> None:
    org = await make_org("ratelimited")
    product = await create_product(org, "supplier")
    url = f"/api/v1/products/{product['id']}/images"
    for _ in range(3):
        ok = await org["supplier"].post(url, files={"image": ("p.png", png_bytes((64, 64)), "image/png")})
        assert ok.status_code == 201, ok.text
    refused = await org["supplier"].post(url, files={"image": ("p.png", png_bytes((64, 64)), "image/png")})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert refused.json()["code"] == "too_many_uploads" and refused.json()["errors"][0]["field"] == "image"
    # The limit is the uploader's own: a colleague still may.
    other = await org["organiser"].post(url, files={"image": ("p.png", png_bytes((64, 64)), "image/png")})
    assert other.status_code == 201, other.text


async def test_decodes_wait_for_the_memory_budget() -> None:
    pool = offload.WorkerPool(threads=4, memory_budget_bytes=100)
    running, most = [0], [0]
    lock = threading.Lock()
    release = threading.Event()

    def work() -> None:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        release.wait(10)
        with lock:
            running[0] -= 1

    try:
        jobs = asyncio.gather(*(pool.run_within_budget(40, work) for _ in range(4)))
        while running[0] < 2:  # noqa: ASYNC110 - two fit in the budget (80 of 100); threads say so
            await asyncio.sleep(0.01)
        for _ in range(20):  # the other two would start now if nothing held them back
            await asyncio.sleep(0.005)
        assert most[0] == 2, "four threads were free: only the budget keeps the third waiting"
        release.set()
        await jobs
        assert most[0] == 2
        with pytest.raises(offload.OverBudget):
            await pool.run_within_budget(101, work)
    finally:
        release.set()
        pool.shutdown()

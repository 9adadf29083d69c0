"""Image uploads: decoded and re-encoded, metadata stripped, thumbnails made, bad files refused."""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from PIL import Image

from fieldcast.accounts.models import User
from fieldcast.catalog.actions import add_product_image
from fieldcast.catalog.errors import BadImage
from fieldcast.catalog.images import THUMB_SIDE, store_image
from fieldcast.catalog.models import ALT_MAX, Product
from fieldcast.config import Settings
from fieldcast.errors import Invalid
from tests.factories import create_product, png_bytes, product_body


def jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (640, 480), "orange")
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {2: (39.0, 54.0, 20.0)}  # GPSInfo: latitude
    buf = BytesIO()
    image.save(buf, "JPEG", exif=exif)
    return buf.getvalue()


async def test_stored_images_are_webp_without_metadata_with_a_thumbnail(tmp_path: Path) -> None:
    stored = await store_image(jpeg_with_gps(), tmp_path, "products/1", uploader_id=None)
    with Image.open(tmp_path / stored.path) as main, Image.open(tmp_path / stored.thumb_path) as thumb:
        assert main.format == thumb.format == "WEBP"
        assert not main.getexif() and "exif" not in main.info
        assert max(thumb.size) <= THUMB_SIDE and (stored.width, stored.height) == (640, 480)


@pytest.mark.parametrize(
    "data",
    [b"", b"%PDF-1.7 not an image", b"GIF89a" + b"\x00" * 100, png_bytes()[:200]],
    ids=["empty", "pdf", "gif", "truncated-png"],
)
async def test_unreadable_or_unsupported_files_are_refused(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(BadImage) as caught:
        await store_image(data, tmp_path, "x", uploader_id=None)
    assert caught.value.field == "image"
    assert not any(tmp_path.rglob("*.webp"))  # noqa: ASYNC240 - a test's temporary folder


async def test_upload_through_the_api(
    make_org: Callable[..., Any], settings: Settings, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    org = await make_org("images")
    product = await create_product(org, "supplier")
    url = f"/api/v1/products/{product['id']}/images"
    r = await org["supplier"].post(
        url, files={"image": ("berries.png", png_bytes(), "image/png")}, data={"alt": "蓝莓"}
    )
    assert r.status_code == 201, r.text
    image = r.json()
    assert image["url"].startswith("/media/products/") and image["thumb_url"].endswith(".thumb.webp")
    assert (settings.resolved_media_dir / image["url"].removeprefix("/media/")).exists()
    served = await org["supplier"].get(image["thumb_url"])
    assert served.status_code == 200 and served.headers["content-type"] == "image/webp"

    fake = await org["supplier"].post(url, files={"image": ("x.png", b"<svg onload=alert(1)>", "image/png")})
    assert fake.status_code == 422 and fake.json()["errors"][0]["field"] == "image"
    # A host is not an editor; the draft is not even visible to them.
    assert (await org["host"].post(url, files={"image": ("y.png", png_bytes(), "image/png")})).status_code == 404
    assert (await make_client().post(url, files={"image": ("y.png", png_bytes(), "image/png")})).status_code == 404

    removed = await org["supplier"].delete(f"{url}/{image['id']}")
    assert removed.status_code == 204
    assert not (settings.resolved_media_dir / image["url"].removeprefix("/media/")).exists()


async def test_a_long_text_alternative_is_refused_not_cut_short(
    make_org: Callable[..., Any], app: FastAPI, settings: Settings
) -> None:
    org = await make_org("alttext")
    product = (
        await org["supplier"].post(f"/api/v1/organisations/{org.slug}/products", json=product_body(org.supplier_id))
    ).json()
    url = f"/api/v1/products/{product['id']}/images"
    too_long = "蓝" * (ALT_MAX + 1)
    r = await org["supplier"].post(url, files={"image": ("b.png", png_bytes(), "image/png")}, data={"alt": too_long})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "alt"
    async with app.state.ctx.uow() as uow:  # the action's own rule, for callers other than the API
        supplier = await uow.session.scalar(sa.select(User).where(User.email == f"supplier@{org.slug}.example.com"))
        row = await uow.session.get(Product, product["id"])
        assert supplier is not None and row is not None
        with pytest.raises(Invalid) as refused:
            await add_product_image(uow, supplier, row, png_bytes(), settings.resolved_media_dir, alt=too_long)
        assert refused.value.field == "alt"
    assert (await org["supplier"].get(f"/api/v1/products/{product['id']}")).json()["images"] == []
    r = await org["supplier"].post(url, files={"image": ("b.png", png_bytes(), "image/png")}, data={"alt": " 蓝莓 "})
    assert r.status_code == 201 and r.json()["alt"] == "蓝莓"


async def test_uploads_have_their_own_size_limit(make_org: Callable[..., Any], settings: Settings) -> None:
    org = await make_org("biggie")
    product = await create_product(org, "organiser")
    big = b"\x89PNG" + b"0" * (settings.max_upload_bytes + 1)
    r = await org["organiser"].post(
        f"/api/v1/products/{product['id']}/images", files={"image": ("big.png", big, "image/png")}
    )
    assert r.status_code == 413


async def test_the_storefront_brand_and_logo(
    make_org: Callable[..., Any], make_client: Callable[[], httpx.AsyncClient]
) -> None:
    org = await make_org("brand")
    r = await org["owner"].post(
        f"/api/v1/organisations/{org.slug}/brand",
        data={"brand_name": "吉林第一书记好物"},
        files={"logo": ("logo.png", png_bytes((300, 300), "red"), "image/png")},
    )
    assert r.status_code == 204, r.text
    page = await make_client().get(f"/s/{org.slug}")
    assert "吉林第一书记好物" in page.text and 'data-testid="brand-logo"' in page.text
    assert (
        await org["organiser"].post(f"/api/v1/organisations/{org.slug}/brand", data={"brand_name": "x"})
    ).status_code == 403


async def test_upload_through_the_edit_page_form(make_org: Callable[..., Any]) -> None:
    """The page form posts multipart with the CSRF token; a bad file re-renders with the message."""
    org = await make_org("pageimages")
    client = org["supplier"]
    product = await create_product(org, "supplier")
    token = client.headers["X-CSRF-Token"]
    url = f"/p/{product['id']}/images"
    bad = await client.post(url, data={"csrf_token": token}, files={"image": ("x.png", b"not an image", "image/png")})
    assert bad.status_code == 422 and 'data-testid="error-image"' in bad.text
    ok = await client.post(url, data={"csrf_token": token}, files={"image": ("b.png", png_bytes(), "image/png")})
    assert ok.status_code == 303
    assert len((await client.get(f"/api/v1/products/{product['id']}")).json()["images"]) == 1

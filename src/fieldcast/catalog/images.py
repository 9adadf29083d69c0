"""Image uploads: checked by decoding (not by the declared type), re-encoded without metadata
(phone photos carry GPS), stored under the media directory with a thumbnail.

An upload is judged before any pixel is decoded: its size in bytes, the uploader's rate (the
upload throttle, per user), and its width and height as the file's header states them (the pixel
budget). A 131 KB PNG can claim 6300x6300 pixels and decode to 150 MB; it is refused from its
header. The decode itself runs in the process' worker pool (fieldcast.offload), inside the memory
budget, never on the event loop. `configure_uploads` is called once at start-up from settings."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from fieldcast import offload
from fieldcast.accounts.throttle import Throttle
from fieldcast.catalog.errors import BadImage, ImageTooLarge, TooManyUploads
from fieldcast.i18n import N_

MAX_IMAGE_BYTES = 8 * 1024 * 1024
DEFAULT_MAX_PIXELS = 24_000_000  # the image_max_megapixels setting's default
# Working memory of a decode: the decoded RGBA pixels and one converted/rotated copy of them.
WORK_BYTES_PER_PIXEL = 8
MAX_SIDE = 2048  # stored images are scaled down to this
THUMB_SIDE = 480
ALLOWED_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}


@dataclass(frozen=True)
class StoredImage:
    path: str  # relative to the media directory
    thumb_path: str
    width: int
    height: int
    size_bytes: int


@dataclass(frozen=True)
class UploadLimits:
    max_pixels: int = DEFAULT_MAX_PIXELS
    per_user: Throttle | None = None  # None: no per-user rate (the CLI and the demo seed)


_limits = UploadLimits()


def configure_uploads(limits: UploadLimits) -> None:
    """Set the process' upload limits (the composition root, from settings)."""
    global _limits
    _limits = limits


def _header(data: bytes, field: str, max_pixels: int) -> tuple[int, int]:
    """Format, width and height from the file's header only (Image.open decodes nothing)."""
    if not data:
        raise BadImage(N_("The file is empty."), field=field)
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageTooLarge(N_("Images may be at most %(mb)s MB."), field=field, mb=MAX_IMAGE_BYTES // (1024 * 1024))
    try:
        with Image.open(BytesIO(data)) as probe:
            kind, width, height = probe.format, probe.width, probe.height
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, SyntaxError) as exc:
        raise BadImage(N_("This file is not a readable image."), field=field) from exc
    if kind not in ALLOWED_FORMATS:
        raise BadImage(N_("Upload a JPEG, PNG or WebP image."), field=field)
    if width * height > max_pixels:
        raise ImageTooLarge(
            N_("The image has too many pixels (at most %(megapixels)s megapixels)."),
            field=field,
            megapixels=round(max_pixels / 1_000_000, 1),
        )
    return width, height


def _decode(data: bytes, field: str) -> Image.Image:
    try:
        with Image.open(BytesIO(data)) as probe:
            probe.verify()
        image = Image.open(BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, SyntaxError) as exc:
        raise BadImage(N_("This file is not a readable image."), field=field) from exc
    return image


def _store_now(data: bytes, media_dir: Path, folder: str, field: str) -> StoredImage:
    """Decode, strip metadata, scale and save an image and its thumbnail (in a worker thread)."""
    image = ImageOps.exif_transpose(_decode(data, field))
    image = image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB")
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    thumb = image.copy()
    thumb.thumbnail((THUMB_SIDE, THUMB_SIDE))
    target = media_dir / folder
    target.mkdir(parents=True, exist_ok=True)
    stem = secrets.token_hex(8)
    main_name, thumb_name = f"{stem}.webp", f"{stem}.thumb.webp"
    # Saving fresh pixels drops EXIF/XMP (location, device) by construction.
    image.save(target / main_name, "WEBP", quality=85, method=4)
    thumb.save(target / thumb_name, "WEBP", quality=80, method=4)
    return StoredImage(
        path=f"{folder}/{main_name}",
        thumb_path=f"{folder}/{thumb_name}",
        width=image.width,
        height=image.height,
        size_bytes=(target / main_name).stat().st_size,
    )


async def store_image(
    data: bytes, media_dir: Path, folder: str, *, uploader_id: int | None, field: str = "image"
) -> StoredImage:
    """Validate, strip metadata, scale and save an image and its thumbnail; returns relative paths.

    `uploader_id` is the user whose upload rate it counts against (None: the system itself)."""
    limits = _limits
    # Reading a header is cheap but parses untrusted bytes: in the pool too, off the event loop.
    width, height = await offload.run(_header, data, field, limits.max_pixels)
    if limits.per_user is not None and uploader_id is not None:
        wait_s = await limits.per_user.hit(str(uploader_id))
        if wait_s:
            raise TooManyUploads(
                N_("You have uploaded many images in a short time. Try again in %(retry_after_s)s s."),
                field=field,
                retry_after_s=wait_s,
            )
    try:
        return await offload.run_within_budget(
            width * height * WORK_BYTES_PER_PIXEL, _store_now, data, media_dir, folder, field
        )
    except offload.OverBudget as exc:
        raise ImageTooLarge(N_("The image is too large to process; upload a smaller one."), field=field) from exc


def remove_stored(media_dir: Path, *relative_paths: str) -> None:
    for rel in relative_paths:
        if rel:
            (media_dir / rel).unlink(missing_ok=True)

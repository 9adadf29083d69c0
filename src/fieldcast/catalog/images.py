"""Image uploads: checked by decoding (not by the declared type), re-encoded without metadata
(phone photos carry GPS), stored under the media directory with a thumbnail."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from fieldcast.catalog.errors import BadImage
from fieldcast.i18n import N_

MAX_IMAGE_BYTES = 8 * 1024 * 1024
MAX_PIXELS = 40_000_000  # refuse decompression bombs well before Pillow's own limit
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


def _open_checked(data: bytes) -> Image.Image:
    if not data:
        raise BadImage(N_("The file is empty."), field="image")
    if len(data) > MAX_IMAGE_BYTES:
        raise BadImage(N_("Images may be at most %(mb)s MB."), field="image", mb=MAX_IMAGE_BYTES // (1024 * 1024))
    try:
        probe = Image.open(BytesIO(data))
        if probe.format not in ALLOWED_FORMATS:
            raise BadImage(N_("Upload a JPEG, PNG or WebP image."), field="image")
        if probe.width * probe.height > MAX_PIXELS:
            raise BadImage(N_("The image has too many pixels."), field="image")
        probe.verify()
        image = Image.open(BytesIO(data))
        image.load()
    except BadImage:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, SyntaxError) as exc:
        raise BadImage(N_("This file is not a readable image."), field="image") from exc
    return image


def store_image(data: bytes, media_dir: Path, folder: str) -> StoredImage:
    """Validate, strip metadata, scale and save an image and its thumbnail; returns relative paths."""
    image = ImageOps.exif_transpose(_open_checked(data))
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


def remove_stored(media_dir: Path, *relative_paths: str) -> None:
    for rel in relative_paths:
        if rel:
            (media_dir / rel).unlink(missing_ok=True)

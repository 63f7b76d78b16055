"""Upload checks for profile photos: real type from the bytes, size and pixel limits read from the
header *before* anything is decompressed, then a full decode, EXIF orientation applied and a clean
re-encode (no EXIF, GPS, ICC or text chunks survive) at a bounded size."""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from io import BytesIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from perfectmatch.config import PhotoSettings
from perfectmatch.profiles.errors import InvalidImage

ACCEPTED = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
STORED_TYPE = "image/jpeg"
# Signatures of image types people try that we refuse by name (the rest are "not an image").
_REFUSED = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"\x00\x00\x01\x00", "ICO"),
    (b"%PDF", "PDF"),
    (b"<svg", "SVG"),
    (b"<?xml", "SVG/XML"),
)


@dataclass(frozen=True)
class CheckedImage:
    """A validated upload, re-encoded for storage.

    ``data`` is the stored JPEG (``content_type``), ``width``/``height`` its pixels, ``sha256`` its
    hex digest, ``source_type`` the uploaded type and ``rgb`` the stored pixels, shape
    ``(height, width, 3)`` uint8, for the face check.
    """

    data: bytes
    content_type: str
    width: int
    height: int
    sha256: str
    source_type: str
    rgb: np.ndarray


def sniff(data: bytes) -> str | None:
    """The Pillow format name of an accepted type from the leading bytes, or ``None``."""
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def _refused_type(data: bytes) -> str | None:
    head = data[:16].lstrip()
    for magic, name in _REFUSED:
        if head.startswith(magic):
            return name
    if data[4:8] == b"ftyp":  # ISO media: HEIC/AVIF photos from phones
        return "HEIC/AVIF"
    return None


def check_image(data: bytes, cfg: PhotoSettings, *, name: str = "upload") -> CheckedImage:
    """Validate ``data`` as a profile photo and re-encode it; ``name`` appears in error messages.

    Parameters
    ----------
    data
        The uploaded bytes (whatever the file name claimed).
    cfg
        Limits: ``max_bytes``, ``max_pixels`` (checked from the header before decoding),
        ``min_side``, ``stored_side`` and ``jpeg_quality``.

    Raises
    ------
    InvalidImage
        With ``reason`` empty, too_large, unsupported_type, not_an_image, too_many_pixels,
        too_small, animated or corrupt.
    """
    if not data:
        raise InvalidImage("empty", f"{name}: the file is empty")
    if len(data) > cfg.max_bytes:
        raise InvalidImage("too_large", f"{name}: {len(data):,} bytes is more than the {cfg.max_bytes:,} allowed")
    fmt = sniff(data)
    if fmt is None:
        other = _refused_type(data)
        if other is not None:
            raise InvalidImage("unsupported_type", f"{name}: {other} is not accepted; use a JPEG, PNG or WebP photo")
        raise InvalidImage("not_an_image", f"{name}: the content is not a JPEG, PNG or WebP image")
    kind = fmt if fmt != "WEBP" else "WebP"
    too_many = f"{name}: the image has more than the {cfg.max_pixels:,} pixels allowed"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. "corrupt EXIF data": the metadata is dropped anyway
        # Pillow's own bomb guard: an error, not a warning, for anything past its threshold.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(BytesIO(data), formats=[fmt])  # reads the header only
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise InvalidImage("too_many_pixels", too_many) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
            raise InvalidImage("corrupt", f"{name}: the {kind} header is damaged ({exc})") from None
        width, height = img.size
        if width * height > cfg.max_pixels:
            raise InvalidImage(
                "too_many_pixels",
                f"{name}: {width}×{height} = {width * height:,} pixels is more than the {cfg.max_pixels:,} allowed",
            )
        if min(width, height) < cfg.min_side:
            raise InvalidImage(
                "too_small",
                f"{name}: {width}×{height} is too small; the shorter side must be at least {cfg.min_side} pixels",
            )
        if getattr(img, "n_frames", 1) > 1:
            raise InvalidImage("animated", f"{name}: animated images are not accepted; upload a still photo")
        try:
            if fmt == "JPEG":
                img.draft("RGB", (cfg.stored_side, cfg.stored_side))  # decode big JPEGs at reduced scale
            img.load()
            img = ImageOps.exif_transpose(img)
            rgb = _to_rgb(img)
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise InvalidImage("corrupt", f"{name}: the {kind} data is damaged or truncated ({exc})") from None
    rgb.thumbnail((cfg.stored_side, cfg.stored_side), Image.Resampling.LANCZOS)
    out = BytesIO()
    rgb.save(out, "JPEG", quality=cfg.jpeg_quality, optimize=True)  # no exif=, no icc_profile=: metadata gone
    stored = out.getvalue()
    return CheckedImage(
        stored, STORED_TYPE, rgb.width, rgb.height, hashlib.sha256(stored).hexdigest(), ACCEPTED[fmt], np.asarray(rgb)
    )


def _to_rgb(img: Image.Image) -> Image.Image:
    """RGB pixels; transparent areas become white (a stored photo has no alpha)."""
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit greyscale PNG: scale to 8 bits first
        arr = np.asarray(img, dtype=np.uint32) >> 8
        return Image.fromarray(arr.astype(np.uint8), "L").convert("RGB")
    return img.convert("RGB")

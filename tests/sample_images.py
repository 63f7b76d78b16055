"""Test photos made offline: a real face (scikit-image's bundled public-domain NASA portrait
``astronaut.png``), generated no-face images, and the bad uploads a new user might try."""

from __future__ import annotations

import importlib.util
import struct
import zlib
from functools import cache
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps


def skimage_data(name: str) -> Path:
    """A sample image shipped inside the scikit-image wheel (no download)."""
    spec = importlib.util.find_spec("skimage")
    assert spec is not None and spec.submodule_search_locations, "pip install -e '.[test]' (scikit-image)"
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / name
    assert path.is_file(), f"{path} is not in the installed scikit-image"
    return path


@cache
def face_png() -> bytes:
    """A 512x512 PNG portrait with one frontal face (NASA astronaut Eileen Collins, public domain)."""
    return skimage_data("astronaut.png").read_bytes()


def face_variant(i: int) -> bytes:
    """Distinct photos of the same face (mirrored, cropped, brighter): different bytes, a face in each."""
    img = Image.open(BytesIO(face_png())).convert("RGB")
    if i % 2:
        img = ImageOps.mirror(img)
    img = img.crop((i * 6, i * 4, 512 - i * 3, 512 - i * 5)).point(lambda v: min(255, v + 3 * i))
    return encode(img, "JPEG", quality=90)


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    out = BytesIO()
    img.save(out, fmt, **params)
    return out.getvalue()


def face_jpeg_rotated_with_gps() -> bytes:
    """The face photo stored sideways with EXIF Orientation=8 (rotate back on display) and a GPS
    position: a phone photo. Only after applying the orientation is the face upright."""
    img = Image.open(BytesIO(face_png())).convert("RGB").transpose(Image.Transpose.ROTATE_270)
    exif = Image.Exif()
    exif[0x0112] = 8  # Orientation: the stored pixels are rotated 90° clockwise ... display rotates back
    exif[0x8825] = {1: "N", 2: (37.0, 46.0, 30.0), 3: "W", 4: (122.0, 25.0, 9.0)}  # GPSInfo
    exif[0x010F] = "PhoneMaker"  # Make
    return encode(img, "JPEG", quality=92, exif=exif.tobytes())


def no_face(size: tuple[int, int] = (480, 360), fmt: str = "PNG") -> bytes:
    """A smooth gradient with noise: an image with certainly no face in it."""
    w, h = size
    rng = np.random.default_rng(7)
    x = np.linspace(0, 255, w)[None, :, None]
    y = np.linspace(0, 255, h)[:, None, None]
    arr = (0.6 * x + 0.4 * y + rng.normal(0, 12, (h, w, 3))).clip(0, 255).astype(np.uint8)
    return encode(Image.fromarray(arr, "RGB"), fmt)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG claiming ``width`` x ``height`` RGB pixels with a tiny IDAT: a decompression bomb's
    header without the bomb (a real 20000x20000 PNG of zeros is only ~1 MB compressed)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def gif() -> bytes:
    return encode(Image.open(BytesIO(face_png())).convert("P"), "GIF")


def truncated_jpeg() -> bytes:
    data = encode(Image.open(BytesIO(face_png())).convert("RGB"), "JPEG", quality=90)
    return data[: len(data) // 2]


TEXT_AS_JPG = b"Hi! This is my profile text, saved as photo.jpg by mistake.\n"

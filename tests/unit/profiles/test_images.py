"""Upload checks: the bad files a new user might try are refused with a typed reason; good photos
are re-encoded upright, bounded in size, with no metadata left."""

from __future__ import annotations

from io import BytesIO

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import sample_images as si
from perfectmatch.adapters.faces import HaarFaceDetector
from perfectmatch.config import PhotoSettings
from perfectmatch.errors import InvalidInputError
from perfectmatch.profiles.errors import InvalidImage
from perfectmatch.profiles.images import check_image

CFG = PhotoSettings()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (si.TEXT_AS_JPG, "not_an_image"),
        (b"\x00" * 4096, "not_an_image"),
        (si.truncated_jpeg(), "corrupt"),
        (si.png_header_only(20000, 20000), "too_many_pixels"),  # past Pillow's own bomb threshold
        (si.png_header_only(10000, 10000), "too_many_pixels"),  # where Pillow only warns
        (si.png_header_only(8000, 6000), "too_many_pixels"),  # under Pillow's, over ours (40 MP)
        (si.png_header_only(120, 4000), "too_small"),
        (si.gif(), "unsupported_type"),
        (b"%PDF-1.7\n%...", "unsupported_type"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "unsupported_type"),
    ],
    ids=[
        "empty",
        "text-named-jpg",
        "zeros",
        "truncated-jpeg",
        "20000x20000-png",
        "100MP-png",
        "48MP-png",
        "thin-png",
        "gif",
        "pdf",
        "heic",
    ],
)
def test_bad_uploads_are_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidImage) as err:
        check_image(data, CFG, name="photo.jpg")
    assert err.value.reason == reason
    assert str(err.value).startswith("photo.jpg: ")
    assert isinstance(err.value, InvalidInputError)  # the CLI's "bad input" exit code


def test_too_many_bytes_is_refused_before_decoding() -> None:
    data = si.face_png()
    with pytest.raises(InvalidImage, match="bytes is more than") as err:
        check_image(data, CFG.model_copy(update={"max_bytes": len(data) - 1}))
    assert err.value.reason == "too_large"


def test_animated_webp_is_refused() -> None:
    frames = [Image.new("RGB", (300, 300), c) for c in ("red", "blue")]
    data = si.encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100)
    with pytest.raises(InvalidImage) as err:
        check_image(data, CFG)
    assert err.value.reason == "animated"


def test_huge_png_is_refused_without_decompressing() -> None:
    # 20000 x 20000 x 3 bytes would be 1.2 GB once decoded; the check reads only the header.
    import tracemalloc

    data = si.png_header_only(20000, 20000)
    tracemalloc.start()
    with pytest.raises(InvalidImage):
        check_image(data, CFG)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 5_000_000


def test_phone_photo_is_turned_upright_and_stripped_of_metadata() -> None:
    data = si.face_jpeg_rotated_with_gps()
    raw = Image.open(BytesIO(data))
    assert raw.getexif().get_ifd(0x8825), "the test photo carries a GPS position"
    checked = check_image(data, CFG, name="IMG_0001.jpg")
    stored = Image.open(BytesIO(checked.data))
    assert stored.format == "JPEG" and checked.content_type == "image/jpeg" and checked.source_type == "image/jpeg"
    assert not stored.getexif() and "exif" not in stored.info and "icc_profile" not in stored.info
    assert b"PhoneMaker" not in checked.data and b"GPS" not in checked.data
    assert (checked.width, checked.height) == stored.size == (512, 512)
    assert HaarFaceDetector().detect(checked.rgb), "upright after the EXIF orientation is applied"


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "JPEG"])
def test_accepted_types_are_reencoded_as_bounded_jpeg(fmt: str) -> None:
    big = Image.open(BytesIO(si.no_face((1200, 600)))).convert("RGBA")
    data = si.encode(big, fmt) if fmt != "JPEG" else si.encode(big.convert("RGB"), fmt)
    checked = check_image(data, CFG.model_copy(update={"stored_side": 512}))
    assert (checked.width, checked.height) == (512, 256)
    assert checked.rgb.shape == (256, 512, 3)
    assert checked.source_type == {"PNG": "image/png", "WEBP": "image/webp", "JPEG": "image/jpeg"}[fmt]
    assert Image.open(BytesIO(checked.data)).format == "JPEG"


def test_transparent_png_gets_a_white_background() -> None:
    img = Image.new("RGBA", (300, 300), (0, 0, 0, 0))
    checked = check_image(si.encode(img, "PNG"), CFG)
    assert checked.rgb.min() > 240


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=0, max_size=2048), st.sampled_from([b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"]))
def test_arbitrary_bytes_never_escape_as_anything_but_invalid_image(tail: bytes, head: bytes) -> None:
    with pytest.raises(InvalidImage):
        check_image(head + tail, CFG)

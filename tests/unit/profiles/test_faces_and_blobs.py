"""The offline face check on real photos, and the local blob store's safety (keys, atomic writes)."""

from __future__ import annotations

import os
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import sample_images as si
from perfectmatch.adapters.blobs import LocalBlobStore, MemoryBlobStore
from perfectmatch.adapters.faces import HaarFaceDetector
from perfectmatch.errors import InvalidInputError, NotFound


def rgb(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(BytesIO(data)).convert("RGB"))


@pytest.fixture(scope="module")
def detector() -> HaarFaceDetector:
    return HaarFaceDetector()


def test_finds_the_face_in_a_portrait(detector: HaarFaceDetector) -> None:
    faces = detector.detect(rgb(si.face_png()))
    assert len(faces) == 1
    box = faces[0]
    assert 150 < box.x < 220 and 40 < box.y < 100 and 70 < box.width < 130  # the astronaut's face


@pytest.mark.parametrize(
    "name", ["coffee.png", "chelsea.png", "rocket.jpg", "brick.png", "coins.png", "motorcycle_left.png"]
)
def test_no_face_in_photos_without_people(detector: HaarFaceDetector, name: str) -> None:
    assert detector.detect(rgb(si.skimage_data(name).read_bytes())) == []


def test_no_face_in_generated_images(detector: HaarFaceDetector) -> None:
    assert detector.detect(rgb(si.no_face())) == []
    assert detector.detect(np.zeros((400, 400, 3), np.uint8)) == []


def test_a_large_photo_is_scaled_for_detection_and_boxes_scaled_back(detector: HaarFaceDetector) -> None:
    big = Image.open(BytesIO(si.face_png())).convert("RGB").resize((2048, 2048))
    (box,) = detector.detect(np.asarray(big))
    assert 600 < box.x < 900 and 280 < box.width < 520


def test_face_must_be_a_real_part_of_the_photo(detector: HaarFaceDetector) -> None:
    canvas = Image.new("RGB", (3000, 3000), (120, 130, 140))
    canvas.paste(Image.open(BytesIO(si.face_png())).convert("RGB").resize((200, 200)), (1400, 1400))
    assert detector.detect(np.asarray(canvas)) == []  # a speck in a crowd is not a profile photo


def test_one_detector_is_safe_to_share_between_threads(detector: HaarFaceDetector) -> None:
    from concurrent.futures import ThreadPoolExecutor

    face = rgb(si.face_png())
    images = [face, rgb(si.no_face())] * 6
    with ThreadPoolExecutor(4) as pool:  # OpenCV's classifier alone fails here (shared scratch buffers)
        found = list(pool.map(lambda img: len(detector.detect(img)), images))
    assert found == [1, 0] * 6


def test_wrong_array_shape_is_refused(detector: HaarFaceDetector) -> None:
    with pytest.raises(ValueError, match="uint8 RGB"):
        detector.detect(np.zeros((10, 10), np.uint8))


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> LocalBlobStore | MemoryBlobStore:
    return LocalBlobStore(tmp_path / "blobs") if request.param == "local" else MemoryBlobStore()


def test_put_get_delete_exists(store: LocalBlobStore | MemoryBlobStore) -> None:
    assert not store.exists("photos/1/a.jpg")
    store.put("photos/1/a.jpg", b"one")
    store.put("photos/1/a.jpg", b"two")  # replaced
    assert store.exists("photos/1/a.jpg") and store.get("photos/1/a.jpg") == b"two"
    assert store.delete("photos/1/a.jpg") is True
    assert store.delete("photos/1/a.jpg") is False
    with pytest.raises(NotFound, match=r"photos/1/a\.jpg"):
        store.get("photos/1/a.jpg")


@pytest.mark.parametrize(
    "key",
    [
        "../escape",
        "photos/../../etc/passwd",
        "/etc/passwd",
        "photos//x",
        "",
        ".hidden",
        "a/./b",
        "a\\b",
        "a/b/",
        "x" * 200,
        "é.jpg",
        "a\x00b",
    ],
)
def test_unsafe_keys_are_refused(store: LocalBlobStore | MemoryBlobStore, key: str) -> None:
    for call in (
        lambda: store.put(key, b"x"),
        lambda: store.get(key),
        lambda: store.exists(key),
        lambda: store.delete(key),
    ):
        with pytest.raises(InvalidInputError, match="blob key"):
            call()


def test_local_store_writes_only_under_its_root(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    store = LocalBlobStore(root)
    store.put("photos/7/p.jpg", b"data")
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files == [root / "photos" / "7" / "p.jpg"]  # no temporary file is left behind
    assert oct(root.stat().st_mode & 0o777) == "0o700"
    (root / "link").symlink_to(tmp_path)
    with pytest.raises(InvalidInputError, match="outside the blob directory"):
        store.put("link/evil.jpg", b"x")
    assert not (tmp_path / "evil.jpg").exists()


def test_a_failed_write_keeps_the_old_blob(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalBlobStore(tmp_path)
    store.put("a.jpg", b"old")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        store.put("a.jpg", b"new")
    monkeypatch.undo()
    assert store.get("a.jpg") == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg"]

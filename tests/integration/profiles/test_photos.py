"""Profiles and photos on real SQLite and PostgreSQL with the real local blob store and face check:
uploads, limits, order, deletion, erasure, and bad input that changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

import sample_images as si
from perfectmatch.adapters.clock import FakeClock
from perfectmatch.adapters.storage import schema as s
from perfectmatch.bootstrap import App, build_app
from perfectmatch.config import Settings
from perfectmatch.errors import NotFound
from perfectmatch.models import User
from perfectmatch.ops.containment import suspend_user
from perfectmatch.ops.support import erase_user, export_user, show_user
from perfectmatch.profiles import (
    InactiveUser,
    InvalidImage,
    InvalidProfile,
    NoFaceFound,
    PhotoLimit,
    PhotoNotFound,
    UnknownUser,
    add_photo,
    completion_status,
    delete_photo,
    list_photos,
    photo_bytes,
    reorder_photos,
    save_basic_profile,
)

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
FORM = {
    "display_name": "Eileen",
    "birth_date": "1990-05-01",
    "gender": "woman",
    "location": {"lat": 37.77, "lon": -122.42, "place": "San Francisco"},
    "genders_sought": ["man"],
    "age_min": 30,
    "age_max": 45,
    "radius_km": 40,
    "goal": "long_term",
}


def build(db_url: str, blobs: Path, **photos: Any) -> App:
    settings = Settings(_env_file=None, db_url=db_url, cache={"backend": "none"}, photos={"blob_dir": blobs, **photos})
    return build_app(settings, clock=FakeClock(NOW))


@pytest.fixture
def app(db_url: str, tmp_path: Path) -> Iterator[App]:
    app = build(db_url, tmp_path / "blobs", max_photos=3)
    yield app
    app.close()


def new_user(app: App) -> int:
    with app.uow as uow:
        uid = uow.users.add(User(created_at=NOW, last_active_at=NOW)).id
        uow.commit()
    assert uid is not None
    return uid


def state(app: App, blobs: Path) -> tuple[list[tuple], list[str]]:
    """Every photo row and every file in the blob store: what a refused upload must not change."""
    with app.engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(select(s.photos).order_by(s.photos.c.id))]
    files = sorted(str(p.relative_to(blobs)) for p in blobs.rglob("*") if p.is_file()) if blobs.exists() else []
    return rows, files


def test_upload_stores_blob_row_and_profile_order(app: App) -> None:
    uid = new_user(app)
    save_basic_profile(app, uid, FORM)
    photo = add_photo(app, uid, si.face_png(), name="me.png")
    assert photo.position == 0 and photo.has_face and photo.content_type == "image/jpeg"
    assert (photo.width, photo.height) == (512, 512) and photo.blob_key.startswith(f"photos/{uid}/")
    content_type, data = photo_bytes(app, uid, photo.id)
    assert content_type == "image/jpeg" and len(data) == photo.size_bytes
    assert Image.open(BytesIO(data)).format == "JPEG"
    assert app.blob_store.exists(photo.blob_key)
    second = add_photo(app, uid, si.face_variant(1))
    assert [p.id for p in list_photos(app, uid)] == [photo.id, second.id]
    with app.uow as uow:
        assert uow.profiles.get(uid).photos == (photo.blob_key, second.blob_key)


def test_photos_before_the_basic_profile_still_show_on_it(app: App) -> None:
    uid = new_user(app)
    photo = add_photo(app, uid, si.face_png())
    profile, _ = save_basic_profile(app, uid, FORM)
    assert profile.photos == (photo.blob_key,)
    updated, _ = save_basic_profile(app, uid, {**FORM, "bio": "Pilot."})  # an update keeps the photos
    assert updated.photos == (photo.blob_key,) and updated.bio == "Pilot."
    second = add_photo(app, uid, si.face_variant(1))
    reorder_photos(app, uid, [second.id, photo.id])
    with app.uow as uow:
        assert uow.profiles.get(uid).photos == (second.blob_key, photo.blob_key)  # the main photo first
    delete_photo(app, uid, second.id)
    with app.uow as uow:
        assert uow.profiles.get(uid).photos == (photo.blob_key,)


def test_bad_uploads_change_nothing(app: App, tmp_path: Path) -> None:
    uid = new_user(app)
    good = add_photo(app, uid, si.face_png())
    before = state(app, tmp_path / "blobs")
    bad = [
        (si.TEXT_AS_JPG, "photo.jpg", InvalidImage, "not_an_image"),
        (si.png_header_only(20000, 20000), "huge.png", InvalidImage, "too_many_pixels"),
        (si.truncated_jpeg(), "cut.jpg", InvalidImage, "corrupt"),
        (si.gif(), "anim.gif", InvalidImage, "unsupported_type"),
        (si.no_face(), "landscape.png", NoFaceFound, "no_face"),
        (si.face_png(), "again.png", InvalidImage, "duplicate"),
    ]
    for data, name, error, reason in bad:
        with pytest.raises(error) as err:
            add_photo(app, uid, data, name=name)
        assert err.value.reason == reason and name in str(err.value)
    with pytest.raises(UnknownUser, match="user 999999 not found"):
        add_photo(app, 999999, si.face_png())
    with pytest.raises(PhotoNotFound):
        delete_photo(app, uid, good.id + 1000)
    with pytest.raises(InvalidProfile, match="must list each"):
        reorder_photos(app, uid, [good.id, good.id])
    assert state(app, tmp_path / "blobs") == before


def test_limit_order_and_delete(app: App) -> None:
    uid = new_user(app)
    ids = [add_photo(app, uid, si.face_variant(i)).id for i in range(3)]
    with pytest.raises(PhotoLimit, match="already has 3 photos"):
        add_photo(app, uid, si.face_variant(3))
    photos = reorder_photos(app, uid, [ids[2], ids[0], ids[1]])
    assert [(p.id, p.position) for p in photos] == [(ids[2], 0), (ids[0], 1), (ids[1], 2)]
    gone = photos[1]
    left = delete_photo(app, uid, gone.id)
    assert [(p.id, p.position) for p in left] == [(ids[2], 0), (ids[1], 1)]
    assert not app.blob_store.exists(gone.blob_key)
    with app.uow as uow:
        assert uow.profiles.find(uid) is None  # no basic profile yet: nothing to mirror into
    add_photo(app, uid, si.face_variant(3))  # room again


def test_another_users_photo_is_not_yours(app: App) -> None:
    a, b = new_user(app), new_user(app)
    photo = add_photo(app, a, si.face_png())
    with pytest.raises(PhotoNotFound):
        photo_bytes(app, b, photo.id)
    with pytest.raises(PhotoNotFound):
        delete_photo(app, b, photo.id)
    assert app.blob_store.exists(photo.blob_key)


def test_suspended_user_cannot_upload(app: App) -> None:
    uid = new_user(app)
    suspend_user(app, uid, reason="test")
    with pytest.raises(InactiveUser, match="suspended"):
        add_photo(app, uid, si.face_png())
    with pytest.raises(InactiveUser):
        save_basic_profile(app, uid, FORM)


def test_invalid_basic_profile_writes_nothing(app: App) -> None:
    uid = new_user(app)
    minor = {**FORM, "birth_date": date(date.today().year - 16, 1, 1).isoformat()}
    for form, field in [
        (minor, "age must be at least 18"),
        ({**FORM, "age_min": 50, "age_max": 40}, "inverted"),
        ({**FORM, "display_name": ""}, "display_name"),
        ({**FORM, "gender": "robot"}, "gender"),
    ]:
        with pytest.raises(InvalidProfile, match=field):
            save_basic_profile(app, uid, form)
    with app.uow as uow:
        assert uow.profiles.find(uid) is None and uow.preferences.find(uid) is None
    with pytest.raises(UnknownUser):
        save_basic_profile(app, 424242, FORM)


def test_failed_blob_write_leaves_no_row(db_url: str, tmp_path: Path) -> None:
    class FullDisk:
        def put(self, key: str, data: bytes) -> None:
            raise OSError("no space left on device")

        def get(self, key: str) -> bytes:
            raise NotFound(key)

        def delete(self, key: str) -> bool:
            return False

        def exists(self, key: str) -> bool:
            return False

    settings = Settings(_env_file=None, db_url=db_url, cache={"backend": "none"})
    app = build_app(settings, clock=FakeClock(NOW), blob_store=FullDisk())
    uid = new_user(app)
    with pytest.raises(OSError, match="no space"):
        add_photo(app, uid, si.face_png())
    assert list_photos(app, uid) == []
    app.close()


def test_face_check_can_be_switched_off(db_url: str, tmp_path: Path) -> None:
    app = build(db_url, tmp_path / "blobs", require_face=False)
    uid = new_user(app)
    photo = add_photo(app, uid, si.no_face())
    assert not photo.has_face  # stored, but not confirmed to show a face
    app.close()


def test_export_lists_and_erase_removes_photos(app: App, tmp_path: Path) -> None:
    uid, other = new_user(app), new_user(app)
    save_basic_profile(app, uid, FORM)
    mine = [add_photo(app, uid, si.face_variant(i)) for i in range(2)]
    theirs = add_photo(app, other, si.face_png())
    assert show_user(app, uid)["counts"]["photos"] == 2
    export_user(app, uid, tmp_path / "export.json")
    exported = json.loads((tmp_path / "export.json").read_text())
    assert [p["id"] for p in exported["photos"]] == [p.id for p in mine]
    assert {"blob_key", "sha256", "width", "height", "has_face"} <= set(exported["photos"][0])
    report = erase_user(app, uid)
    assert report["rows"]["photos"] == 2 and report["rows"]["photo_blobs"] == 2
    assert list_photos(app, uid) == [] and not any(app.blob_store.exists(p.blob_key) for p in mine)
    assert app.blob_store.exists(theirs.blob_key) and len(list_photos(app, other)) == 1
    with app.uow as uow:
        assert uow.profiles.get(uid).photos == ()
    with pytest.raises(InactiveUser, match="deleted"):
        add_photo(app, uid, si.face_png())
    assert erase_user(app, uid)["rows"]["photos"] == 0  # idempotent


def test_completion_status_steps(app: App) -> None:
    uid = new_user(app)
    status = completion_status(app, uid)
    assert not status.complete and status.missing == ("basic_profile", "photo", "questionnaire", "analysis")
    save_basic_profile(app, uid, FORM)
    add_photo(app, uid, si.face_png())
    status = completion_status(app, uid)
    assert status.basic_profile and status.photos == 1 and status.missing == ("questionnaire", "analysis")
    with pytest.raises(UnknownUser):
        completion_status(app, 777777)


def test_concurrent_uploads_never_pass_the_limit(db_url: str, tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    app = build(db_url, tmp_path / "blobs", max_photos=2)
    uid = new_user(app)
    add_photo(app, uid, si.face_variant(0))
    uploads = [si.face_variant(i) for i in range(1, 5)]  # four tries for the one free slot, at once

    def upload(data: bytes) -> str:
        try:
            add_photo(app, uid, data)
        except PhotoLimit:
            return "limit"
        return "added"

    with ThreadPoolExecutor(4) as pool:
        outcomes = sorted(pool.map(upload, uploads))
    assert outcomes == ["added", "limit", "limit", "limit"]
    assert [p.position for p in list_photos(app, uid)] == [0, 1]
    assert len(list((tmp_path / "blobs").rglob("*.jpg"))) == 2  # the refused uploads left no bytes behind
    app.close()


def test_doctor_checks_the_blob_store_and_the_face_check(db_url: str, tmp_path: Path) -> None:
    from perfectmatch.ops.health import check_health

    app = build(db_url, tmp_path / "blobs")
    [fresh] = [c for c in check_health(app).checks if c.name == "photos"]
    assert fresh.ok and "not created yet" in fresh.detail and "HaarFaceDetector loaded" in fresh.detail
    add_photo(app, new_user(app), si.face_png())
    [used] = [c for c in check_health(app).checks if c.name == "photos"]
    assert used.ok and "LocalBlobStore round trip ok" in used.detail
    assert sorted(p.name for p in (tmp_path / "blobs").iterdir()) == ["health", "photos"]  # the probe is gone
    assert not any((tmp_path / "blobs" / "health").iterdir())
    app.close()
    (tmp_path / "file").write_text("not a directory")
    broken = build(db_url, tmp_path / "file" / "blobs")
    report = check_health(broken)
    [bad] = [c for c in report.checks if c.name == "photos"]
    assert not bad.ok and not report.ok
    broken.close()

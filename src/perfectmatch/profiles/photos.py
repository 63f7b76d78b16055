"""Profile photos: upload (check -> face check -> blob -> row), list, read, delete, reorder, erase.

An upload is checked completely before anything is written, so a refused photo changes nothing.
The bytes go to ``app.blob_store`` under ``photos/<user>/<random>.jpg`` and one ``photos`` row holds
the metadata; the profile's ``photos`` column mirrors the blob keys in display order.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from perfectmatch.adapters.storage import photos as rows
from perfectmatch.models import UserStatus
from perfectmatch.profiles.errors import (
    InactiveUser,
    InvalidImage,
    InvalidProfile,
    NoFaceFound,
    PhotoLimit,
    PhotoNotFound,
    UnknownUser,
)
from perfectmatch.profiles.images import check_image

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Photo:
    """One stored profile photo (metadata; the bytes are in the blob store under ``blob_key``)."""

    id: int
    user_id: int
    position: int
    blob_key: str
    content_type: str
    width: int
    height: int
    size_bytes: int
    sha256: str
    has_face: bool
    created_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "created_at": self.created_at.isoformat()}


def _photo(user_id: int, row: dict[str, Any]) -> Photo:
    return Photo(user_id=user_id, **row)


def _check_user(conn: Any, user_id: int, *, writing: bool, lock: bool = True) -> None:
    """``UnknownUser`` for an unknown id; when ``writing``, ``InactiveUser`` unless active (row locked)."""
    status = rows.lock_user(conn, user_id) if writing and lock else rows.status_of(conn, user_id)
    if status is None:
        raise UnknownUser(user_id)
    if writing and status != UserStatus.ACTIVE.value:
        raise InactiveUser(user_id, status)


def add_photo(app: Any, user_id: int, data: bytes, *, name: str = "upload") -> Photo:
    """Validate, face-check and store one photo as the last of ``user_id``'s photos.

    Parameters
    ----------
    data
        The uploaded bytes; only their content decides the type (a ``.jpg`` name proves nothing).
    name
        What the user called the file, for error messages.

    Raises
    ------
    UnknownUser, InactiveUser
        No such user, or a suspended or erased one.
    InvalidImage
        Not a usable photo (``reason`` says why), or the same photo is already on the profile.
    NoFaceFound
        The face check found no face (``PERFECTMATCH_PHOTOS__REQUIRE_FACE``).
    PhotoLimit
        The profile already holds ``PERFECTMATCH_PHOTOS__MAX_PHOTOS`` photos.
    """
    cfg = app.settings.photos
    with app.engine.connect() as conn:  # cheap checks first: nothing is decoded for a refused upload
        _check_user(conn, user_id, writing=True, lock=False)
        if rows.count_photos(conn, user_id) >= cfg.max_photos:
            raise PhotoLimit(user_id, cfg.max_photos)
    checked = check_image(data, cfg, name=name)
    has_face = False
    if cfg.require_face:
        if not app.face_detector.detect(checked.rgb):
            raise NoFaceFound(f"{name}: no face found; a profile photo must show your face clearly")
        has_face = True
    key = f"photos/{int(user_id)}/{secrets.token_hex(16)}.jpg"
    stored = False
    try:
        with app.engine.begin() as conn:
            _check_user(conn, user_id, writing=True)
            current = rows.photos_of(conn, user_id)
            if len(current) >= cfg.max_photos:
                raise PhotoLimit(user_id, cfg.max_photos)
            if any(r["sha256"] == checked.sha256 for r in current):
                raise InvalidImage("duplicate", f"{name}: this photo is already on the profile")
            row = {
                "user_id": int(user_id),
                "position": len(current),
                "blob_key": key,
                "content_type": checked.content_type,
                "width": checked.width,
                "height": checked.height,
                "size_bytes": len(checked.data),
                "sha256": checked.sha256,
                "has_face": has_face,
                "created_at": app.clock.now(),
            }
            app.blob_store.put(key, checked.data)
            stored = True
            photo_id = rows.insert_photo(conn, row)
            rows.set_order(conn, user_id, [r["id"] for r in current] + [photo_id])
    except BaseException:
        if stored:  # the row did not commit: the blob must not outlive it
            app.blob_store.delete(key)
        raise
    return _photo(user_id, {k: v for k, v in row.items() if k != "user_id"} | {"id": photo_id})


def list_photos(app: Any, user_id: int) -> list[Photo]:
    """``user_id``'s photos in display order; ``UnknownUser`` for an unknown id."""
    with app.engine.connect() as conn:
        _check_user(conn, user_id, writing=False)
        return [_photo(user_id, r) for r in rows.photos_of(conn, user_id)]


def photo_bytes(app: Any, user_id: int, photo_id: int) -> tuple[str, bytes]:
    """``(content_type, bytes)`` of one photo; ``PhotoNotFound`` if the user has no such photo."""
    photo = _find(list_photos(app, user_id), user_id, photo_id)
    return photo.content_type, app.blob_store.get(photo.blob_key)


def _find(photos: list[Photo], user_id: int, photo_id: int) -> Photo:
    for p in photos:
        if p.id == photo_id:
            return p
    raise PhotoNotFound(user_id, photo_id)


def delete_photo(app: Any, user_id: int, photo_id: int) -> list[Photo]:
    """Delete one photo (row first, then its blob); returns the remaining photos, renumbered."""
    with app.engine.begin() as conn:
        _check_user(conn, user_id, writing=True)
        current = [_photo(user_id, r) for r in rows.photos_of(conn, user_id)]
        gone = _find(current, user_id, photo_id)
        rows.delete_photos(conn, user_id, [photo_id])
        rows.set_order(conn, user_id, [p.id for p in current if p.id != photo_id])
    try:
        app.blob_store.delete(gone.blob_key)
    except OSError as exc:  # the photo is gone for everyone; only unreferenced bytes stay behind
        log.warning("photo %s deleted but its blob was not: %s", photo_id, type(exc).__name__)
    return list_photos(app, user_id)


def reorder_photos(app: Any, user_id: int, photo_ids: list[int]) -> list[Photo]:
    """Put the photos in the order of ``photo_ids``, which must list each of the user's photos once."""
    with app.engine.begin() as conn:
        _check_user(conn, user_id, writing=True)
        have = sorted(r["id"] for r in rows.photos_of(conn, user_id))
        if sorted(photo_ids) != have:
            raise InvalidProfile(f"user {user_id}: new order {photo_ids} must list each of the photos {have} once")
        rows.set_order(conn, user_id, photo_ids)
    return list_photos(app, user_id)


def erase_photos(conn: Any, user_id: int) -> tuple[int, list[str]]:
    """Delete every photo row of ``user_id`` on ``conn``; returns ``(rows, blob keys)`` so the caller
    deletes the blobs once its transaction has committed."""
    keys = [r["blob_key"] for r in rows.photos_of(conn, user_id)]
    return rows.delete_photos(conn, user_id), keys

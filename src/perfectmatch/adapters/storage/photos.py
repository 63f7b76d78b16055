"""Photo metadata rows (``schema.photos``): ordered per user; the bytes live in a ``BlobStore``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from perfectmatch.adapters.storage import schema as s

COLUMNS = (
    "id",
    "position",
    "blob_key",
    "content_type",
    "width",
    "height",
    "size_bytes",
    "sha256",
    "has_face",
    "created_at",
)


def status_of(conn: Connection, user_id: int) -> str | None:
    """The user's status, or ``None`` for an unknown id."""
    return conn.execute(select(s.users.c.status).where(s.users.c.id == user_id)).scalar_one_or_none()


def lock_user(conn: Connection, user_id: int) -> str | None:
    """The user's status, with the user's row locked until the transaction ends, so concurrent
    uploads of one user count photos in turn (``FOR UPDATE`` on PostgreSQL; on SQLite a no-op
    update takes the database write lock before anything is read)."""
    if conn.dialect.name == "postgresql":
        stmt = select(s.users.c.status).where(s.users.c.id == user_id).with_for_update()
        return conn.execute(stmt).scalar_one_or_none()
    conn.execute(update(s.users).where(s.users.c.id == user_id).values(status=s.users.c.status))
    return status_of(conn, user_id)


def photos_of(conn: Connection, user_id: int) -> list[dict[str, Any]]:
    """The user's photos as dicts of ``COLUMNS``, in display order."""
    t = s.photos
    rows = conn.execute(
        select(*(t.c[c] for c in COLUMNS)).where(t.c.user_id == user_id).order_by(t.c.position, t.c.id)
    ).mappings()
    return [dict(r) for r in rows]


def count_photos(conn: Connection, user_id: int) -> int:
    return int(
        conn.execute(select(func.count()).select_from(s.photos).where(s.photos.c.user_id == user_id)).scalar_one()
    )


def insert_photo(conn: Connection, row: dict[str, Any]) -> int:
    """Insert one photo row; returns its id."""
    return int(conn.execute(s.photos.insert().values(**row)).inserted_primary_key[0])


def delete_photos(conn: Connection, user_id: int, ids: Sequence[int] | None = None) -> int:
    """Delete the user's photos with ``ids`` (all of them when ``None``); returns how many."""
    stmt = delete(s.photos).where(s.photos.c.user_id == user_id)
    if ids is not None:
        stmt = stmt.where(s.photos.c.id.in_(list(ids)))
    return int(conn.execute(stmt).rowcount or 0)


def set_order(conn: Connection, user_id: int, ids: Sequence[int]) -> None:
    """Positions ``0..n-1`` in the order of ``ids``; the profile's ``photos`` column follows (blob keys)."""
    for position, photo_id in enumerate(ids):
        conn.execute(
            update(s.photos).where(s.photos.c.user_id == user_id, s.photos.c.id == photo_id).values(position=position)
        )
    keys = [r["blob_key"] for r in photos_of(conn, user_id)]
    conn.execute(update(s.profiles).where(s.profiles.c.user_id == user_id).values(photos=keys))

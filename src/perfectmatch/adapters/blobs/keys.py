"""Blob key rules shared by every blob store: no key can name a path outside the store."""

from __future__ import annotations

import re

from perfectmatch.errors import InvalidInputError

_SEGMENT = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")


def check_key(key: str) -> str:
    """Return ``key`` if it is 1-8 ``/``-separated segments of ``[A-Za-z0-9._-]`` (no ``..``, no
    leading dot or slash); otherwise raise ``InvalidInputError`` naming the key."""
    parts = key.split("/") if isinstance(key, str) else []
    if not 1 <= len(parts) <= 8 or not all(_SEGMENT.match(p) for p in parts):
        raise InvalidInputError(f"blob key {key!r} is not allowed (segments of A-Z a-z 0-9 . _ -, no '..')")
    return key

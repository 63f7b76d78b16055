"""``DiskCache``: the default cache, on diskcache, storing JSON only (never pickle).

diskcache pickles values by default, and unpickling from a directory another user can write is
code execution; so values are JSON-encoded to ``str`` before they reach diskcache (strings are
stored natively, not pickled) and the directory is created owner-only (0700).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from perfectmatch.errors import ConfigError


class DiskCache:
    """``ports.Cache`` over a local diskcache directory."""

    def __init__(self, directory: Path | str, *, namespace: str = "pm") -> None:
        import diskcache

        path = Path(directory)
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create cache directory {path}: {exc}") from exc
        if path.stat().st_uid != os.getuid() or path.stat().st_mode & 0o022:
            raise ConfigError(f"cache directory {path} must be owned by this user and not group/world-writable")
        self._ns = namespace + ":"
        self._cache = diskcache.Cache(str(path))

    def get(self, key: str) -> Any | None:
        raw = self._cache.get(self._ns + key)
        if not isinstance(raw, str):
            return None  # anything not written by us (e.g. a pickled value) is ignored
        return json.loads(raw)

    def set(self, key: str, value: Any, *, ttl_s: float | None = None) -> None:
        self._cache.set(self._ns + key, json.dumps(value, separators=(",", ":")), expire=ttl_s)

    def delete(self, key: str) -> bool:
        return bool(self._cache.delete(self._ns + key))

    def clear(self) -> None:
        for key in list(self._cache.iterkeys()):
            if isinstance(key, str) and key.startswith(self._ns):
                self._cache.delete(key)

    def close(self) -> None:
        self._cache.close()

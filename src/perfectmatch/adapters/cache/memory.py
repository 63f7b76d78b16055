"""``MemoryCache``: an in-process cache for tests and examples, with TTLs read from a clock."""

from __future__ import annotations

import json
from typing import Any

from perfectmatch.adapters.clock import SystemClock
from perfectmatch.ports import Clock


class MemoryCache:
    """``ports.Cache`` in a dict; values round-trip through JSON like the real adapters."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._data: dict[str, tuple[str, float | None]] = {}

    def get(self, key: str) -> Any | None:
        item = self._data.get(key)
        if item is None:
            return None
        raw, expires = item
        if expires is not None and self._clock.now().timestamp() >= expires:
            del self._data[key]
            return None
        return json.loads(raw)

    def set(self, key: str, value: Any, *, ttl_s: float | None = None) -> None:
        expires = None if ttl_s is None else self._clock.now().timestamp() + ttl_s
        self._data[key] = (json.dumps(value), expires)

    def delete(self, key: str) -> bool:
        return self._data.pop(key, None) is not None

    def clear(self) -> None:
        self._data.clear()

"""``RedisCache``: the cache port on Redis (JSON values, TTLs with millisecond precision)."""

from __future__ import annotations

import json
from typing import Any

from perfectmatch.errors import ConfigError, StorageError


class RedisCache:
    """``ports.Cache`` over a Redis server; keys are prefixed with ``namespace:``."""

    def __init__(self, url: str, *, namespace: str = "pm") -> None:
        try:
            import redis
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise ImportError("the Redis cache needs: pip install 'perfectmatch[redis]'") from exc
        self._redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._errors = redis.RedisError
        self._ns = namespace + ":"
        try:
            self._redis.ping()
        except redis.RedisError as exc:
            raise ConfigError(f"cannot reach Redis at {url.split('@')[-1]}: {exc}") from exc

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except self._errors as exc:
            raise StorageError(f"redis: {exc}") from exc

    def get(self, key: str) -> Any | None:
        raw = self._call(self._redis.get, self._ns + key)
        return None if raw is None else json.loads(raw)

    def set(self, key: str, value: Any, *, ttl_s: float | None = None) -> None:
        data = json.dumps(value, separators=(",", ":"))
        px = None if ttl_s is None else max(1, int(ttl_s * 1000))
        self._call(self._redis.set, self._ns + key, data, px=px)

    def delete(self, key: str) -> bool:
        return bool(self._call(self._redis.delete, self._ns + key))

    def clear(self) -> None:
        for key in self._call(self._redis.scan_iter, match=self._ns + "*", count=500):
            self._call(self._redis.delete, key)

    def close(self) -> None:
        self._redis.close()

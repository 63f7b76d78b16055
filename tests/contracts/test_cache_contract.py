"""One cache contract, run against real diskcache, real Redis and the in-memory cache."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perfectmatch.adapters.cache.disk import DiskCache
from perfectmatch.adapters.cache.memory import MemoryCache
from perfectmatch.adapters.cache.redis import RedisCache
from perfectmatch.errors import ConfigError
from perfectmatch.ports import Cache

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)


@pytest.fixture(params=["disk", "redis", "memory"])
def cache(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cache]:
    ns = f"test-{uuid.uuid4().hex[:8]}"
    if request.param == "disk":
        c: Cache = DiskCache(tmp_path / "cache", namespace=ns)
    elif request.param == "redis":
        c = RedisCache(request.getfixturevalue("redis_url"), namespace=ns)
    else:
        c = MemoryCache()
    yield c
    c.clear()
    if hasattr(c, "close"):
        c.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.text(min_size=1, max_size=30), value=json_values)
def test_set_get_round_trip(cache: Cache, key: str, value: object) -> None:
    cache.set(key, value)
    assert cache.get(key) == value


def test_missing_delete_clear(cache: Cache) -> None:
    assert cache.get("nope") is None
    assert cache.delete("nope") is False
    cache.set("a", 1)
    cache.set("b", [1, 2])
    assert cache.delete("a") is True
    assert cache.get("a") is None
    cache.clear()
    assert cache.get("b") is None


def test_ttl_expires(cache: Cache) -> None:
    cache.set("short", "x", ttl_s=0.2)
    cache.set("long", "y", ttl_s=60)
    assert cache.get("short") == "x"
    time.sleep(0.35)
    assert cache.get("short") is None
    assert cache.get("long") == "y"


def test_memory_cache_uses_clock() -> None:
    from perfectmatch.adapters.clock import FakeClock

    clock = FakeClock()
    c = MemoryCache(clock)
    c.set("k", 1, ttl_s=10)
    clock.advance(9.9)
    assert c.get("k") == 1
    clock.advance(0.2)
    assert c.get("k") is None


def test_namespaces_isolate(tmp_path: Path, redis_url: str) -> None:
    a, b = RedisCache(redis_url, namespace="ns-a-" + uuid.uuid4().hex), RedisCache(redis_url, namespace="ns-b")
    a.set("k", 1)
    assert b.get("k") is None
    a.clear()


def test_disk_cache_never_unpickles(tmp_path: Path) -> None:
    """A value planted by someone else (pickled by diskcache) is ignored, not unpickled."""
    import diskcache

    d = tmp_path / "c"
    c = DiskCache(d, namespace="pm")
    raw = diskcache.Cache(str(d))
    raw.set("pm:evil", {"pickled": True})  # stored with pickle by diskcache
    assert c.get("evil") is None
    assert (os.stat(d).st_mode & 0o777) == 0o700


def test_disk_cache_refuses_world_writable_dir(tmp_path: Path) -> None:
    d = tmp_path / "open"
    d.mkdir()
    d.chmod(0o777)
    with pytest.raises(ConfigError, match="not group/world-writable"):
        DiskCache(d)


def test_redis_unreachable_is_config_error() -> None:
    with pytest.raises(ConfigError, match="cannot reach Redis"):
        RedisCache("redis://127.0.0.1:1/0")

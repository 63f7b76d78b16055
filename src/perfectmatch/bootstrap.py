"""The composition root: ``build_app(settings)`` wires adapters to ports and returns an ``App``.

Only this module and the CLI read ``Settings``. Anything can be overridden for tests or embedding
(``build_app(settings, clock=FakeClock(), cache=MemoryCache())``); nothing is built at import time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Engine

from perfectmatch.config import CacheSettings, Settings
from perfectmatch.ports import Cache, Clock, UnitOfWork


@dataclass
class App:
    """Everything a command or a backend needs, wired once."""

    settings: Settings
    engine: Engine
    clock: Clock
    cache: Cache | None
    rng: np.random.Generator
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def uow(self) -> UnitOfWork:
        """A fresh unit of work: ``with app.uow as uow: ...; uow.commit()``."""
        from perfectmatch.adapters.storage.uow import SqlAlchemyUnitOfWork

        return SqlAlchemyUnitOfWork(self.engine)  # type: ignore[return-value]

    def close(self) -> None:
        self.engine.dispose()
        close = getattr(self.cache, "close", None)
        if close is not None:
            close()


def make_cache(cfg: CacheSettings, clock: Clock) -> Cache | None:
    """The configured cache adapter (diskcache by default, Redis, or none)."""
    if cfg.backend == "none":
        return None
    if cfg.backend == "redis":
        from perfectmatch.adapters.cache.redis import RedisCache

        return RedisCache(cfg.redis_url, namespace=cfg.namespace)
    from perfectmatch.adapters.cache.disk import DiskCache

    return DiskCache(cfg.dir, namespace=cfg.namespace)


def build_app(settings: Settings | None = None, **overrides: Any) -> App:
    """Build the application from ``settings`` (default: environment), migrating the database.

    Parameters
    ----------
    settings
        Configuration; ``Settings()`` reads ``PERFECTMATCH_*`` variables.
    **overrides
        Replace a wired part: ``engine``, ``clock``, ``cache`` or ``rng``.

    Raises
    ------
    ConfigError, DatabaseUnavailable
        The database URL is invalid or unreachable.
    """
    from perfectmatch.adapters.clock import SystemClock
    from perfectmatch.adapters.storage.engine import make_engine, upgrade

    settings = settings or Settings()
    clock = overrides.pop("clock", None) or SystemClock()
    engine = overrides.pop("engine", None) or make_engine(settings.db_url)
    if settings.auto_migrate:
        upgrade(engine)
    cache = overrides.pop("cache") if "cache" in overrides else make_cache(settings.cache, clock)
    rng = overrides.pop("rng", None) or np.random.default_rng(settings.seed)
    if overrides:
        raise TypeError(f"unknown overrides: {sorted(overrides)}")
    return App(settings=settings, engine=engine, clock=clock, cache=cache, rng=rng)

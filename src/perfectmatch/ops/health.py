"""Health checks a backend can expose and ``perfectmatch doctor`` prints.

Shallow checks answer "can this process serve?": settings load, the database is reachable and its
schema is at the latest migration, the cache round-trips a value, and each configured AI provider
answers ``GET {base_url}/models``, and the payment provider (``STRIPE_API_BASE`` with
``STRIPE_API_KEY``) answers an authenticated ``GET /v1/customers``. The deep check runs a synthetic
transaction end to end (two synthetic users stored, their vectors built and the pair scored)
inside a transaction that is always rolled back, so it leaves nothing behind.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from perfectmatch.config import Settings
from perfectmatch.errors import PerfectMatchError

DEFAULT_OPENAI_BASE = "https://api.openai.com/v1"


class Unhealthy(PerfectMatchError):
    """A health check failed (``perfectmatch doctor`` exits 1 with this)."""


@dataclass(frozen=True)
class Check:
    """One check: what was checked, whether it passed, what was seen and how long it took."""

    name: str
    ok: bool
    detail: str
    seconds: float


@dataclass
class HealthReport:
    """Every check run, in order; ``ok`` when all passed."""

    ai: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "ai": self.ai,
                "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail, "seconds": c.seconds}
                           for c in self.checks]}


def _timed(name: str, fn: Callable[[], str]) -> Check:
    """Run ``fn``; its return value is the detail, any exception a failed check naming the error."""
    t0 = time.perf_counter()
    try:
        detail = fn()
    except Exception as exc:  # a health check reports every failure rather than raising it
        return _failure(name, exc, t0)
    return Check(name, True, detail, round(time.perf_counter() - t0, 4))


def _failure(name: str, exc: BaseException, since: float) -> Check:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return Check(name, False, f"{type(exc).__name__}: {first}", round(time.perf_counter() - since, 4))


def _database(engine: Any) -> str:
    from sqlalchemy import text

    from perfectmatch.adapters.storage.engine import current_revision, head_revision

    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    rev, head = current_revision(engine), head_revision()
    if rev != head:
        raise PerfectMatchError(f"schema at revision {rev}, latest is {head} (run `perfectmatch db upgrade`)")
    return f"{engine.dialect.name} reachable, schema at {rev}"


def _cache(cache: Any) -> str:
    if cache is None:
        return "no cache configured"
    cache = getattr(cache, "inner", cache)  # probe the backend itself, also while read-only mode skips writes
    key = f"health:{uuid.uuid4().hex}"
    value = {"probe": key}
    cache.set(key, value, ttl_s=60)
    try:
        got = cache.get(key)
    finally:
        cache.delete(key)
    if got != value:
        raise PerfectMatchError(f"cache returned {got!r} for a value just written")
    return f"{type(cache).__name__} round trip ok"


def _photos(app: Any) -> str:
    """The blob store answers a write-read-delete round trip and the face check loads (OpenCV)."""
    from pathlib import Path

    store = app.blob_store
    root = getattr(store, "root", None)
    if root is not None and not Path(root).exists():
        ancestor = Path(root).parent
        while not ancestor.exists():
            ancestor = ancestor.parent
        if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
            raise PerfectMatchError(f"blob directory {root} cannot be created: {ancestor} is not a writable directory")
        where = f"blob directory {root} not created yet (the first upload creates it)"
    else:
        key = f"health/{uuid.uuid4().hex}"
        store.put(key, b"probe")
        try:
            got = store.get(key)
        finally:
            store.delete(key)
        if got != b"probe":
            raise PerfectMatchError("blob store returned other bytes than were just written")
        where = f"{type(store).__name__} round trip ok"
    if not app.settings.photos.require_face:
        return f"{where}; face check off"
    return f"{where}; face check {type(app.face_detector).__name__} loaded"


def _read_only(engine: Any) -> str:
    """Read-only mode is not a failure (reads are served), but an operator must see it."""
    from perfectmatch.adapters.storage.readonly import read_only_state

    return read_only_state(engine).describe()


def ai_endpoints(settings: Settings) -> list[tuple[str, str, str]]:
    """``(name, base_url, api_key)`` of every configured AI provider (empty with the local fallback)."""
    from perfectmatch.ai import plan_providers

    plan = plan_providers(settings.ai)
    return [(p.name, (p.base_url or DEFAULT_OPENAI_BASE).rstrip("/"), p.api_key)
            for p in (plan.primary, plan.backup) if p is not None]


def _probe_ai(base_url: str, api_key: str, timeout_s: float) -> str:
    import httpx

    resp = httpx.get(f"{base_url}/models", headers={"Authorization": f"Bearer {api_key}"}, timeout=timeout_s)
    if resp.status_code != 200:
        raise PerfectMatchError(f"GET {base_url}/models answered HTTP {resp.status_code}")
    return f"GET {base_url}/models answered 200"


DEFAULT_STRIPE_BASE = "https://api.stripe.com"


def _payments_check(env: Mapping[str, str], timeout_s: float) -> Check:
    """The payment provider (``STRIPE_API_BASE``, default Stripe's) answers an authenticated list call."""
    key = env.get("STRIPE_API_KEY", "")
    if not key:
        return Check("payments", True, "not configured (no STRIPE_API_KEY)", 0.0)
    base = (env.get("STRIPE_API_BASE") or DEFAULT_STRIPE_BASE).rstrip("/")
    return _timed("payments", lambda: _probe_payments(base, key, timeout_s))


def _probe_payments(base_url: str, api_key: str, timeout_s: float) -> str:
    import httpx

    url = f"{base_url}/v1/customers"
    resp = httpx.get(url, params={"limit": 1}, headers={"Authorization": f"Bearer {api_key}"}, timeout=timeout_s)
    if resp.status_code != 200:
        raise PerfectMatchError(f"GET {url} answered HTTP {resp.status_code}")
    return f"GET {url} answered 200"


def _synthetic(app: Any) -> str:
    """Two synthetic users stored, vectors built, the pair scored; rolled back (never committed)."""
    from perfectmatch.batch_stages import build_vectors
    from perfectmatch.matching.vectors import similarity_from_cosine
    from perfectmatch.populations.simulate import simulate
    from perfectmatch.ports import NO_PROGRESS

    population = simulate(2, 0, today=date.today())
    with app.uow as uow:
        ids = uow.population.save(population.frame, population.responses)
        vs = build_vectors(uow, app.vector_spec, ids, NO_PROGRESS)
        if len(vs) != 2:
            raise PerfectMatchError(f"built {len(vs)} vectors for 2 synthetic users")
        similarity = float(similarity_from_cosine(float(vs.vecs[0] @ vs.vecs[1])))
        # leaving the block without commit() rolls everything back
    with app.uow as uow:
        left = [uow.users.find(int(i)) for i in ids]
    if any(u is not None for u in left):
        raise PerfectMatchError("synthetic users were not rolled back")
    return f"2 synthetic users stored, vectors built, pair similarity {similarity:.3f}, rolled back"


def check_health(app: Any, deep: bool = False, *, ai_timeout_s: float = 3.0) -> HealthReport:
    """Run the health checks against a built ``App``.

    Parameters
    ----------
    app
        The ``bootstrap.App`` (its engine, cache and settings are probed).
    deep
        Also run the synthetic end-to-end transaction (rolled back).
    ai_timeout_s
        Timeout of each AI endpoint probe.

    Returns
    -------
    HealthReport
        Never raises for a failing dependency: each failure is a check with ``ok=False``.
    """
    from perfectmatch.ai import describe_ai

    report = HealthReport(ai=_describe(describe_ai, app.settings))
    report.checks.append(Check("settings", True, "loaded", 0.0))
    report.checks.append(_timed("database", lambda: _database(app.engine)))
    report.checks.append(_timed("cache", lambda: _cache(app.cache)))
    report.checks.append(_timed("read_only", lambda: _read_only(app.engine)))
    report.checks.append(_timed("photos", lambda: _photos(app)))
    report.checks.extend(_ai_checks(app.settings, ai_timeout_s))
    report.checks.append(_payments_check(os.environ, ai_timeout_s))
    if deep:
        report.checks.append(_timed("synthetic_transaction", lambda: _synthetic(app)))
    return report


def _describe(describe: Callable[[Any], str], settings: Settings) -> str:
    try:
        return describe(settings.ai)
    except PerfectMatchError as exc:
        return f"misconfigured: {exc}"


def _ai_checks(settings: Settings, timeout_s: float) -> list[Check]:
    try:
        endpoints = ai_endpoints(settings)
    except PerfectMatchError as exc:
        return [Check("ai", False, str(exc), 0.0)]
    if not endpoints:
        return [Check("ai", True, "local fallback only (no provider configured)", 0.0)]
    return [_timed(f"ai:{name}", lambda u=url, k=key: _probe_ai(u, k, timeout_s)) for name, url, key in endpoints]


def check_settings(settings_factory: Callable[[], Settings], deep: bool = False, *,
                   ai_timeout_s: float = 3.0, **overrides: Any) -> HealthReport:
    """Load settings, connect to the database and the cache without migrating, then ``check_health``.

    This is what ``perfectmatch doctor`` runs: unloadable settings, an unreachable database or an
    unreachable cache each give a red check under its own name instead of an exception.
    ``overrides`` go to ``build_app`` (``engine``, ``cache``, ``clock`` ...) and are closed afterwards.
    """
    from perfectmatch.adapters.clock import SystemClock
    from perfectmatch.adapters.storage.engine import make_engine
    from perfectmatch.ai import describe_ai
    from perfectmatch.bootstrap import build_app, make_cache

    t0 = time.perf_counter()
    try:
        settings = settings_factory()
    except Exception as exc:
        return HealthReport(ai="unknown", checks=[_failure("settings", exc, t0)])
    engine = overrides.pop("engine", None)
    failed: list[Check] = []
    if engine is None:
        t1 = time.perf_counter()
        try:
            engine = make_engine(settings.db_url)
        except Exception as exc:
            failed.append(_failure("database", exc, t1))
    if "cache" not in overrides:
        t1 = time.perf_counter()
        try:
            overrides["cache"] = make_cache(settings.cache, overrides.get("clock") or SystemClock())
        except Exception as exc:
            failed.append(_failure("cache", exc, t1))
    if failed:  # the database or the cache is down: report that with the AI checks
        for part in (engine, overrides.get("cache")):
            close = getattr(part, "dispose", None) or getattr(part, "close", None)
            if close is not None:
                close()
        return HealthReport(ai=_describe(describe_ai, settings),
                            checks=[Check("settings", True, "loaded", 0.0), *failed,
                                    *_ai_checks(settings, ai_timeout_s), _payments_check(os.environ, ai_timeout_s)])
    app = build_app(settings.model_copy(update={"auto_migrate": False}), engine=engine, **overrides)
    try:
        return check_health(app, deep, ai_timeout_s=ai_timeout_s)
    finally:
        app.close()

"""``build_analyzer``: wire providers, router, breakers, limits, accounting and cache from ``AISettings``.

Provider auto-selection (``provider="auto"``): OpenAI when ``OPENAI_API_KEY`` (or
``PERFECTMATCH_AI__OPENAI_API_KEY``) is set, DeepSeek as its backup when ``DEEPSEEK_API_KEY`` is set
too (DeepSeek alone when only its key is set), and the local fallback with neither.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from perfectmatch.ai.accounting import Accounting, Price
from perfectmatch.ai.analysis import ResilientAnalyzer
from perfectmatch.ai.engine import AIEngine, Provider
from perfectmatch.ai.limits import RateLimiter
from perfectmatch.ai.resilience import CircuitBreaker, RetryPolicy
from perfectmatch.ai.routing import FailureRateRouter
from perfectmatch.config import AISettings
from perfectmatch.errors import ConfigError
from perfectmatch.ports import Cache, ChatClient, Clock


class _UtcClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class ProviderSpec:
    """One provider to build: name (``openai``/``deepseek``), key, base URL and model."""

    name: str
    api_key: str
    base_url: str | None
    model: str


@dataclass(frozen=True)
class ProviderPlan:
    """Which providers a setting selects; ``description`` is what ``doctor`` and batch summaries show."""

    primary: ProviderSpec | None
    backup: ProviderSpec | None

    @property
    def description(self) -> str:
        if self.primary is None:
            return "local fallback (no AI provider key set)"
        text = f"{self.primary.name} ({self.primary.model})"
        if self.backup is not None:
            text += f" with {self.backup.name} ({self.backup.model}) as backup"
        return text + ", local fallback last"


def plan_providers(settings: AISettings, environ: Mapping[str, str] | None = None) -> ProviderPlan:
    """Resolve keys and URLs from ``settings`` and the plain ``OPENAI_*``/``DEEPSEEK_*`` variables.

    Raises
    ------
    ConfigError
        If ``provider`` names a provider whose key is missing.
    """
    env = os.environ if environ is None else environ
    oa_key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else env.get("OPENAI_API_KEY", "")
    ds_key = (
        settings.deepseek_api_key.get_secret_value() if settings.deepseek_api_key else env.get("DEEPSEEK_API_KEY", "")
    )
    openai = (
        ProviderSpec("openai", oa_key, settings.openai_base_url or env.get("OPENAI_BASE_URL") or None,
                     settings.openai_model)
        if oa_key else None
    )
    deepseek = (
        ProviderSpec("deepseek", ds_key, env.get("DEEPSEEK_BASE_URL") or settings.deepseek_base_url,
                     settings.deepseek_model)
        if ds_key else None
    )
    if settings.provider == "local":
        return ProviderPlan(None, None)
    if settings.provider == "openai":
        if openai is None:
            raise ConfigError("PERFECTMATCH_AI__PROVIDER=openai but OPENAI_API_KEY is not set")
        return ProviderPlan(openai, deepseek)
    if settings.provider == "deepseek":
        if deepseek is None:
            raise ConfigError("PERFECTMATCH_AI__PROVIDER=deepseek but DEEPSEEK_API_KEY is not set")
        return ProviderPlan(deepseek, None)
    if openai is not None:
        return ProviderPlan(openai, deepseek)
    return ProviderPlan(deepseek, None)


def describe_ai(settings: AISettings, environ: Mapping[str, str] | None = None) -> str:
    """One line naming the providers in use, for ``perfectmatch doctor`` and batch summaries."""
    return plan_providers(settings, environ).description


def build_analyzer(
    settings: AISettings,
    *,
    cache: Cache | None = None,
    clock: Clock | None = None,
    environ: Mapping[str, str] | None = None,
    make_client: Callable[[ProviderSpec], ChatClient] | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    seed: int | None = None,
) -> ResilientAnalyzer:
    """Build the ``CompatibilityAnalyzer`` the batch uses.

    Parameters
    ----------
    settings
        The AI section of ``Settings``.
    cache
        Answer cache (``None``: no caching).
    clock
        Drives breakers and router probes (default: the UTC wall clock).
    environ
        Where ``OPENAI_API_KEY`` and friends are read (default ``os.environ``).
    make_client
        Builds a ``ChatClient`` per provider; required when a provider is configured. Bootstrap
        passes ``perfectmatch.adapters.llm.client_for`` (the core never imports adapters); tests
        pass scripted clients.

    Returns
    -------
    ResilientAnalyzer
        With ``description`` naming the providers, and ``summary()`` for the run's accounting.

    Raises
    ------
    ConfigError
        A provider is configured but ``make_client`` is missing, or a forced provider lacks its key.
    """
    clock = clock or _UtcClock()
    plan = plan_providers(settings, environ)
    prices = {m: Price(p, c) for m, (p, c) in settings.prices_per_1k.items()}
    accounting = Accounting(prices, budget_usd=settings.run_budget_usd)
    ttls = {"match_analysis": settings.ttl_match_s, "profile_analysis": settings.ttl_profile_s,
            "conversation_starters": settings.ttl_starters_s}
    common = dict(cache=cache, batch_size=settings.batch_size, concurrency=settings.concurrency,
                  batch_deadline_s=settings.batch_deadline_s, max_retries=settings.max_retries, ttls_s=ttls,
                  accounting=accounting, description=plan.description, monotonic=monotonic)
    if plan.primary is None:
        return ResilientAnalyzer(None, **common)  # type: ignore[arg-type]
    if make_client is None:
        raise ConfigError(
            f"{plan.description}: build_analyzer needs make_client=perfectmatch.adapters.llm.client_for"
        )
    build = make_client
    limits = {"openai": (settings.openai_rpm, settings.openai_tpm),
              "deepseek": (settings.deepseek_rpm, settings.deepseek_tpm)}
    providers: dict[str, Provider] = {}
    for spec in (plan.primary, plan.backup):
        if spec is None:
            continue
        rpm, tpm = limits[spec.name]
        providers[spec.name] = Provider(
            name=spec.name,
            client=build(spec),
            model=spec.model,
            breaker=CircuitBreaker(clock, failure_threshold=settings.breaker_failures,
                                   reset_timeout_s=settings.breaker_reset_s),
            limiter=RateLimiter(rpm, tpm, monotonic=monotonic, sleep=sleep) if (rpm or tpm) else None,
            supports_json_schema=spec.name != "deepseek",
        )
    router = FailureRateRouter(
        plan.primary.name, plan.backup.name if plan.backup else None, clock,
        window=settings.router_window, threshold=settings.failure_rate_switch,
        min_samples=settings.router_min_samples, probe_interval_s=settings.router_probe_s,
    )
    policy = RetryPolicy(max_attempts=settings.max_attempts, backoff_base_s=settings.backoff_base_s,
                         backoff_max_s=settings.backoff_max_s)
    engine = AIEngine(providers, router, accounting, policy=policy, timeout_s=settings.timeout_s,
                      backup_reserve_s=settings.backup_reserve_s if plan.backup else 0.0,
                      monotonic=monotonic, sleep=sleep, seed=seed)
    return ResilientAnalyzer(engine, **common)  # type: ignore[arg-type]

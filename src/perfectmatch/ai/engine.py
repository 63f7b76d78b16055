"""``AIEngine``: sends one request through the router, limits, breakers and retries, and accounts for it."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from perfectmatch.ai.accounting import Accounting
from perfectmatch.ai.prompts import estimate_tokens
from perfectmatch.ai.resilience import CircuitBreaker, Deadline, LimitWaitTooLong, RetryPolicy, call_with_retries
from perfectmatch.ai.routing import FailureRateRouter
from perfectmatch.errors import AIError, CircuitOpenError, ProviderError
from perfectmatch.ports import ChatClient, ChatMessage, Completion


class BudgetExhausted(AIError):
    """The run's spending budget is used up; callers fall back instead of calling a provider."""


class NoProviderAvailable(AIError):
    """Every provider failed, was refused by its breaker or had no time left for this request."""


@dataclass
class Provider:
    """One configured chat provider with its own breaker and rate limiter.

    ``supports_json_schema`` is False for DeepSeek: the engine then sends no schema and the client
    uses plain JSON mode.
    """

    name: str
    client: ChatClient
    model: str
    breaker: CircuitBreaker
    limiter: Any = None  # limits.RateLimiter | None
    supports_json_schema: bool = True


@dataclass
class Attempts:
    """The attempts left for one batch across every provider and re-ask (1 + max retries)."""

    left: int
    made: int = 0
    by_provider: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take(self, provider: str) -> None:
        with self.lock:
            self.left -= 1
            self.made += 1
            self.by_provider[provider] = self.by_provider.get(provider, 0) + 1


@dataclass(frozen=True)
class EngineResult:
    completion: Completion
    provider: str


class AIEngine:
    """Runs chat requests against ``providers`` in the router's order.

    Parameters
    ----------
    providers
        Name -> ``Provider``; the router's names must be keys here.
    policy
        Retry policy per provider; ``timeout_s`` caps each attempt, ``backup_reserve_s`` is kept
        free for the backup when the primary is tried first.
    """

    def __init__(
        self,
        providers: Mapping[str, Provider],
        router: FailureRateRouter,
        accounting: Accounting,
        *,
        policy: RetryPolicy | None = None,
        timeout_s: float = 15.0,
        backup_reserve_s: float = 15.0,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        seed: int | None = None,
    ) -> None:
        self.providers = dict(providers)
        self.router = router
        self.accounting = accounting
        self.policy = policy or RetryPolicy()
        self.timeout_s = timeout_s
        self.backup_reserve_s = backup_reserve_s
        self.monotonic = monotonic
        self.sleep = sleep
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()

    def _rng_child(self) -> random.Random:
        with self._rng_lock:
            return random.Random(self._rng.random())

    def run(
        self,
        request_type: str,
        messages: Sequence[ChatMessage],
        *,
        deadline: Deadline,
        attempts: Attempts,
        json_schema: Mapping[str, Any] | None = None,
        validate: Callable[[Completion], bool] | None = None,
    ) -> EngineResult:
        """Send ``messages`` to the first provider that answers within the deadline.

        ``validate`` returns False for an unusable answer (not JSON, nothing valid in it): the router
        counts it as a failure, and the answer is still returned for the caller to re-ask or fall back.

        Raises
        ------
        BudgetExhausted
            The run budget is spent.
        NoProviderAvailable
            No provider produced an answer.
        """
        order = self.router.order()
        tokens = estimate_tokens(messages)
        last: BaseException | None = None
        for i, name in enumerate(order):
            if self.accounting.is_budget_exhausted():
                raise BudgetExhausted("run budget reached")
            if attempts.left <= 0:
                break
            prov = self.providers[name]
            has_backup = i < len(order) - 1
            reserve = self.backup_reserve_s if has_backup else 0.0
            schema = json_schema if prov.supports_json_schema else None

            def attempt(timeout: float, prov: Provider = prov, schema: Mapping[str, Any] | None = schema) -> Completion:
                attempts.take(prov.name)
                t0 = self.monotonic()
                try:
                    comp = prov.client.complete(messages, timeout_s=timeout, json_schema=schema)
                except ProviderError:
                    self.accounting.record_call(
                        request_type, prov.name, model=prov.model, ok=False, latency_s=self.monotonic() - t0
                    )
                    raise
                self.accounting.record_call(
                    request_type, prov.name, model=comp.model or prov.model, ok=True,
                    prompt_tokens=comp.prompt_tokens, completion_tokens=comp.completion_tokens,
                    latency_s=self.monotonic() - t0,
                )
                return comp

            def acquire(max_wait_s: float, prov: Provider = prov) -> bool:
                return prov.limiter is None or bool(prov.limiter.acquire(tokens, max_wait_s=max_wait_s))

            def on_attempt(exc: BaseException | None, name: str = name) -> None:
                if exc is not None:
                    self.router.record(name, False)

            try:
                comp = call_with_retries(
                    attempt,
                    policy=self.policy,
                    deadline=deadline,
                    reserve_s=reserve,
                    max_attempts=attempts.left,
                    breaker=prov.breaker,
                    on_attempt=on_attempt,
                    acquire=acquire,
                    timeout_s=self.timeout_s,
                    sleep=self.sleep,
                    rng=self._rng_child(),
                )
            except (ProviderError, CircuitOpenError, LimitWaitTooLong) as exc:
                last = exc
                continue
            self.router.record(name, validate(comp) if validate is not None else True)
            return EngineResult(comp, name)
        raise NoProviderAvailable(f"no provider answered: {last}")

"""Retries with backoff (tenacity), shared per-batch deadlines, and a circuit breaker per provider.

A batch gets one :class:`Deadline`; every attempt and every backoff sleep of every provider draws
on it, and the primary provider must stop early enough to leave ``backup_reserve_s`` for the
backup. :func:`call_with_retries` retries only ``ProviderError`` (429/5xx/timeouts/connection),
waits exponentially with jitter, honours ``Retry-After`` and never sleeps past the deadline.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception

from perfectmatch.errors import AIError, CircuitOpenError, ProviderError, ProviderRateLimited, ProviderTimeout
from perfectmatch.ports import Clock

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How one request is retried: attempts, backoff base/cap (seconds), jitter and minimum attempt time."""

    max_attempts: int = 3
    backoff_base_s: float = 0.5
    backoff_max_s: float = 8.0
    jitter: float = 0.5
    min_attempt_s: float = 0.05

    def backoff(self, retry_number: int, rng: random.Random) -> float:
        """Exponential backoff for the ``retry_number``-th retry (1-based) with +-``jitter`` spread."""
        base = min(self.backoff_max_s, self.backoff_base_s * 2 ** (retry_number - 1))
        return base * (1 - self.jitter + 2 * self.jitter * rng.random())


class Deadline:
    """A point in monotonic time shared by every attempt of one batch."""

    def __init__(self, budget_s: float, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self.end = monotonic() + budget_s

    def remaining(self, reserve_s: float = 0.0) -> float:
        """Seconds left before the deadline minus ``reserve_s`` (never negative)."""
        return max(0.0, self.end - reserve_s - self._monotonic())


class LimitWaitTooLong(AIError):
    """Our own rate limiter would make the attempt wait past the deadline (the provider is not at fault)."""


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Stops calls to a provider after ``failure_threshold`` consecutive failures.

    Open for ``reset_timeout_s`` (read from ``clock``), then half-open: one trial call is let
    through; its success closes the breaker, its failure opens it again. Thread-safe.
    """

    def __init__(self, clock: Clock, *, failure_threshold: int = 5, reset_timeout_s: float = 30.0) -> None:
        self._clock = clock
        self.failure_threshold = failure_threshold
        self.reset_timeout_s = reset_timeout_s
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False
        self._lock = threading.Lock()
        self.refused = 0

    def _now(self) -> float:
        return self._clock.now().timestamp()

    @property
    def state(self) -> BreakerState:
        with self._lock:
            if self._state is BreakerState.OPEN and self._now() - self._opened_at >= self.reset_timeout_s:
                return BreakerState.HALF_OPEN
            return self._state

    def allow(self) -> bool:
        """Whether a call may go out now; counts refusals in ``refused``."""
        with self._lock:
            if self._state is BreakerState.OPEN and self._now() - self._opened_at >= self.reset_timeout_s:
                self._state = BreakerState.HALF_OPEN
                self._trial_in_flight = False
            if self._state is BreakerState.CLOSED:
                return True
            if self._state is BreakerState.HALF_OPEN and not self._trial_in_flight:
                self._trial_in_flight = True
                return True
            self.refused += 1
            return False

    def record_success(self) -> None:
        with self._lock:
            self._state = BreakerState.CLOSED
            self._failures = 0
            self._trial_in_flight = False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._state is BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
                self._state = BreakerState.OPEN
                self._opened_at = self._now()
                self._trial_in_flight = False


RETRYABLE_STATUS = frozenset({408, 409, 429})


def is_retryable(exc: BaseException) -> bool:
    """Timeouts, connection failures, empty answers, 408/409/429 and 5xx are retried; other 4xx are not."""
    if not isinstance(exc, ProviderError):
        return False
    return exc.status is None or exc.status in RETRYABLE_STATUS or exc.status >= 500


class _DeadlineAwareWait:
    """tenacity wait: Retry-After when given, else exponential backoff with jitter."""

    def __init__(self, policy: RetryPolicy, rng: random.Random) -> None:
        self.policy = policy
        self.rng = rng

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        backoff = self.policy.backoff(state.attempt_number, self.rng)
        if isinstance(exc, ProviderRateLimited) and exc.retry_after_s is not None:
            return max(exc.retry_after_s, 0.0) + self.rng.random() * self.policy.backoff_base_s * 0.1
        return backoff


def call_with_retries(
    fn: Callable[[float], T],
    *,
    policy: RetryPolicy,
    deadline: Deadline,
    reserve_s: float = 0.0,
    max_attempts: int | None = None,
    breaker: CircuitBreaker | None = None,
    on_attempt: Callable[[BaseException | None], None] | None = None,
    acquire: Callable[[float], bool] | None = None,
    timeout_s: float = 15.0,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> T:
    """Call ``fn(attempt_timeout_s)`` until it succeeds, retrying retryable ``ProviderError`` in the deadline.

    Parameters
    ----------
    fn
        One attempt; receives its timeout in seconds: ``min(timeout_s, time left before reserve)``.
    policy
        Attempts and backoff; ``max_attempts`` overrides ``policy.max_attempts`` when smaller.
    deadline, reserve_s
        The batch deadline and the seconds that must stay unused (for the backup and fallback).
    breaker
        Asked before every attempt and told its outcome; an open breaker ends the retries.
    on_attempt
        Called after every attempt with its exception (``None`` on success), for accounting.
    acquire
        Rate-limit gate called before every attempt (retries included) with the seconds it may
        wait; ``False`` ends the retries with ``LimitWaitTooLong``.

    Raises
    ------
    CircuitOpenError
        The breaker refused an attempt.
    LimitWaitTooLong
        The rate limiter could not admit the attempt before the deadline.
    ProviderError
        The last attempt's error once attempts or time ran out (``ProviderTimeout`` if no time was left).
    """
    attempts = min(policy.max_attempts, max_attempts or policy.max_attempts)
    if attempts < 1:
        raise ProviderTimeout("retry", "no attempts left for this batch")
    rng = rng or random.Random()

    def stop(state: RetryCallState) -> bool:
        if state.attempt_number >= attempts:
            return True
        upcoming = state.upcoming_sleep or 0.0
        return upcoming + policy.min_attempt_s > deadline.remaining(reserve_s)

    def attempt() -> T:
        left = deadline.remaining(reserve_s)
        if left < policy.min_attempt_s:
            raise ProviderTimeout("retry", f"batch deadline reached ({left:.2f}s left)")
        if acquire is not None and not acquire(max(0.0, left - policy.min_attempt_s)):
            raise LimitWaitTooLong("rate limit would exceed the batch deadline")
        left = deadline.remaining(reserve_s)
        if breaker is not None and not breaker.allow():
            raise CircuitOpenError("circuit open")
        try:
            value = fn(min(timeout_s, left))
        except ProviderError as exc:
            if breaker is not None:
                breaker.record_failure()
            if on_attempt is not None:
                on_attempt(exc)
            raise
        if breaker is not None:
            breaker.record_success()
        if on_attempt is not None:
            on_attempt(None)
        return value

    retrying = Retrying(
        stop=stop,
        wait=_DeadlineAwareWait(policy, rng),
        retry=retry_if_exception(is_retryable),
        sleep=sleep,
        reraise=True,
    )
    return retrying(attempt)

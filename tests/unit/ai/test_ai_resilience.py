"""Retries, deadlines, Retry-After and the circuit breaker (a hypothesis state machine)."""

from __future__ import annotations

import random

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from perfectmatch.adapters.clock import FakeClock
from perfectmatch.ai.resilience import (
    BreakerState,
    CircuitBreaker,
    Deadline,
    LimitWaitTooLong,
    RetryPolicy,
    call_with_retries,
)
from perfectmatch.errors import AnalysisParseError, CircuitOpenError, ProviderError, ProviderRateLimited


class FakeTime:
    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.t += s


def failing(errors: list[Exception], result: str = "ok"):
    calls: list[float] = []

    def fn(timeout: float) -> str:
        calls.append(timeout)
        if errors:
            raise errors.pop(0)
        return result

    return fn, calls


def test_retries_until_success_with_growing_backoff() -> None:
    ft = FakeTime()
    fn, calls = failing([ProviderError("x", "500"), ProviderError("x", "503")])
    out = call_with_retries(fn, policy=RetryPolicy(max_attempts=3, backoff_base_s=1, jitter=0), deadline=Deadline(
        60, monotonic=ft.monotonic), sleep=ft.sleep, rng=random.Random(0))
    assert out == "ok" and len(calls) == 3 and ft.sleeps == [1, 2]


def test_attempts_are_capped() -> None:
    ft = FakeTime()
    fn, calls = failing([ProviderError("x", "500")] * 10)
    with pytest.raises(ProviderError):
        call_with_retries(fn, policy=RetryPolicy(max_attempts=4, backoff_base_s=0.1), deadline=Deadline(
            600, monotonic=ft.monotonic), sleep=ft.sleep, max_attempts=2)
    assert len(calls) == 2


def test_retry_after_is_honoured() -> None:
    ft = FakeTime()
    fn, _ = failing([ProviderRateLimited("x", "429", retry_after_s=7.0)])
    call_with_retries(fn, policy=RetryPolicy(backoff_base_s=0.1), deadline=Deadline(60, monotonic=ft.monotonic),
                      sleep=ft.sleep)
    assert 7.0 <= ft.sleeps[0] < 7.1


def test_no_sleep_past_the_deadline_and_reserve_is_kept() -> None:
    ft = FakeTime()
    fn, calls = failing([ProviderRateLimited("x", "429", retry_after_s=30.0)] * 5)
    with pytest.raises(ProviderRateLimited):
        call_with_retries(fn, policy=RetryPolicy(), deadline=Deadline(40, monotonic=ft.monotonic), reserve_s=15,
                          sleep=ft.sleep, timeout_s=15)
    assert len(calls) == 1 and ft.sleeps == [] and calls[0] == 15


def test_attempt_timeout_shrinks_with_the_deadline() -> None:
    ft = FakeTime()

    def slow(timeout: float) -> str:
        ft.t += timeout
        raise ProviderError("x", "timeout")

    seen: list[float] = []

    def fn(timeout: float) -> str:
        seen.append(timeout)
        return slow(timeout)

    with pytest.raises(ProviderError):
        call_with_retries(fn, policy=RetryPolicy(max_attempts=5, backoff_base_s=1, jitter=0),
                          deadline=Deadline(25, monotonic=ft.monotonic), reserve_s=5, sleep=ft.sleep, timeout_s=15)
    assert seen[0] == 15 and seen[1] == pytest.approx(4) and ft.t <= 20


def test_parse_errors_are_not_retried_and_open_breaker_refuses() -> None:
    ft = FakeTime()
    fn, calls = failing([AnalysisParseError("bad")])
    with pytest.raises(AnalysisParseError):
        call_with_retries(fn, policy=RetryPolicy(), deadline=Deadline(60, monotonic=ft.monotonic), sleep=ft.sleep)
    assert len(calls) == 1
    clock = FakeClock()
    br = CircuitBreaker(clock, failure_threshold=1)
    br.record_failure()
    fn2, calls2 = failing([])
    with pytest.raises(CircuitOpenError):
        call_with_retries(fn2, policy=RetryPolicy(), deadline=Deadline(60, monotonic=ft.monotonic), breaker=br)
    assert calls2 == [] and br.refused == 1


class BreakerMachine(RuleBasedStateMachine):
    """The breaker against a simple model: consecutive failures, open window, one half-open trial."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.br = CircuitBreaker(self.clock, failure_threshold=3, reset_timeout_s=10)
        self.failures = 0
        self.open_since: float | None = None
        self.trial = False
        self.elapsed = 0.0

    def _model_allows(self) -> bool:
        if self.open_since is None:
            return True
        return self.elapsed - self.open_since >= 10 and not self.trial

    @rule(seconds=st.floats(0, 15))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.elapsed += seconds

    @rule(ok=st.booleans())
    def call(self, ok: bool) -> None:
        expected = self._model_allows()
        assert self.br.allow() is expected
        if not expected:
            return
        if self.open_since is not None:
            self.trial = True
        if ok:
            self.br.record_success()
            self.failures, self.open_since, self.trial = 0, None, False
        else:
            self.br.record_failure()
            self.failures += 1
            if self.trial or self.failures >= 3:
                self.open_since, self.trial = self.elapsed, False

    @precondition(lambda self: self.open_since is not None)
    @rule()
    def refused_while_open(self) -> None:
        if self.elapsed - self.open_since < 10:
            before = self.br.refused
            assert not self.br.allow()
            assert self.br.refused == before + 1

    @invariant()
    def state_matches(self) -> None:
        if self.open_since is None:
            assert self.br.state is BreakerState.CLOSED
        elif self.elapsed - self.open_since < 10:
            assert self.br.state is BreakerState.OPEN
        else:
            assert self.br.state is BreakerState.HALF_OPEN


BreakerMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
TestBreaker = BreakerMachine.TestCase


def test_every_attempt_passes_the_rate_limit_gate_before_the_breaker() -> None:
    ft = FakeTime()
    gates: list[float] = []
    fn, calls = failing([ProviderError("x", "500"), ProviderError("x", "500")])
    call_with_retries(fn, policy=RetryPolicy(backoff_base_s=0.1), deadline=Deadline(60, monotonic=ft.monotonic),
                      sleep=ft.sleep, acquire=lambda wait: gates.append(wait) or True)
    assert len(gates) == len(calls) == 3
    br = CircuitBreaker(FakeClock(), failure_threshold=1)
    br.record_failure()
    with pytest.raises(LimitWaitTooLong):
        call_with_retries(fn, policy=RetryPolicy(), deadline=Deadline(60, monotonic=ft.monotonic), breaker=br,
                          acquire=lambda wait: False)
    assert br.refused == 0 and len(calls) == 3


def test_client_errors_are_not_retried() -> None:
    ft = FakeTime()
    fn, calls = failing([ProviderError("x", "HTTP 400", status=400)])
    with pytest.raises(ProviderError):
        call_with_retries(fn, policy=RetryPolicy(), deadline=Deadline(60, monotonic=ft.monotonic), sleep=ft.sleep)
    assert len(calls) == 1
    fn, calls = failing([ProviderError("x", "HTTP 409", status=409), ProviderError("x", "conn")])
    assert call_with_retries(fn, policy=RetryPolicy(), deadline=Deadline(60, monotonic=ft.monotonic),
                             sleep=ft.sleep) == "ok"
    assert len(calls) == 3

"""Failure-rate routing with probing back, rate limits and cost accounting."""

from __future__ import annotations

from perfectmatch.adapters.clock import FakeClock
from perfectmatch.ai.accounting import Accounting, Price
from perfectmatch.ai.limits import RateLimiter
from perfectmatch.ai.routing import FailureRateRouter


def test_router_switches_above_threshold_and_probes_back() -> None:
    clock = FakeClock()
    r = FailureRateRouter("openai", "deepseek", clock, window=20, threshold=0.10, min_samples=10, probe_interval_s=30)
    for _ in range(9):
        r.record("openai", True)
    assert r.order() == ["openai", "deepseek"]
    r.record("openai", False)  # 1/10 = 10 %: not above
    assert not r.switched
    r.record("openai", False)  # 2/11 > 10 %
    assert r.switched and r.order() == ["deepseek", "openai"]
    r.record("deepseek", False)  # backup outcomes never move the router
    clock.advance(31)
    assert r.order() == ["openai", "deepseek"] and r.probes == 1  # the probe
    assert r.order() == ["deepseek", "openai"]  # only one probe per interval
    r.record("openai", False)  # failed probe: stay switched
    assert r.switched
    clock.advance(31)
    r.order()
    r.record("openai", True)
    assert not r.switched and r.failure_rate() == 0.0 and r.switches == 1


def test_router_without_backup_always_uses_primary() -> None:
    r = FailureRateRouter("openai", None, FakeClock())
    for _ in range(30):
        r.record("openai", False)
    assert r.order() == ["openai"]


class FakeTime:
    def __init__(self) -> None:
        self.t = 0.0

    def monotonic(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


def test_rpm_limit_paces_requests() -> None:
    ft = FakeTime()
    lim = RateLimiter(rpm=60, burst_s=1, monotonic=ft.monotonic, sleep=ft.sleep)
    for _ in range(11):
        assert lim.acquire()
    assert 9.9 <= ft.t <= 10.1  # one per second after the first


def test_tpm_limit_and_max_wait() -> None:
    ft = FakeTime()
    lim = RateLimiter(tpm=6000, burst_s=1, monotonic=ft.monotonic, sleep=ft.sleep)  # 100 tokens/s
    assert lim.acquire(100)
    assert not lim.acquire(100, max_wait_s=0.5)
    assert ft.t < 0.5
    assert lim.acquire(100, max_wait_s=2)
    assert lim.acquire(10_000)  # bigger than the bucket: goes when the bucket is full


def test_cost_and_budget() -> None:
    acc = Accounting({"m": Price(0.0005, 0.0015)}, budget_usd=0.01)
    acc.record_call("match_analysis", "openai", model="m", ok=True, prompt_tokens=4000, completion_tokens=2000)
    assert abs(acc.spent_usd - 0.005) < 1e-12 and not acc.is_budget_exhausted()
    acc.record_call("match_analysis", "openai", model="m", ok=False)
    acc.record_call("profile_analysis", "deepseek", model="m", ok=True, prompt_tokens=10_000)
    assert acc.is_budget_exhausted()
    s = acc.summary("openai")
    assert s.usage["match_analysis"]["openai"]["failures"] == 1 and s.total_requests == 3
    assert 'perfectmatch_ai_requests_total{type="match_analysis",provider="openai"} 2' in acc.metrics_text()


def test_paced_limiter_never_exceeds_rpm_in_any_minute() -> None:
    ft = FakeTime()
    lim = RateLimiter(rpm=600, monotonic=ft.monotonic, sleep=ft.sleep)
    stamps = []
    for i in range(1500):
        lim.acquire()
        stamps.append(ft.t)
        ft.t += (i % 7) * 0.03  # callers arrive unevenly
    j = 0
    for i, t in enumerate(stamps):
        while stamps[j] <= t - 60:
            j += 1
        assert i - j + 1 <= 601
    eager = RateLimiter(rpm=600, monotonic=ft.monotonic, sleep=ft.sleep)
    start = ft.t
    for _ in range(601):
        eager.acquire()
    assert 59.9 <= ft.t - start <= 60.1  # an eager caller gets the whole limit, evenly paced


def test_dated_model_names_use_their_family_price() -> None:
    acc = Accounting({"gpt-4o": Price(1, 1), "gpt-4o-mini": Price(0.1, 0.1)})
    assert acc.cost("gpt-4o-mini-2024-07-18", 1000, 0) == 0.1
    assert acc.cost("gpt-4o-2024-08-06", 1000, 0) == 1
    assert acc.cost("other", 1000, 1000) == 0.0

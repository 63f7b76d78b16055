"""Token and cost accounting per request type and provider, the per-run budget, and a run summary."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Price:
    """US dollars per 1,000 prompt and completion tokens."""

    prompt_per_1k: float
    completion_per_1k: float


@dataclass
class UsageRow:
    """Totals for one (request type, provider) cell."""

    requests: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0


@dataclass(frozen=True)
class RunSummary:
    """What a run used: calls, tokens and cost per type and provider, results per source, limits hit."""

    provider: str
    usage: dict[str, dict[str, dict[str, float]]]
    results_by_source: dict[str, int]
    total_requests: int
    total_prompt_tokens: int
    total_completion_tokens: int
    total_cost_usd: float
    budget_usd: float | None
    budget_exhausted: bool
    breaker_refusals: dict[str, int] = field(default_factory=dict)
    router_switches: int = 0


class Accounting:
    """Thread-safe counters of one run; ``budget_usd`` stops spending once reached (``None``: no cap).

    Parameters
    ----------
    prices
        Model name -> ``Price``; models not listed cost nothing in the estimate.
    """

    def __init__(self, prices: Mapping[str, Price] | None = None, *, budget_usd: float | None = None) -> None:
        self.prices = dict(prices or {})
        self.budget_usd = budget_usd
        self._rows: dict[tuple[str, str], UsageRow] = {}
        self.results = Counter[str]()
        self._lock = threading.Lock()

    def price_of(self, model: str) -> Price | None:
        """The price of ``model``, or of the longest listed name it starts with (``gpt-4o-mini-2024-07-18``)."""
        if model in self.prices:
            return self.prices[model]
        best = max((name for name in self.prices if model.startswith(name)), key=len, default=None)
        return self.prices[best] if best is not None else None

    def reset(self) -> None:
        """Start a new run: zero every counter (the budget applies per run)."""
        with self._lock:
            self._rows.clear()
            self.results.clear()

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        """Estimated US dollars of one call; unknown models cost 0 in the estimate."""
        price = self.price_of(model)
        if price is None:
            return 0.0
        return prompt_tokens / 1000 * price.prompt_per_1k + completion_tokens / 1000 * price.completion_per_1k

    def record_call(
        self,
        request_type: str,
        provider: str,
        *,
        model: str = "",
        ok: bool,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        latency_s: float = 0.0,
    ) -> None:
        """Count one API call (successful or not) with the tokens the provider reported."""
        with self._lock:
            row = self._rows.setdefault((request_type, provider), UsageRow())
            row.requests += 1
            row.failures += 0 if ok else 1
            row.prompt_tokens += prompt_tokens
            row.completion_tokens += completion_tokens
            row.cost_usd += self.cost(model, prompt_tokens, completion_tokens)
            row.latency_s += latency_s

    def record_results(self, source: str, n: int = 1) -> None:
        """Count ``n`` delivered results made by ``source`` (``openai``, ``deepseek``, ``cache``, ``fallback``)."""
        with self._lock:
            self.results[source] += n

    @property
    def spent_usd(self) -> float:
        with self._lock:
            return sum(r.cost_usd for r in self._rows.values())

    def calls(self, provider: str | None = None) -> int:
        with self._lock:
            return sum(r.requests for (_, p), r in self._rows.items() if provider is None or p == provider)

    def is_budget_exhausted(self) -> bool:
        return self.budget_usd is not None and self.spent_usd >= self.budget_usd

    def summary(self, provider: str = "", **extra: object) -> RunSummary:
        """The run so far as a ``RunSummary`` (``extra`` fills breaker/router fields)."""
        with self._lock:
            usage: dict[str, dict[str, dict[str, float]]] = {}
            for (rtype, prov), r in sorted(self._rows.items()):
                usage.setdefault(rtype, {})[prov] = {
                    "requests": r.requests,
                    "failures": r.failures,
                    "prompt_tokens": r.prompt_tokens,
                    "completion_tokens": r.completion_tokens,
                    "cost_usd": round(r.cost_usd, 6),
                    "mean_latency_s": round(r.latency_s / r.requests, 4) if r.requests else 0.0,
                }
            rows = list(self._rows.values())
            results = dict(self.results)
        cost = sum(r.cost_usd for r in rows)
        return RunSummary(
            provider=provider,
            usage=usage,
            results_by_source=results,
            total_requests=sum(r.requests for r in rows),
            total_prompt_tokens=sum(r.prompt_tokens for r in rows),
            total_completion_tokens=sum(r.completion_tokens for r in rows),
            total_cost_usd=round(cost, 6),
            budget_usd=self.budget_usd,
            budget_exhausted=self.budget_usd is not None and cost >= self.budget_usd,
            **extra,  # type: ignore[arg-type]
        )

    def metrics_text(self) -> str:
        """The counters in Prometheus text exposition format."""
        lines = [
            "# TYPE perfectmatch_ai_requests_total counter",
            "# TYPE perfectmatch_ai_failures_total counter",
            "# TYPE perfectmatch_ai_tokens_total counter",
            "# TYPE perfectmatch_ai_cost_usd_total counter",
            "# TYPE perfectmatch_ai_results_total counter",
        ]
        with self._lock:
            for (rtype, prov), r in sorted(self._rows.items()):
                lab = f'type="{rtype}",provider="{prov}"'
                lines.append(f"perfectmatch_ai_requests_total{{{lab}}} {r.requests}")
                lines.append(f"perfectmatch_ai_failures_total{{{lab}}} {r.failures}")
                lines.append(f'perfectmatch_ai_tokens_total{{{lab},kind="prompt"}} {r.prompt_tokens}')
                lines.append(f'perfectmatch_ai_tokens_total{{{lab},kind="completion"}} {r.completion_tokens}')
                lines.append(f"perfectmatch_ai_cost_usd_total{{{lab}}} {r.cost_usd:.6f}")
            for source, n in sorted(self.results.items()):
                lines.append(f'perfectmatch_ai_results_total{{source="{source}"}} {n}')
        return "\n".join(lines) + "\n"

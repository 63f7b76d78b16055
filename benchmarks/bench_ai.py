"""AI stage throughput against the fake server: share of the requests-per-minute limit reached, tokens and cost.

    python benchmarks/bench_ai.py --seconds 30 --latency-ms 200 --rpm 600 [--json]

Starts a ``FakeOpenAIServer`` with the given latency, builds the analyzer with ``openai_rpm``
set to the limit and analyses enough synthetic pairs to keep it busy for about ``--seconds``.
Prints one row: requests, steady-state rate (requests/minute between the first and the last
request), its share of the limit, and prompt/completion tokens and estimated cost per
1,000 analysed pairs and per 1,000 delivered matches (score >= --min-score).
"""

from __future__ import annotations

import argparse
import json
import time

from perfectmatch.adapters.clock import SystemClock
from perfectmatch.adapters.llm import client_for
from perfectmatch.ai import build_analyzer
from perfectmatch.ai.fake_server import FakeOpenAIServer
from perfectmatch.config import AISettings
from perfectmatch.ports import PairContext

DIMS = ("CV", "CS", "RC", "LC", "EI")


def synthetic_pairs(n: int) -> list[PairContext]:
    """Seeded plausible pairs: questionnaire-like answers and similarities varying per pair."""
    pairs = []
    for i in range(n):
        sims = {d: round(0.35 + ((i * 7 + k * 13) % 64) / 100, 3) for k, d in enumerate(DIMS)}
        a = {"goal": ["serious", "casual"][i % 2], "hobbies": ["hiking", "cooking", "books"][: 1 + i % 3],
             "kids": i % 3, "about": f"I enjoy long walks and good coffee, answer {i}"}
        b = {"goal": ["serious", "casual"][(i // 2) % 2], "hobbies": ["cooking", "films"], "kids": (i + 1) % 3,
             "about": f"Looking for someone kind, answer {i * 31 % 997}"}
        pairs.append(PairContext(f"b{i}", i, 10**6 + i, a, b, sims, sum(sims.values()) / len(sims)))
    return pairs


def run(seconds: float, latency_ms: float, rpm: int, batch_size: int, concurrency: int, min_score: float) -> dict:
    n_requests = max(5, int(seconds * rpm / 60))
    pairs = synthetic_pairs(n_requests * batch_size)
    with FakeOpenAIServer(latency_s=latency_ms / 1000) as srv:
        settings = AISettings(openai_api_key="bench", openai_base_url=srv.base_url, openai_rpm=rpm, openai_tpm=0,
                              batch_size=batch_size, concurrency=concurrency)
        analyzer = build_analyzer(settings, clock=SystemClock(), environ={}, make_client=client_for)
        t0 = time.perf_counter()
        results = analyzer.analyze(pairs)
        elapsed = time.perf_counter() - t0
        arrivals = sorted(srv.arrivals)
    steady = arrivals[1:]  # the limiter paces evenly after the first request
    steady_rpm = (len(steady) - 1) / (steady[-1] - steady[0]) * 60 if len(steady) > 2 else float("nan")
    summary = analyzer.summary()
    delivered = sum(1 for r in results if r.score >= min_score)
    per_pair = 1000 / len(results)
    per_match = 1000 / delivered if delivered else float("nan")
    return {
        "pairs": len(results),
        "requests": len(arrivals),
        "elapsed_s": round(elapsed, 2),
        "latency_ms": latency_ms,
        "rpm_limit": rpm,
        "steady_rpm": round(steady_rpm, 1),
        "share_of_limit": round(steady_rpm / rpm, 3),
        "overall_rpm": round(len(arrivals) / elapsed * 60, 1),
        "sources": summary.results_by_source,
        "delivered_matches": delivered,
        "prompt_tokens_per_1k_pairs": round(summary.total_prompt_tokens * per_pair),
        "completion_tokens_per_1k_pairs": round(summary.total_completion_tokens * per_pair),
        "tokens_per_1k_matches": round((summary.total_prompt_tokens + summary.total_completion_tokens) * per_match),
        "cost_usd_per_1k_matches": round(summary.total_cost_usd * per_match, 4),
        "model": settings.openai_model,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--latency-ms", type=float, default=200.0)
    ap.add_argument("--rpm", type=int, default=600)
    ap.add_argument("--batch-size", type=int, default=50)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--min-score", type=float, default=70.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    row = run(args.seconds, args.latency_ms, args.rpm, args.batch_size, args.concurrency, args.min_score)
    if args.json:
        print(json.dumps(row, indent=2))
        return
    cols = ["pairs", "requests", "elapsed_s", "rpm_limit", "steady_rpm", "share_of_limit", "delivered_matches",
            "tokens_per_1k_matches", "cost_usd_per_1k_matches"]
    print(" ".join(cols))
    print(" ".join(str(row[c]) for c in cols))


if __name__ == "__main__":
    main()

"""The Prometheus exposition: batch stage durations, AI counters, latency histogram, cache hit ratio."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from perfectmatch.ai import build_analyzer
from perfectmatch.config import AISettings
from perfectmatch.ops.metrics import OpsMetrics
from perfectmatch.pipeline import BatchReport


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def report(status: str = "done") -> BatchReport:
    return BatchReport(day=date(2026, 11, 25), status=status, mode="exact", ai="local",
                       counts={"matches": 42, "analysed_by": {"openai": 30, "cache": 10}},
                       stage_seconds={"load": 0.2, "analysis": 12.5})


def test_batch_report_is_exposed() -> None:
    m = OpsMetrics()
    m.record_batch(report())
    m.record_batch(report("already_done"))
    s = samples(m.text())
    assert s[("perfectmatch_batch_stage_seconds", (("stage", "analysis"),))] == 12.5
    # the histogram counts real runs only: an already-done report repeats known durations
    assert s[("perfectmatch_batch_stage_duration_seconds_count", (("stage", "analysis"),))] == 1
    assert s[("perfectmatch_batch_stage_duration_seconds_bucket", (("le", "30.0"), ("stage", "analysis")))] == 1
    assert s[("perfectmatch_batch_stage_duration_seconds_bucket", (("le", "10.0"), ("stage", "analysis")))] == 0
    assert s[("perfectmatch_batch_matches", ())] == 42
    assert s[("perfectmatch_batch_pairs_analysed", (("source", "cache"),))] == 10
    assert s[("perfectmatch_batch_ai_cache_hit_ratio", ())] == 0.25
    assert s[("perfectmatch_batch_runs_total", (("mode", "exact"), ("status", "done")))] == 1
    assert s[("perfectmatch_batch_last_day_timestamp_seconds", ())] == 1795564800.0


def test_ai_counters_latency_and_cache_ratio() -> None:
    analyzer = build_analyzer(AISettings(provider="local"))
    m = OpsMetrics()
    m.watch_analyzer(analyzer)
    acc = analyzer.accounting
    acc.record_call("pair_analysis", "openai", model="gpt-4o-mini", ok=True, prompt_tokens=100,
                    completion_tokens=50, latency_s=0.3)
    acc.record_call("pair_analysis", "openai", model="gpt-4o-mini", ok=False, latency_s=3.0)
    acc.record_results("openai", 3)
    acc.record_results("cache", 1)
    s = samples(m.text())
    lab = (("provider", "openai"), ("type", "pair_analysis"))
    assert s[("perfectmatch_ai_requests_total", lab)] == 2
    assert s[("perfectmatch_ai_failures_total", lab)] == 1
    assert s[("perfectmatch_ai_tokens_total", (("kind", "prompt"), *lab))] == 100
    assert s[("perfectmatch_ai_results_total", (("source", "cache"),))] == 1
    assert s[("perfectmatch_ai_cache_hit_ratio", ())] == 0.25
    ok = (("outcome", "ok"), *lab)
    err = (("outcome", "error"), *lab)
    assert s[("perfectmatch_ai_request_latency_seconds_count", ok)] == 1
    assert s[("perfectmatch_ai_request_latency_seconds_bucket", (("le", "0.5"), *ok))] == 1
    assert s[("perfectmatch_ai_request_latency_seconds_bucket", (("le", "2.0"), *err))] == 0
    assert s[("perfectmatch_ai_request_latency_seconds_sum", err)] == 3.0


def test_textfile_is_written_atomically(tmp_path: Path) -> None:
    m = OpsMetrics()
    m.record_batch(report())
    out = m.write_textfile(tmp_path / "pm.prom")
    assert out.read_text() == m.text()
    assert [p.name for p in tmp_path.iterdir()] == ["pm.prom"]  # no temp file left behind


def test_serve_answers_metrics_over_http() -> None:
    import httpx

    m = OpsMetrics()
    m.record_batch(report())
    server, _thread = m.serve(0)
    try:
        body = httpx.get(f"http://127.0.0.1:{server.server_port}/metrics", timeout=5).text
        assert 'perfectmatch_batch_stage_seconds{stage="load"} 0.2' in body
    finally:
        server.shutdown()
        server.server_close()

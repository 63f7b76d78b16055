"""Prometheus metrics: batch stage durations, AI calls, latency, tokens, cost and cache hit ratio.

``OpsMetrics`` owns one ``CollectorRegistry`` (never the process-global one, so tests and several
apps in one process do not collide). Batch reports are pushed in with ``record_batch``; the AI
analyzer is read at scrape time (its ``summary()``), and per-call latencies are observed into a
histogram by ``instrument_ai`` (p50/p90/p99 derivable with ``histogram_quantile``). The registry is
exported over HTTP (``serve``) or as a node-exporter textfile (``write_textfile``, atomic).

Notification outcomes per channel (``watch_notifications``) and webhook deliveries and signature
failures (``observe_webhook``) are counted in the process that handles them; ``watch_database``
adds counts read from the database at scrape time (audit events by kind, stored notifications), so
``perfectmatch metrics serve`` also sees what other processes recorded.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

STAGE_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600)
AI_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60)


class AnalyzerCollector(Collector):
    """Reads an analyzer's cumulative ``summary()`` on every scrape (calls, failures, tokens, cost)."""

    def __init__(self, analyzer: Any) -> None:
        self.analyzer = analyzer

    def collect(self) -> Iterator[Any]:
        summary = self.analyzer.summary()
        requests = CounterMetricFamily("perfectmatch_ai_requests", "AI API calls", labels=["type", "provider"])
        failures = CounterMetricFamily("perfectmatch_ai_failures", "AI API calls that failed",
                                       labels=["type", "provider"])
        tokens = CounterMetricFamily("perfectmatch_ai_tokens", "tokens reported by the provider",
                                     labels=["type", "provider", "kind"])
        cost = CounterMetricFamily("perfectmatch_ai_cost_usd", "estimated spend in US dollars",
                                   labels=["type", "provider"])
        for rtype, by_provider in sorted(summary.usage.items()):
            for provider, row in sorted(by_provider.items()):
                requests.add_metric([rtype, provider], row["requests"])
                failures.add_metric([rtype, provider], row["failures"])
                tokens.add_metric([rtype, provider, "prompt"], row["prompt_tokens"])
                tokens.add_metric([rtype, provider, "completion"], row["completion_tokens"])
                cost.add_metric([rtype, provider], row["cost_usd"])
        results = CounterMetricFamily("perfectmatch_ai_results", "analyses delivered, by source",
                                      labels=["source"])
        for source, n in sorted(summary.results_by_source.items()):
            results.add_metric([source], n)
        total = sum(summary.results_by_source.values())
        ratio = GaugeMetricFamily("perfectmatch_ai_cache_hit_ratio",
                                  "share of delivered analyses answered from the cache")
        ratio.add_metric([], summary.results_by_source.get("cache", 0) / total if total else 0.0)
        refusals = CounterMetricFamily("perfectmatch_ai_breaker_refusals", "calls refused by an open breaker",
                                       labels=["provider"])
        for provider, n in sorted(summary.breaker_refusals.items()):
            refusals.add_metric([provider], n)
        yield from (requests, failures, tokens, cost, results, ratio, refusals)


class OpsMetrics:
    """The registry and the metrics this package maintains."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.stage_seconds = Gauge("perfectmatch_batch_stage_seconds", "duration of each stage in the last run",
                                   ["stage"], registry=r)
        self.stage_duration = Histogram("perfectmatch_batch_stage_duration_seconds",
                                        "stage durations over recorded runs", ["stage"], buckets=STAGE_BUCKETS,
                                        registry=r)
        self.batch_runs = Counter("perfectmatch_batch_runs", "batch runs recorded", ["status", "mode"], registry=r)
        self.batch_matches = Gauge("perfectmatch_batch_matches", "matches delivered by the last run", registry=r)
        self.batch_last_day = Gauge("perfectmatch_batch_last_day_timestamp_seconds",
                                    "the batch day of the last recorded run (UTC midnight)", registry=r)
        self.batch_analysed = Gauge("perfectmatch_batch_pairs_analysed",
                                    "pairs analysed by the last run, by source (provider, cache, fallback)",
                                    ["source"], registry=r)
        self.batch_cache_ratio = Gauge("perfectmatch_batch_ai_cache_hit_ratio",
                                       "share of the last run's analyses answered from the cache", registry=r)
        self.ai_latency = Histogram("perfectmatch_ai_request_latency_seconds", "AI API call latency",
                                    ["type", "provider", "outcome"], buckets=AI_LATENCY_BUCKETS, registry=r)
        self.notifications = Counter("perfectmatch_notifications", "notification outcomes, per channel "
                                     "(delivered, deferred, suppressed, failed)", ["channel", "outcome"], registry=r)
        self.webhooks = Counter("perfectmatch_webhook_events", "payment webhook deliveries by outcome",
                                ["outcome"], registry=r)
        self.webhook_signature_failures = Counter("perfectmatch_webhook_signature_failures",
                                                  "webhook deliveries whose signature check failed", registry=r)

    def record_batch(self, report: Any) -> None:
        """Record a ``pipeline.BatchReport``: stage durations, match count, day and status."""
        from datetime import UTC, datetime, time

        for stage, seconds in report.stage_seconds.items():
            self.stage_seconds.labels(stage).set(seconds)
            if report.status == "done":  # an already-done report repeats durations already counted
                self.stage_duration.labels(stage).observe(seconds)
        self.batch_runs.labels(report.status, report.mode).inc()
        self.batch_matches.set(float(report.counts.get("matches", 0)))
        self.batch_last_day.set(datetime.combine(report.day, time(0), tzinfo=UTC).timestamp())
        by_source = report.counts.get("analysed_by") or {}
        for source, n in by_source.items():
            self.batch_analysed.labels(source).set(float(n))
        total = sum(by_source.values())
        self.batch_cache_ratio.set(by_source.get("cache", 0) / total if total else 0.0)

    def watch_analyzer(self, analyzer: Any) -> None:
        """Export ``analyzer.summary()`` on every scrape and observe each call's latency from now on."""
        self.registry.register(AnalyzerCollector(analyzer))
        accounting = getattr(analyzer, "accounting", None)
        if accounting is not None:
            instrument_ai(accounting, self.ai_latency)

    def observe_notification(self, channel: str, outcome: str) -> None:
        """Count one notification outcome on one channel (``NotificationService(observe=...)``)."""
        self.notifications.labels(channel, outcome).inc()

    def watch_notifications(self, service: Any) -> None:
        """Count every outcome of ``service`` (a ``social.notify.NotificationService``) from now on."""
        previous = service.observe

        def observe(channel: str, outcome: str) -> None:
            self.observe_notification(channel, outcome)
            if previous is not None:
                previous(channel, outcome)

        service.observe = observe

    def observe_webhook(self, outcome: str) -> None:
        """Count one webhook delivery (``handle_webhook(observe=...)``); ``rejected`` is a failed signature."""
        self.webhooks.labels(outcome).inc()
        if outcome == "rejected":
            self.webhook_signature_failures.inc()

    def watch_database(self, engine: Any) -> None:
        """Export counts kept in the database at every scrape: audit events by kind (webhook signature
        failures included, whichever process saw them) and notifications by type and state."""
        self.registry.register(StoredEventsCollector(engine))

    def text(self) -> str:
        """The Prometheus text exposition of everything registered."""
        return generate_latest(self.registry).decode("utf-8")

    def write_textfile(self, path: Path | str) -> Path:
        """Write the exposition for node-exporter's textfile collector (temp file + rename)."""
        path = Path(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(self.text())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def serve(self, port: int, addr: str = "127.0.0.1") -> Any:
        """Serve ``/metrics`` on ``addr:port`` from a daemon thread; returns ``(server, thread)``."""
        from prometheus_client import start_http_server

        return start_http_server(port, addr=addr, registry=self.registry)


class StoredEventsCollector(Collector):
    """Counts read from the database on each scrape, so they cover every process that writes there."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Any]:
        from sqlalchemy import func, select

        from perfectmatch.adapters.storage.schema import audit_log, notifications

        events = CounterMetricFamily("perfectmatch_audit_events", "security events in the audit log, by kind",
                                     labels=["kind"])
        stored = GaugeMetricFamily("perfectmatch_notifications_stored", "stored notifications by type and state",
                                   labels=["type", "state"])
        with self.engine.connect() as conn:
            for kind, n in conn.execute(select(audit_log.c.kind, func.count()).group_by(audit_log.c.kind)):
                events.add_metric([kind], n)
            rows = conn.execute(select(notifications.c.type, notifications.c.delivered, func.count())
                                .group_by(notifications.c.type, notifications.c.delivered))
            for kind, delivered, n in rows:
                stored.add_metric([kind, "delivered" if delivered else "waiting"], n)
        yield from (events, stored)


def instrument_ai(accounting: Any, histogram: Histogram) -> None:
    """Observe every ``accounting.record_call`` latency into ``histogram`` (wraps that one instance)."""
    inner = accounting.record_call
    if getattr(inner, "_pm_instrumented", False):
        return

    def record_call(request_type: str, provider: str, *, ok: bool, latency_s: float = 0.0, **kw: Any) -> None:
        inner(request_type, provider, ok=ok, latency_s=latency_s, **kw)
        histogram.labels(request_type, provider, "ok" if ok else "error").observe(latency_s)

    record_call._pm_instrumented = True  # type: ignore[attr-defined]
    accounting.record_call = record_call


def stored_batch_reports(app: Any, limit: int = 1) -> list[Any]:
    """The most recent finished batch reports stored in the database (newest last)."""
    from sqlalchemy import select

    from perfectmatch.adapters.storage.schema import batch_runs
    from perfectmatch.pipeline import BatchReport

    with app.engine.connect() as conn:
        rows = conn.execute(select(batch_runs.c.summary).where(batch_runs.c.status == "done")
                            .order_by(batch_runs.c.day.desc()).limit(limit)).scalars().all()
    reports = []
    for summary in reversed(rows):
        report = BatchReport.from_stored(summary)
        report.status = "done"
        reports.append(report)
    return reports

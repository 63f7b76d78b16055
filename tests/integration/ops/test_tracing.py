"""OpenTelemetry spans around each batch stage (SDK in-memory exporter): one span per stage with the run
id, day, mode and the stage's counts; nothing when tracing is off; failed stages are marked as errors."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from perfectmatch.adapters.cache.memory import MemoryCache
from perfectmatch.adapters.clock import FakeClock
from perfectmatch.adapters.notify.basic import RecordingNotifier
from perfectmatch.batch_stages import STAGES
from perfectmatch.bootstrap import App, build_app
from perfectmatch.config import Settings
from perfectmatch.ops.tracing import batch_tracer
from perfectmatch.pipeline import run_daily_batch
from perfectmatch.populations.store import simulate_and_store

DAY = date(2026, 11, 25)
NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def traced_app(tmp_path: Path, template: Path, *, tracing: bool) -> tuple[App, InMemorySpanExporter]:
    tmp_path.mkdir(exist_ok=True)
    shutil.copy(template, tmp_path / "pm.db")
    clock = FakeClock(NOW)
    settings = Settings(
        _env_file=None,
        db_url=f"sqlite:///{tmp_path / 'pm.db'}",
        cache={"backend": "none"},
        tracing=tracing,
        matching={"ai_stage": False},
    )
    app = build_app(settings, clock=clock, cache=MemoryCache(clock), notifier=RecordingNotifier())
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app.extras["tracer"] = provider.get_tracer("test")
    simulate_and_store(app.uow, 150, 3, today=DAY)
    return app, exporter


def test_one_span_per_stage_with_run_attributes(tmp_path: Path, sqlite_template: Path) -> None:
    app, exporter = traced_app(tmp_path, sqlite_template, tracing=True)
    report = run_daily_batch(app, day=DAY)
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == [f"perfectmatch.batch.{stage}" for stage in STAGES]
    run_ids = {s.attributes["perfectmatch.run_id"] for s in spans}
    assert len(run_ids) == 1 and len(next(iter(run_ids))) == 32
    for stage, s in zip(STAGES, spans, strict=True):
        assert s.attributes["perfectmatch.batch.stage"] == stage
        assert s.attributes["perfectmatch.batch.day"] == "2026-11-25"
        assert s.attributes["perfectmatch.batch.mode"] == "exact"
        assert s.attributes["perfectmatch.batch.skipped"] is False
        assert s.status.status_code is not StatusCode.ERROR
    load = spans[0].attributes
    assert load["perfectmatch.batch.active_users"] == report.counts["active_users"] > 0
    store = next(s for s in spans if s.name == "perfectmatch.batch.store").attributes
    assert store["perfectmatch.batch.matches"] == report.counts["matches"]
    app.close()


def test_failed_stage_span_is_an_error_and_off_means_no_spans(
    tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, exporter = traced_app(tmp_path, sqlite_template, tracing=True)

    def boom(ctx: object) -> None:
        raise RuntimeError("vectors exploded")

    monkeypatch.setattr("perfectmatch.pipeline.vectors_stage", boom)
    with pytest.raises(RuntimeError):
        run_daily_batch(app, day=DAY)
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == ["perfectmatch.batch.load", "perfectmatch.batch.vectors"]
    assert spans[1].status.status_code is StatusCode.ERROR
    assert spans[1].events[0].name == "exception"
    app.close()
    monkeypatch.undo()

    off, exporter = traced_app(tmp_path / "off", sqlite_template, tracing=False)
    assert batch_tracer(off) is None
    run_daily_batch(off, day=DAY)
    assert exporter.get_finished_spans() == ()
    off.close()

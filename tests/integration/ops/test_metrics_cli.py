"""``perfectmatch metrics textfile`` after a real batch run on SQLite."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from perfectmatch.adapters.cache.memory import MemoryCache
from perfectmatch.adapters.clock import FakeClock
from perfectmatch.adapters.notify.basic import RecordingNotifier
from perfectmatch.ai.fake_server import FakeOpenAIServer
from perfectmatch.bootstrap import build_app
from perfectmatch.cli import app as cli_app
from perfectmatch.config import Settings
from perfectmatch.pipeline import run_daily_batch
from perfectmatch.populations.store import simulate_and_store

DAY = date(2026, 11, 25)


def test_textfile_exposes_the_last_stored_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'pm.db'}"
    clock = FakeClock(datetime(2026, 11, 25, 3, tzinfo=UTC))
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "DEEPSEEK_API_KEY", "DEEPSEEK_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    with FakeOpenAIServer() as fake:  # the batch analyses pairs over HTTP, as in production
        settings = Settings(_env_file=None, db_url=url, cache={"backend": "none"}, seed=1,
                            ai={"openai_api_key": "sk-fake", "openai_base_url": fake.base_url})
        app = build_app(settings, clock=clock, cache=MemoryCache(clock), notifier=RecordingNotifier())
        simulate_and_store(app.uow, 200, 5, today=DAY)
        report = run_daily_batch(app, day=DAY)
        app.close()
    assert report.counts["analysed_by"]
    monkeypatch.setenv("PERFECTMATCH_AI__PROVIDER", "local")
    monkeypatch.setenv("PERFECTMATCH_CACHE__BACKEND", "none")
    out = tmp_path / "pm.prom"
    res = CliRunner().invoke(cli_app, ["--db", url, "--json", "metrics", "textfile", str(out)])
    assert res.exit_code == 0, res.output
    text = out.read_text()
    for stage, seconds in report.stage_seconds.items():
        assert f'perfectmatch_batch_stage_seconds{{stage="{stage}"}} {float(seconds)}' in text
    assert f"perfectmatch_batch_matches {float(report.counts['matches'])}" in text
    for source, n in report.counts["analysed_by"].items():
        assert f'perfectmatch_batch_pairs_analysed{{source="{source}"}} {float(n)}' in text
    assert "# TYPE perfectmatch_ai_request_latency_seconds histogram" in text


def test_metrics_serve_answers_over_http(tmp_path: Path) -> None:
    import os
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PERFECTMATCH_AI__PROVIDER": "local", "PERFECTMATCH_CACHE__BACKEND": "none"}
    proc = subprocess.Popen([sys.executable, "-m", "perfectmatch", "--db", f"sqlite:///{tmp_path / 'pm.db'}",
                             "metrics", "serve", "--port", str(port)], env=env, stderr=subprocess.DEVNULL)
    try:
        body = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not body:
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            except httpx.TransportError:
                time.sleep(0.2)
        assert "# TYPE perfectmatch_batch_stage_seconds gauge" in body
        assert "# TYPE perfectmatch_ai_request_latency_seconds histogram" in body
    finally:
        proc.terminate()
        proc.wait(timeout=10)

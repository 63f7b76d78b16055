"""Population evaluation and the HTML run report on real simulated batches; the report is opened in
headless Chromium, which must render every plot."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from perfectmatch.adapters.cache.memory import MemoryCache
from perfectmatch.adapters.clock import FakeClock
from perfectmatch.adapters.notify.basic import RecordingNotifier
from perfectmatch.ai.fake_server import FakeOpenAIServer
from perfectmatch.bootstrap import App, build_app
from perfectmatch.cli import main
from perfectmatch.config import Settings
from perfectmatch.errors import NotFound
from perfectmatch.evaluation.population import evaluate_run
from perfectmatch.evaluation.report import PLOTS
from perfectmatch.models import Block
from perfectmatch.pipeline import run_daily_batch
from perfectmatch.populations.store import simulate_and_store

DAY = date(2026, 11, 25)
NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=10000",
    "--dump-dom",
)
# Test-only probe appended to a copy of the report (the report itself has no script): once the page
# has loaded, it writes one line per <img> — plot key, complete && naturalWidth > 0, size — into the DOM.
PROBE = """<script>window.addEventListener('load', function () {
  var lines = [];
  document.querySelectorAll('img').forEach(function (img) {
    lines.push((img.dataset.plot || '?') + ' ' + (img.complete && img.naturalWidth > 0) + ' '
               + img.naturalWidth + 'x' + img.naturalHeight);
  });
  var pre = document.createElement('pre'); pre.id = 'img-check'; pre.textContent = lines.join('\\n');
  document.body.appendChild(pre);
});</script>"""
BROKEN_IMG = '<img data-plot="broken-control" src="data:image/png;base64,AAAA">'


def make_app(url: str, **overrides: object) -> App:
    clock = FakeClock(NOW)
    settings = Settings(_env_file=None, db_url=url, cache={"backend": "none"}, seed=3, **overrides)
    return build_app(settings, clock=clock, cache=MemoryCache(clock), notifier=RecordingNotifier())


def simulate_and_run(url: str, users: int, **overrides: object) -> App:
    app = make_app(url, **overrides)
    simulate_and_store(app.uow, users, 11, today=DAY)
    run_daily_batch(app, day=DAY)
    return app


@pytest.fixture(scope="module")
def batch_db(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A SQLite database with 1,500 simulated users and the batch of ``DAY`` run on it."""
    path = tmp_path_factory.mktemp("report") / "pm.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    simulate_and_run(url, 1500).close()
    yield url


def test_every_delivered_pair_holds_both_ways_and_counts_agree(db_url: str) -> None:
    app = simulate_and_run(db_url, 800)
    try:
        r = evaluate_run(app, DAY.isoformat())
        with app.uow as uow:
            stored = uow.batch.run(DAY)["summary"]
        # then blocks: one made after the run (not the batch's fault), one older than the run (a violation)
        with app.uow as uow:
            first, second = sorted((m.user_a, m.user_b) for m in uow.batch.matches_on(DAY))[:2]
            uow.blocks.add(Block(blocker=first[1], blocked=first[0], created_at=NOW + timedelta(hours=1)))
            uow.blocks.add(Block(blocker=second[0], blocked=second[1], created_at=NOW - timedelta(days=1)))
            uow.commit()
        blocked = evaluate_run(app).mutual
    finally:
        app.close()
    assert r.matches == stored["matches"] > 1
    assert r.mutual.pairs == r.matches and r.mutual.share == 1.0 and r.mutual.violations == []
    assert {t.tier: t.deliveries for t in r.tiers} == stored["deliveries_by_tier"]
    assert all(t.over_cap == 0 and t.max <= t.cap for t in r.tiers)
    assert r.sources.counts == stored["match_sources"] and r.sources.fallback_share == 1.0  # no AI provider
    assert r.matched_users == sum(sum(t.per_user_counts[1:]) for t in r.tiers)
    assert 0 < r.coverage <= 1 and 0 <= r.exposure_gini <= 1
    assert r.score.count == r.distance_km.count == r.age_gap_years.count == r.matches
    assert r.score.quantiles["p0"] >= 70.0
    assert sum(r.distance_km.counts) == r.matches
    assert set(r.stage_seconds) == {"load", "vectors", "candidates", "analysis", "store", "cache", "notify"}
    assert blocked.violation_count == 1 and blocked.holding == r.matches - 1
    assert [(v.user_a, v.user_b, v.failed) for v in blocked.violations] == [(*second, ["blocked"])]


def test_cli_json_and_unknown_runs(batch_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", batch_db, "eval", "population", "--json"]) == 0  # latest run
    out = json.loads(capsys.readouterr().out)
    assert out["run_id"] == DAY.isoformat() and out["mutual"]["share"] == 1.0
    assert out["lorenz"][0] == [0.0, 0.0] and out["lorenz"][-1] == [1.0, 1.0] and len(out["lorenz"]) == 101
    assert {t["tier"] for t in out["tiers"]} == {"free", "premium"}
    assert main(["--db", batch_db, "eval", "population", "2026-11-24"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "Error: no batch run for 2026-11-24 (latest runs: 2026-11-25)"


def test_no_run_yet(db_url: str) -> None:
    app = make_app(db_url)
    try:
        with pytest.raises(NotFound, match="no batch run is stored yet"):
            evaluate_run(app)
    finally:
        app.close()


def _chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if path is None:
        pytest.fail(
            "chromium is required for the run-report test (apt-get install chromium; .ci/run does it)", pytrace=False
        )
    return path


def rendered_images(html_file: Path, tmp_path: Path) -> dict[str, tuple[bool, str]]:
    """Open ``html_file`` (plus the probe) in headless Chromium: per image key, (rendered, size)."""
    page = tmp_path / "probe.html"
    page.write_text(html_file.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    cmd = [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}", page.as_uri()]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    found = re.search(r'<pre id="img-check">(.*?)</pre>', done.stdout, re.S)
    assert found, f"chromium exited {done.returncode} without the probe's result: {done.stderr[-2000:]}"
    out = {}
    for line in found.group(1).strip().splitlines():
        key, ok, size = line.split()
        out[key] = (ok == "true", size)
    return out


def test_report_opens_in_a_headless_browser_with_every_plot(
    batch_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.html"
    assert main(["--db", batch_db, "report", DAY.isoformat(), "--out", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert "<script" not in html and not re.search(r'(src|href)="(https?:)?//', html)  # self-contained
    with_control = tmp_path / "with_control.html"
    with_control.write_text(html.replace("</body>", BROKEN_IMG + "</body>"), encoding="utf-8")
    images = rendered_images(with_control, tmp_path)
    assert images.pop("broken-control") == (False, "0x0")  # the probe does see a broken image
    assert set(images) == {key for key, _ in PLOTS}
    assert all(ok for ok, _ in images.values()), images
    for _, size in images.values():
        w, h = (int(x) for x in size.split("x"))
        assert w >= 400 and h >= 300


def test_ai_sources_and_cost_reach_the_report(tmp_path: Path, sqlite_template: Path) -> None:
    path = tmp_path / "ai.db"
    shutil.copy(sqlite_template, path)
    with FakeOpenAIServer() as fake:
        app = simulate_and_run(
            f"sqlite:///{path}", 400, ai={"openai_api_key": "sk-test", "openai_base_url": fake.base_url}
        )
        try:
            r = evaluate_run(app)
        finally:
            app.close()
    assert r.ai.usage_recorded and r.ai.requests > 0 and r.ai.prompt_tokens > 0 and r.ai.cost_usd > 0
    assert r.ai.pairs_analysed == sum(r.ai.analysed_by.values()) > 0
    assert r.sources.ai_share == pytest.approx(1.0 - r.sources.fallback_share)
    assert np.isclose(sum(r.sources.counts.values()), r.matches)


def test_missing_matplotlib_is_one_clear_line(
    batch_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # makes `import matplotlib.figure` fail
    assert main(["--db", batch_db, "report", DAY.isoformat(), "--out", str(tmp_path / "r.html")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "Error: the run report needs matplotlib: pip install 'perfectmatch[report]'"
    assert not (tmp_path / "r.html").exists()

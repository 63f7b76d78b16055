"""The daily batch on the Dask engine (a real local cluster of 2 worker processes) equals the local engine.

One seeded population over several metros is stored once and copied into two SQLite databases; the
batch runs with ``engine="local"`` in one and ``engine="dask"`` in the other, and the stored matches
(pairs, scores, tiers of both users) and the notifications sent must be identical.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import distributed  # noqa: F401  (the 'dask' extra is part of 'test': missing it must fail, not skip)
import pytest

from perfectmatch.adapters.cache.memory import MemoryCache
from perfectmatch.adapters.clock import FakeClock
from perfectmatch.adapters.notify.basic import RecordingNotifier
from perfectmatch.bootstrap import App, build_app
from perfectmatch.config import DaskSettings, Settings
from perfectmatch.errors import ConfigError
from perfectmatch.matching.distributed import dask_client
from perfectmatch.pipeline import run_daily_batch
from perfectmatch.populations.store import simulate_and_store

DAY = date(2026, 11, 25)
NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
N_USERS = 3000


def make_app(url: str, notifier: RecordingNotifier | None = None) -> App:
    clock = FakeClock(NOW)
    settings = Settings(_env_file=None, db_url=url, cache={"backend": "none"}, seed=3)
    return build_app(settings, clock=clock, cache=MemoryCache(clock), notifier=notifier or RecordingNotifier())


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("dask") / "template.db"
    app = make_app(f"sqlite:///{path}")
    report = simulate_and_store(app.uow, N_USERS, 17, today=DAY)
    app.close()
    assert len(report.summary["by_metro"]) >= 5  # several metros: partitions, halos and cuts all occur
    yield path


def outcome(app: App) -> tuple[list[tuple[Any, ...]], dict[int, int]]:
    with app.uow as uow:
        matches = uow.batch.matches_on(DAY)
        frame = uow.population.load(active_on=DAY)
    tier = {int(u): int(t) for u, t in zip(frame.ids, frame.tier, strict=True)}
    rows = sorted(
        (
            m.user_a,
            m.user_b,
            m.vector_score,
            m.ai_score,
            m.final_score,
            m.source.value,
            tier.get(m.user_a),
            tier.get(m.user_b),
        )
        for m in matches
    )
    return rows, tier


def run(template: Path, tmp_path: Path, name: str, **kwargs: Any) -> tuple[Any, list[tuple[Any, ...]], list]:
    path = tmp_path / f"{name}.db"
    shutil.copy(template, path)
    notifier = RecordingNotifier()
    app = make_app(f"sqlite:///{path}", notifier)
    report = run_daily_batch(app, day=DAY, **kwargs)
    rows, _ = outcome(app)
    app.close()
    notes = [(n.id, n.user_id, n.type, n.content) for n in notifier.sent]
    return report, rows, notes


def test_dask_engine_on_two_local_workers_equals_the_local_engine(template: Path, tmp_path: Path) -> None:
    local, local_rows, local_notes = run(template, tmp_path, "local", engine="local")
    dask, dask_rows, dask_notes = run(template, tmp_path, "dask", engine="dask", dask=DaskSettings(workers=2))
    assert local.counts["matches"] > 100 and local.counts["radius_expanded_users"] > 0
    assert dask.counts["engine"] == "dask" and local.counts["engine"] == "local"
    timings = dask.counts["dask"]
    assert (
        len(timings["worker_s"]) == 2
        and timings["owned_users"] == local.counts["active_users"] - local.counts["users_without_vector"]
    )
    assert dask_rows == local_rows  # same pairs, scores, sources and tiers
    assert dask_notes == local_notes
    for key in (
        "candidate_pairs",
        "users_with_candidates",
        "radius_expanded_users",
        "matches",
        "coverage",
        "exposure_gini",
        "deliveries_by_tier",
    ):
        assert dask.counts[key] == local.counts[key], key


def test_an_unreachable_scheduler_is_a_one_line_config_error() -> None:
    with (
        pytest.raises(ConfigError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9"),
        dask_client("tcp://127.0.0.1:9", timeout_s=1.0),
    ):
        pass


def test_a_scheduler_without_workers_is_a_config_error() -> None:
    from distributed import LocalCluster

    with (
        LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster,
        pytest.raises(ConfigError, match="has no workers"),
        dask_client(cluster.scheduler_address, timeout_s=1.0),
    ):
        pass

"""The daily batch end to end on real SQLite and PostgreSQL: invariants, idempotency, crash-resume."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from pathlib import Path

import numpy as np
import pytest

from perfectmatch.adapters.cache.memory import MemoryCache
from perfectmatch.adapters.clock import FakeClock
from perfectmatch.adapters.notify.basic import RecordingNotifier
from perfectmatch.bootstrap import App, build_app
from perfectmatch.config import Settings
from perfectmatch.errors import BatchLockedError
from perfectmatch.frame import TIERS, pair_keys
from perfectmatch.matching import prefilter
from perfectmatch.models import Block, NotificationPreferences, Tier
from perfectmatch.pipeline import run_daily_batch
from perfectmatch.populations.store import simulate_and_store

DAY = date(2026, 11, 25)
NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
N_USERS = 1500


def make_app(url: str, notifier: RecordingNotifier | None = None, **matching: object) -> App:
    clock = FakeClock(NOW)
    settings = Settings(_env_file=None, db_url=url, cache={"backend": "none"}, seed=3, matching=matching)
    return build_app(settings, clock=clock, cache=MemoryCache(clock), notifier=notifier or RecordingNotifier())


@pytest.fixture
def populated(db_url: str) -> Iterator[str]:
    app = make_app(db_url)
    simulate_and_store(app.uow, N_USERS, 11, today=DAY)
    app.close()
    yield db_url


def delivered(app: App) -> list[tuple[int, int, float]]:
    with app.uow as uow:
        return sorted((m.user_a, m.user_b, round(m.final_score, 3)) for m in uow.batch.matches_on(DAY))


def test_batch_delivers_valid_offers_once(populated: str) -> None:
    notifier = RecordingNotifier()
    app = make_app(populated, notifier, min_pool=0)  # no radius expansion: check the users' own radii
    report = run_daily_batch(app, day=DAY)
    assert report.status == "done" and report.counts["matches"] > 0
    with app.uow as uow:
        frame = uow.population.load(active_on=DAY)
        matches = uow.batch.matches_on(DAY)
    rules = prefilter.build_rules(frame, day=DAY)
    row = {int(u): i for i, u in enumerate(frame.ids)}
    i = np.array([row[m.user_a] for m in matches])
    j = np.array([row[m.user_b] for m in matches])
    # every delivered pair passes every prefilter both ways (own radii) and the 70 threshold
    assert prefilter.mutual_mask(frame, rules, i, j).all()
    assert min(m.final_score for m in matches) >= 70.0
    per_user = np.bincount(np.concatenate([i, j]), minlength=len(frame))
    caps = np.where(frame.tier == TIERS.index(Tier.PREMIUM), 50, 10)
    assert (per_user <= caps).all()
    # one notification per user with matches
    assert sorted(n.user_id for n in notifier.sent) == sorted(set(frame.ids[np.flatnonzero(per_user)].tolist()))
    # a second run of the same day changes nothing and sends nothing
    again = run_daily_batch(app, day=DAY)
    assert again.status == "already_done" and again.counts["matches"] == report.counts["matches"]
    assert len(notifier.sent) == len(set(n.id for n in notifier.sent))
    # the next day never re-delivers a pair
    app.clock.advance(86400)  # type: ignore[attr-defined]
    nxt = date(2026, 11, 26)
    report2 = run_daily_batch(app, day=nxt)
    with app.uow as uow:
        first = {(m.user_a, m.user_b) for m in uow.batch.matches_on(DAY)}
        second = {(m.user_a, m.user_b) for m in uow.batch.matches_on(nxt)}
    assert report2.counts["excluded_pairs"] == len(first)
    assert report2.counts["matches"] == len(second) and not first & second
    app.close()


class Crash(RuntimeError):
    pass


def test_crash_after_any_stage_then_rerun_equals_uninterrupted(tmp_path: Path, sqlite_template: Path) -> None:
    results = {}
    for name in ("uninterrupted", *("crash-" + s for s in ("load", "vectors", "candidates", "analysis", "store",
                                                           "cache", "notify"))):
        path = tmp_path / f"{name}.db"
        shutil.copy(sqlite_template, path)
        url = f"sqlite:///{path}"
        app = make_app(url)
        simulate_and_store(app.uow, 600, 5, today=DAY)
        notifier = RecordingNotifier()
        app = make_app(url, notifier)
        if name.startswith("crash-"):
            stage = name.removeprefix("crash-")

            def hook(done: str, stage: str = stage) -> None:
                if done == stage:
                    raise Crash(stage)

            with pytest.raises(Crash):
                run_daily_batch(app, day=DAY, after_stage=hook)
            app.clock.advance(3600)  # type: ignore[attr-defined]  # the dead run's lock goes stale
        report = run_daily_batch(app, day=DAY)
        assert report.status == "done"
        with app.uow as uow:
            analysed = len(uow.batch.insights_on(DAY))
        results[name] = (delivered(app), sorted(n.id for n in notifier.sent), analysed)
        app.close()
    base_matches, base_notes, base_analysed = results["uninterrupted"]
    assert base_matches
    for name, (matches, notes, analysed) in results.items():
        assert analysed == base_analysed, f"{name}: pairs were analysed again after resuming"
        assert matches == base_matches, name
        assert len(notes) == len(set(notes)), f"{name}: a notification was sent twice"
        # notifications sent before the crash plus after it are exactly the uninterrupted set
        assert set(notes) == set(base_notes), name


def test_rerun_after_notify_keeps_deferred_notes_waiting(populated: str) -> None:
    """A rerun of a day whose notify stage deferred some notes (quiet hours) sends nothing twice and
    leaves the deferred ones waiting for ``flush``, with the deferral an earlier attempt stored."""
    notifier = RecordingNotifier()
    app = make_app(populated, notifier)
    with app.uow as uow:
        quiet = [u.id for u in uow.users.where()][::4]
    for uid in quiet:  # 03:00 UTC is inside 01:00-07:00
        app.notification_service.set_preferences(
            NotificationPreferences(user_id=uid, quiet_start=time(1), quiet_end=time(7)))

    def crash(done: str) -> None:
        if done == "notify":
            raise Crash(done)

    with pytest.raises(Crash):
        run_daily_batch(app, day=DAY, after_stage=crash)
    sent = sorted(n.id for n in notifier.sent)
    with app.uow as uow:
        waiting = {n.id: n.content for n in uow.notifications.where(type="new_match") if not n.delivered}
    assert sent and waiting and all("_deferUntil" in c for c in waiting.values())
    app.clock.advance(3600)  # type: ignore[attr-defined]  # the dead run's lock goes stale; still quiet hours
    report = run_daily_batch(app, day=DAY)
    assert sorted(n.id for n in notifier.sent) == sent  # nothing sent again
    assert report.counts["notifications_deferred"] == len(waiting)
    with app.uow as uow:
        assert {n.id: n.content for n in uow.notifications.where(type="new_match") if not n.delivered} == waiting
    app.close()


def test_second_concurrent_run_is_refused(populated: str) -> None:
    app = make_app(populated)
    with app.uow as uow:
        uow.batch.acquire(DAY, "someone-else", NOW, stale_after_s=900)
        uow.commit()
    with pytest.raises(BatchLockedError):
        run_daily_batch(app, day=DAY)
    app.close()


def test_blocked_pair_is_never_offered(populated: str) -> None:
    app = make_app(populated)
    run_daily_batch(app, day=DAY)
    first = delivered(app)[0]
    with app.uow as uow:
        uow.blocks.add(Block(blocker=first[0], blocked=first[1], created_at=NOW))
        uow.commit()
        keys = uow.batch.excluded_pair_keys()
    assert pair_keys(np.array([first[0]]), np.array([first[1]]))[0] in keys
    app.close()


def test_approximate_mode_delivers_valid_offers(tmp_path: Path, sqlite_template: Path) -> None:
    path = tmp_path / "approx.db"
    shutil.copy(sqlite_template, path)
    app = make_app(f"sqlite:///{path}", min_pool=0)
    simulate_and_store(app.uow, 800, 9, today=DAY)
    report = run_daily_batch(app, day=DAY, mode="approx")
    assert report.mode == "approx" and report.counts["matches"] > 0
    with app.uow as uow:
        frame = uow.population.load(active_on=DAY)
        matches = uow.batch.matches_on(DAY)
    row = {int(u): i for i, u in enumerate(frame.ids)}
    i = np.array([row[m.user_a] for m in matches])
    j = np.array([row[m.user_b] for m in matches])
    assert prefilter.mutual_mask(frame, prefilter.build_rules(frame, day=DAY), i, j).all()
    app.close()


def test_vector_scores_on_threads_equal_one_thread(populated: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store stage scores candidate pairs in chunks on the engine's threads; each chunk writes its own
    slice, so two threads give the one-thread scores bit for bit."""
    from perfectmatch import batch_stages as stages
    from perfectmatch.ports import NO_PROGRESS

    monkeypatch.setattr(stages, "SCORE_CHUNK", 97)
    scores = []
    for workers in (1, 2):
        app = make_app(populated, workers=workers)
        ctx = stages.BatchContext(app=app, day=DAY, owner="test", mode="exact", done={}, progress=NO_PROGRESS)
        stages.load_stage(ctx)
        stages.vectors_stage(ctx)
        rng = np.random.default_rng(0)
        a, b = rng.integers(0, len(ctx.frame), 5000), rng.integers(0, len(ctx.frame), 5000)
        scores.append(stages._vector_scores(ctx, a, b))
        app.close()
    assert scores[0].tobytes() == scores[1].tobytes()
    assert np.isfinite(scores[0]).all()


def test_offers_point_at_their_own_pairs_insight_analysed_or_not(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With only some pairs analysed (every other shortlisted one), each offer points at the insight of
    its own pair: the analysis where there is one, else the fallback insight the store stage adds."""
    from perfectmatch import batch_stages
    from perfectmatch.ai.fake_server import FakeOpenAIServer

    half = batch_stages.shortlist
    monkeypatch.setattr(batch_stages, "shortlist", lambda ctx: half(ctx)[::2])
    monkeypatch.setattr(batch_stages, "STORE_CHUNK", 3)  # chunks cut through runs of both kinds
    with FakeOpenAIServer() as fake:
        clock = FakeClock(NOW)
        settings = Settings(_env_file=None, db_url=db_url, cache={"backend": "none"}, seed=3,
                            ai={"openai_api_key": "sk-test", "openai_base_url": fake.base_url})
        app = build_app(settings, clock=clock, cache=MemoryCache(clock), notifier=RecordingNotifier())
        try:
            simulate_and_store(app.uow, 400, 11, today=DAY)
            run_daily_batch(app, day=DAY)
            with app.uow as uow:
                matches = uow.batch.matches_on(DAY)
                insights = uow.batch.insights([m.insight_id for m in matches if m.insight_id])
        finally:
            app.close()
    assert {m.source.value for m in matches} >= {"vector", "llm"}  # both kinds side by side
    for m in matches:
        got = insights[m.insight_id]
        assert (got["user_a"], got["user_b"]) == (m.user_a, m.user_b)
        assert got["source"] == ("fallback" if m.source.value == "vector" else m.source.value)

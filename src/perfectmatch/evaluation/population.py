"""Population evaluation of one daily batch run, computed from what storage holds.

``evaluate_run(app, run_id)`` answers, for the batch of one day: who was reachable and who got
matches (coverage), how evenly matches were spread (exposure Gini and Lorenz curve), how many
matches each tier received against its daily cap, how far apart and how different in age matched
people are, whether every delivered pair respects both users' preferences (it must: 100 %), how
new users fared, and how many scores came from the AI versus the vector-only fallback. Everything
is set-based: one query per table, then numpy over the delivered pairs (no loop per match).

What is reconstructed and what is stored: the run's counts, timings, AI usage and the allocation's
own coverage/Gini (over users with an offerable pair) come from the run summary; the rest is
recomputed from the users and matches as stored now. Tiers are the users' current tiers and the
activity window is applied to the current "last seen" times, so an evaluation long after the run
may differ slightly from what the batch saw (a downgrade after the run can show as an over-cap user).
"""

from __future__ import annotations

import inspect
from dataclasses import replace
from datetime import date
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from perfectmatch.batch_stages import STAGES
from perfectmatch.errors import InvalidInputError, NotFound
from perfectmatch.frame import TIERS, PopulationFrame, day_number, pair_keys
from perfectmatch.matching import prefilter
from perfectmatch.matching.distribution import gini
from perfectmatch.models import ScoreSource, Tier

QUANTILES = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0)
LORENZ_POINTS = 101
MAX_VIOLATIONS_LISTED = 20
#: The largest factor radius expansion may apply to a user's own radius (``prefilter.expand_radii``).
MAX_EXPANSION_FACTOR = max(inspect.signature(prefilter.expand_radii).parameters["factors"].default)
FALLBACK_SOURCES = (ScoreSource.FALLBACK.value, ScoreSource.VECTOR.value)
AI_SOURCES = (ScoreSource.LLM.value, ScoreSource.CACHE.value)


# ------------------------------------------------------------------------------------------ models
class Distribution(BaseModel):
    """Summary of a sample: size, mean, quantiles (``"p50"`` ...) and a histogram (``edges`` has one
    more entry than ``counts``)."""

    count: int
    mean: float | None
    quantiles: dict[str, float]
    edges: list[float]
    counts: list[int]


class TierStats(BaseModel):
    """Matches per user of one tier on the run's day, against the tier's daily cap."""

    tier: str
    cap: int
    users: int = Field(description="matchable users of this tier (active, with a vector)")
    matched_users: int
    deliveries: int = Field(description="sum over users of their matches (a match counts for both sides)")
    mean: float
    p50: float
    p90: float
    max: int
    over_cap: int = Field(description="users with more matches than the cap (must be 0)")
    per_user_counts: list[int] = Field(description="per_user_counts[k] = users with exactly k matches")


class Violation(BaseModel):
    """A delivered pair whose mutual preferences do not hold, and which checks it fails."""

    user_a: int
    user_b: int
    failed: list[str]


class MutualCheck(BaseModel):
    """Whether every delivered pair passes both users' preferences (gender, age, goal, distance, and no
    block between them that existed before the run started).

    Distance is checked against each user's radius as widened by the batch's radius expansion at
    most (``min_pool > 0``: up to ``MAX_EXPANSION_FACTOR`` times, never beyond ``max_radius_km``
    unless the user's own radius is larger); ``own_radius_share`` is the stricter share within both
    users' own radii.
    """

    pairs: int
    holding: int
    share: float
    own_radius_share: float
    violations: list[Violation]
    violation_count: int


class NewUserStats(BaseModel):
    """Users in their first ``new_user_days`` on the run's day."""

    days: int
    users: int = Field(description="matchable new users")
    share_of_matchable: float
    share_of_matched: float = Field(description="share of users with a match who are new")
    coverage: float = Field(description="share of new users with at least one match")
    mean_matches: float
    mean_matches_others: float


class SourceStats(BaseModel):
    """Where the delivered matches' final scores came from."""

    counts: dict[str, int]
    ai_share: float = Field(description="scores with an AI analysis (llm or cache)")
    fallback_share: float = Field(description="scores from the local fallback or the vector score only")


class AIStats(BaseModel):
    """The run's AI stage as stored in its summary (usage absent for runs before it was recorded)."""

    description: str
    pairs_analysed: int
    analysed_by: dict[str, int]
    usage_recorded: bool
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float


class PopulationReport(BaseModel):
    """Population evaluation of one batch run (see the module docstring)."""

    run_id: str
    status: str
    mode: str
    assignment: str
    population_sources: dict[str, int] = Field(description="matchable users by import source")
    users_total: int
    active_users: int
    matchable_users: int = Field(description="active on the day, created by then, with a stored vector")
    matched_users: int
    matches: int
    coverage: float = Field(description="share of matchable users with at least one match")
    coverage_of_eligible: float | None = Field(description="the allocation's: users with an offerable pair")
    exposure_gini: float = Field(description="Gini of matches per matchable user (zeros included)")
    exposure_gini_of_eligible: float | None
    lorenz: list[tuple[float, float]] = Field(description="(population share, match share), poorest first")
    tiers: list[TierStats]
    score: Distribution
    distance_km: Distribution
    age_gap_years: Distribution
    mutual: MutualCheck
    new_users: NewUserStats
    sources: SourceStats
    ai: AIStats
    stage_seconds: dict[str, float]
    counts: dict[str, Any] = Field(description="the run's stored counts")


# ---------------------------------------------------------------------------------------- helpers
def lorenz_curve(values: np.ndarray, points: int = LORENZ_POINTS) -> list[tuple[float, float]]:
    """Lorenz curve of non-negative ``values`` at ``points`` evenly spaced population shares.

    The exact curve joins ``(k/n, share of the k smallest values)``; it is sampled by linear
    interpolation, which is exact at those knots. Empty or all-zero input gives the diagonal.
    """
    if points < 2:
        raise InvalidInputError(f"a Lorenz curve needs at least 2 points, got {points}")
    x = np.sort(np.asarray(values, dtype=np.float64))
    grid = np.linspace(0.0, 1.0, points)
    total = x.sum()
    if x.size == 0 or total <= 0:
        return [(float(g), float(g)) for g in grid]
    if x[0] < 0:
        raise InvalidInputError(f"Lorenz curve of negative values (smallest {x[0]})")
    pop = np.arange(x.size + 1) / x.size
    cum = np.concatenate([[0.0], np.cumsum(x)]) / total
    return [(round(float(g), 6), round(float(v), 6)) for g, v in zip(grid, np.interp(grid, pop, cum), strict=True)]


def describe(values: np.ndarray, edges: np.ndarray | int = 20) -> Distribution:
    """Count, mean, quantiles and histogram of ``values`` (``edges``: bin edges or a bin count)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        bins = np.asarray(edges, dtype=np.float64) if not isinstance(edges, int) else np.linspace(0.0, 1.0, edges + 1)
        return Distribution(count=0, mean=None, quantiles={}, edges=bins.tolist(), counts=[0] * (bins.size - 1))
    counts, bins = np.histogram(v, bins=edges)
    qs = np.quantile(v, QUANTILES)
    return Distribution(
        count=int(v.size),
        mean=round(float(v.mean()), 4),
        quantiles={f"p{round(q * 100):d}": round(float(x), 4) for q, x in zip(QUANTILES, qs, strict=True)},
        edges=[round(float(e), 4) for e in bins],
        counts=[int(c) for c in counts],
    )


def _share(num: float, den: float, empty: float = 1.0) -> float:
    return round(float(num) / float(den), 6) if den else empty


def parse_run_id(run_id: str | date | None) -> date | None:
    """A run id is the batch day (``YYYY-MM-DD``); ``None`` means the latest run."""
    if run_id is None or isinstance(run_id, date):
        return run_id
    try:
        return date.fromisoformat(run_id.strip())
    except ValueError:
        raise InvalidInputError(f"run id {run_id!r} is not a batch day (YYYY-MM-DD)") from None


def load_run(app: Any, run_id: str | date | None) -> dict[str, Any]:
    """The stored batch run of ``run_id`` (the latest when ``None``); ``NotFound`` naming what exists."""
    day = parse_run_id(run_id)
    with app.uow as uow:
        runs = uow.batch.runs()
    if not runs:
        raise NotFound("no batch run is stored yet; run `perfectmatch batch run` first")
    if day is None:
        return runs[0]
    for r in runs:
        if r["day"] == day:
            return r
    known = ", ".join(r["day"].isoformat() for r in runs[:5])
    raise NotFound(f"no batch run for {day.isoformat()} (latest runs: {known})")


def _match_columns(conn: Any, day: date) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(user_a, user_b, final_score, source)`` of the day's matches, as arrays (one query)."""
    from sqlalchemy import select

    from perfectmatch.adapters.storage import schema as s

    m = s.matches
    rows = conn.execute(select(m.c.user_a, m.c.user_b, m.c.final_score, m.c.source).where(m.c.day == day)).all()
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0, dtype=object)
    a, b, score, source = zip(*rows, strict=True)
    return (
        np.asarray(a, dtype=np.int64),
        np.asarray(b, dtype=np.int64),
        np.asarray(score, dtype=np.float64),
        np.asarray(source, dtype=object),
    )


def _blocked_before(conn: Any, started_at: Any) -> np.ndarray:
    """Sorted ``frame.pair_keys`` of the blocks that existed when the run started (never to be paired)."""
    from sqlalchemy import select

    from perfectmatch.adapters.storage import schema as s

    b = s.blocks
    rows = conn.execute(select(b.c.blocker, b.c.blocked).where(b.c.created_at < started_at)).all()
    if not rows:
        return np.zeros(0, np.int64)
    arr = np.asarray(rows, dtype=np.int64)
    return np.unique(pair_keys(arr[:, 0], arr[:, 1]))


def _vector_user_ids(conn: Any) -> np.ndarray:
    from sqlalchemy import select

    from perfectmatch.adapters.storage import schema as s

    ids = conn.execute(select(s.profile_vectors.c.user_id)).scalars().all()
    return np.unique(np.asarray(ids, dtype=np.int64))


# ------------------------------------------------------------------------------------- evaluation
def evaluate_run(app: Any, run_id: str | date | None = None) -> PopulationReport:
    """Evaluate the stored batch run of ``run_id`` (a ``YYYY-MM-DD`` day; the latest when ``None``).

    Raises
    ------
    NotFound
        No such run (the message lists the latest ones).
    InvalidInputError
        ``run_id`` is not a day.
    """
    run = load_run(app, run_id)
    day: date = run["day"]
    cfg = app.settings.matching
    with app.uow as uow:
        frame = uow.population.load()
        a_ids, b_ids, score, source = _match_columns(uow.connection, day)
        with_vector = _vector_user_ids(uow.connection)
        blocked = _blocked_before(uow.connection, run["started_at"])
    return evaluate(frame, a_ids, b_ids, score, source, with_vector=with_vector, run=run, settings=cfg, blocked=blocked)


def evaluate(
    frame: PopulationFrame,
    a_ids: np.ndarray,
    b_ids: np.ndarray,
    score: np.ndarray,
    source: np.ndarray,
    *,
    with_vector: np.ndarray,
    run: dict[str, Any],
    settings: Any,
    blocked: np.ndarray | None = None,
) -> PopulationReport:
    """The report from loaded columns (``evaluate_run`` without storage; ``settings`` is ``MatchingSettings``;
    ``blocked``: ``frame.pair_keys`` of user pairs blocked before the run started)."""
    day: date = run["day"]
    summary: dict[str, Any] = dict(run.get("summary") or {})
    stages: dict[str, dict[str, Any]] = dict(run.get("stages") or {})
    counts: dict[str, Any] = {}
    for info in stages.values():
        counts.update({k: v for k, v in info.items() if k != "seconds"})
    counts.update({k: v for k, v in summary.items() if k not in ("stage_seconds", "day", "status")})

    n = len(frame)
    order = np.argsort(frame.ids, kind="stable")
    sorted_ids = frame.ids[order]

    def rows_of(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pos = np.minimum(np.searchsorted(sorted_ids, ids), max(n - 1, 0))
        found = sorted_ids[pos] == ids if n else np.zeros(ids.shape, bool)
        return order[pos], found

    ia, fa = rows_of(a_ids)
    ib, fb = rows_of(b_ids)
    resolved = fa & fb
    ia, ib = ia[resolved], ib[resolved]

    day_end = (day_number(day) + 1) * prefilter.DAY_S
    active = prefilter.active_mask(frame, day, window_days=settings.active_window_days) & (frame.created_at < day_end)
    matchable = active & np.isin(frame.ids, with_vector)
    per_user = np.bincount(np.concatenate([ia, ib]), minlength=n) if n else np.zeros(0, np.int64)
    matched = per_user > 0
    pool = matchable | matched  # a matched user is counted even if no longer active
    exposure = per_user[pool]

    caps = np.where(frame.tier == TIERS.index(Tier.PREMIUM), settings.premium_daily_cap, settings.free_daily_cap)
    tiers = []
    for code, tier in enumerate(TIERS):
        sel = pool & (frame.tier == code)
        k = per_user[sel]
        cap = int(settings.premium_daily_cap if tier is Tier.PREMIUM else settings.free_daily_cap)
        tiers.append(
            TierStats(
                tier=tier.value,
                cap=cap,
                users=int(sel.sum()),
                matched_users=int((k > 0).sum()),
                deliveries=int(k.sum()),
                mean=round(float(k.mean()), 4) if k.size else 0.0,
                p50=float(np.quantile(k, 0.5)) if k.size else 0.0,
                p90=float(np.quantile(k, 0.9)) if k.size else 0.0,
                max=int(k.max(initial=0)),
                over_cap=int((k > caps[sel]).sum()),
                per_user_counts=np.bincount(k, minlength=cap + 1).astype(int).tolist(),
            )
        )

    dist = prefilter.haversine_km(frame.lat[ia], frame.lon[ia], frame.lat[ib], frame.lon[ib])
    ages = frame.ages_on(day).astype(np.int64)
    age_gap = np.abs(ages[ia] - ages[ib])
    mutual = _mutual_check(
        frame, day, ia, ib, settings, blocked=blocked, unresolved=a_ids[~resolved], unresolved_b=b_ids[~resolved]
    )

    new = (day_number(day) * prefilter.DAY_S - frame.created_at) < settings.new_user_days * prefilter.DAY_S
    new_pool, old_pool = pool & new, pool & ~new
    new_users = NewUserStats(
        days=int(settings.new_user_days),
        users=int(new_pool.sum()),
        share_of_matchable=_share(new_pool.sum(), pool.sum(), 0.0),
        share_of_matched=_share((matched & new).sum(), matched.sum(), 0.0),
        coverage=_share((per_user[new_pool] > 0).sum(), new_pool.sum()),
        mean_matches=round(float(per_user[new_pool].mean()), 4) if new_pool.any() else 0.0,
        mean_matches_others=round(float(per_user[old_pool].mean()), 4) if old_pool.any() else 0.0,
    )

    kinds, kind_counts = np.unique(source.astype(str), return_counts=True) if source.size else ([], [])
    by_source = {str(k): int(c) for k, c in zip(kinds, kind_counts, strict=True)}
    sources = SourceStats(
        counts=by_source,
        ai_share=_share(sum(by_source.get(s, 0) for s in AI_SOURCES), source.size, 0.0),
        fallback_share=_share(sum(by_source.get(s, 0) for s in FALLBACK_SOURCES), source.size, 0.0),
    )
    usage = counts.get("ai_usage") or {}
    ai = AIStats(
        description=str(summary.get("ai", "")),
        pairs_analysed=int(counts.get("pairs_analysed", 0) or 0),
        analysed_by={str(k): int(v) for k, v in (counts.get("analysed_by") or {}).items()},
        usage_recorded=bool(usage),
        requests=int(usage.get("requests", 0)),
        prompt_tokens=int(usage.get("prompt_tokens", 0)),
        completion_tokens=int(usage.get("completion_tokens", 0)),
        cost_usd=float(usage.get("cost_usd", 0.0)),
    )
    seconds = summary.get("stage_seconds") or {k: v.get("seconds", 0.0) for k, v in stages.items()}
    seconds = dict(sorted(seconds.items(), key=lambda kv: STAGES.index(kv[0]) if kv[0] in STAGES else len(STAGES)))

    src_names, src_counts = np.unique(frame.source[pool].astype(str), return_counts=True) if pool.any() else ([], [])
    cov_e, gini_e = counts.get("coverage"), counts.get("exposure_gini")
    top = min(100.0, np.ceil(float(score.max(initial=settings.min_compatibility))) + 1.0)
    score_edges = np.linspace(min(float(score.min(initial=100.0)), settings.min_compatibility, top - 1.0), top, 31)
    age_edges = np.arange(0, int(age_gap.max(initial=0)) + 2)
    return PopulationReport(
        run_id=day.isoformat(),
        status=str(run.get("status", "")),
        mode=str(summary.get("mode", "")),
        assignment=str(counts.get("assignment", settings.assignment)),
        population_sources={
            ("no source" if k == "None" else k): int(c) for k, c in zip(src_names, src_counts, strict=True)
        },
        users_total=n,
        active_users=int(active.sum()),
        matchable_users=int(pool.sum()),
        matched_users=int(matched.sum()),
        matches=int(a_ids.size),
        coverage=_share(matched[pool].sum(), pool.sum()),
        coverage_of_eligible=None if cov_e is None else float(cov_e),
        exposure_gini=round(gini(exposure), 6),
        exposure_gini_of_eligible=None if gini_e is None else float(gini_e),
        lorenz=lorenz_curve(exposure),
        tiers=tiers,
        score=describe(score, score_edges),
        distance_km=describe(dist, 25),
        age_gap_years=describe(age_gap, age_edges if age_edges.size <= 61 else 30),
        mutual=mutual,
        new_users=new_users,
        sources=sources,
        ai=ai,
        stage_seconds={str(k): float(v) for k, v in seconds.items()},
        counts=counts,
    )


def _mutual_check(
    frame: PopulationFrame,
    day: date,
    ia: np.ndarray,
    ib: np.ndarray,
    settings: Any,
    *,
    blocked: np.ndarray | None,
    unresolved: np.ndarray,
    unresolved_b: np.ndarray,
) -> MutualCheck:
    """Every delivered pair through ``prefilter.mutual_mask`` with the radius the batch may have widened
    to and the blocks that existed before the run (activity is left aside: it describes the day, not
    the two people, and may have changed since)."""
    own = frame.radius_km
    allowed = own
    if settings.min_pool > 0:
        allowed = np.minimum(own * MAX_EXPANSION_FACTOR, np.maximum(own, settings.max_radius_km))
    rules = prefilter.build_rules(
        frame, day=day, radius_km=allowed, excluded=blocked, window_days=settings.active_window_days
    )
    rules = replace(rules, active=np.ones(len(frame), dtype=bool))
    ok = prefilter.mutual_mask(frame, rules, ia, ib) if ia.size else np.zeros(0, bool)
    strict = prefilter.mutual_mask(frame, rules.with_radius(own), ia, ib) if ia.size else np.zeros(0, bool)
    bad = np.flatnonzero(~ok)
    violations = [
        Violation(user_a=int(frame.ids[ia[k]]), user_b=int(frame.ids[ib[k]]), failed=failed)
        for k, failed in zip(
            bad[:MAX_VIOLATIONS_LISTED].tolist(),
            _failed_checks(frame, rules, ia[bad[:MAX_VIOLATIONS_LISTED]], ib[bad[:MAX_VIOLATIONS_LISTED]]),
            strict=True,
        )
    ]
    missing = [
        Violation(user_a=int(x), user_b=int(y), failed=["user missing"])
        for x, y in zip(unresolved.tolist(), unresolved_b.tolist(), strict=True)
    ]
    total = int(ia.size + unresolved.size)
    return MutualCheck(
        pairs=total,
        holding=int(ok.sum()),
        share=_share(ok.sum(), total),
        own_radius_share=_share(strict.sum(), total),
        violations=(violations + missing)[:MAX_VIOLATIONS_LISTED],
        violation_count=int(bad.size + unresolved.size),
    )


def _failed_checks(frame: PopulationFrame, rules: prefilter.PairRules, i: np.ndarray, j: np.ndarray) -> list[list[str]]:
    """Names of the mutual checks each pair ``(i, j)`` fails (for the few pairs that fail any)."""
    g, s = frame.gender, frame.seeks
    ai, aj = rules.ages[i], rules.ages[j]
    checks = {
        "same user": i == j,
        "gender": ~(((s[i] >> g[j]) & 1).astype(bool) & ((s[j] >> g[i]) & 1).astype(bool)),
        "age": ~(
            (aj >= frame.age_min[i]) & (aj <= frame.age_max[i]) & (ai >= frame.age_min[j]) & (ai <= frame.age_max[j])
        ),
        "goal": ~prefilter.GOAL_COMPATIBLE[frame.goal[i], frame.goal[j]],
        "distance": ~prefilter.within_radii(rules, i, j),
        "blocked": prefilter.is_excluded(rules.excluded, frame.ids[i], frame.ids[j]),
    }
    return [[name for name, failed in checks.items() if failed[k]] for k in range(i.size)]

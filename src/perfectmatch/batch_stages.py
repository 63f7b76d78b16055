"""The stages of the daily batch (see ``pipeline``): each reads and extends a ``BatchContext``.

A stage returns the counts to record in its checkpoint, or ``None`` when it was already done by an
earlier attempt and had nothing to redo. Stages that later ones depend on in memory (load,
vectors, candidates) always rebuild their in-memory results, cheaply, from what is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

import numpy as np

from perfectmatch.frame import TIERS, MatchBatch, PopulationFrame, VectorSet, day_number, pair_keys
from perfectmatch.matching import candidates as cand
from perfectmatch.matching import distribution, prefilter, scoring
from perfectmatch.matching.pairs import threaded_map
from perfectmatch.matching.vectors import DIMENSIONS, TEXT_BLOCK, completeness, cosine_threshold
from perfectmatch.models import (
    Channels,
    Match,
    Notification,
    NotificationType,
    Priority,
    Tier,
)
from perfectmatch.ports import PairAnalysis, PairContext, Progress

STAGES = ("load", "vectors", "candidates", "analysis", "store", "cache", "notify")
AI_CHUNK = 1000  # pairs analysed (and their insights committed) per checkpointed chunk
RECENT_MATCHES_TTL_S = 24 * 3600


@dataclass
class BatchContext:
    app: Any
    day: date
    owner: str
    mode: str
    done: dict[str, dict[str, Any]]
    progress: Progress
    engine: str = "local"  # exact candidates: "local" (this process) or "dask" (matching.distributed)
    dask: Any = None  # config.DaskSettings for the dask engine
    counts: dict[str, Any] = field(default_factory=dict)
    frame: PopulationFrame | None = None
    excluded: np.ndarray | None = None
    vectors: VectorSet | None = None
    rules: prefilter.PairRules | None = None
    pairs: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # frame rows a < b, similarity
    analyses: dict[str, dict[str, Any]] = field(default_factory=dict)
    matches: MatchColumns | None = None  # today's matches (store stage), read by cache and notify
    block_norms: tuple[np.ndarray, np.ndarray] | None = None  # see _block_norms
    ai_description: str = "local fallback"

    @property
    def now(self) -> datetime:
        return self.app.clock.now()


def pair_id(day: date, a: int, b: int) -> str:
    return f"{day.isoformat()}:{min(a, b)}:{max(a, b)}"


# ------------------------------------------------------------------------------------------ load
def load_stage(ctx: BatchContext) -> dict[str, Any] | None:
    cfg = ctx.app.settings.matching
    with ctx.app.uow as uow:
        if "load" not in ctx.done:  # tiers (hence daily caps) follow billing's paid periods at batch time
            from perfectmatch.adapters.storage.billing import SqlAlchemyBillingStore

            SqlAlchemyBillingStore(uow.connection).sync_tiers(ctx.now)
            uow.commit()
        ctx.frame = uow.population.load(active_on=ctx.day, window_days=cfg.active_window_days)
        ctx.excluded = uow.batch.excluded_pair_keys()
    info = {"active_users": len(ctx.frame), "excluded_pairs": int(ctx.excluded.size)}
    return None if "load" in ctx.done else info


# --------------------------------------------------------------------------------------- vectors
def vectors_stage(ctx: BatchContext) -> dict[str, Any] | None:
    """Load current-version vectors; build the missing ones from stored questionnaire responses."""
    spec = ctx.app.vector_spec
    frame = ctx.frame
    assert frame is not None
    with ctx.app.uow as uow:
        have = uow.vector_matrix.load_matrix(spec.version, ids=frame.ids)
        missing = np.setdiff1d(frame.ids, have.ids)
        built = 0
        if missing.size:
            ctx.progress.start("vectors", int(missing.size))
            built_set = build_vectors(uow, spec, missing, ctx.progress)
            uow.vector_matrix.save_matrix(built_set)
            uow.commit()
            built = len(built_set)
            have = uow.vector_matrix.load_matrix(spec.version, ids=frame.ids)
    # users without any questionnaire response have no vector and cannot be matched
    if np.array_equal(frame.ids, have.ids):  # the common case: no copy of a GB-sized matrix
        ctx.vectors = have
    else:
        ctx.frame = frame.take(np.isin(frame.ids, have.ids))
        ctx.vectors = have.take(np.searchsorted(have.ids, ctx.frame.ids))
    if "vectors" in ctx.done and built == 0:
        return None
    return {"vectors_built": built, "users_without_vector": len(frame) - len(ctx.frame)}


class _RawAnswer(NamedTuple):
    question_id: str
    value: Any
    importance: int
    seconds: float | None


def build_vectors(uow: Any, spec: Any, ids: np.ndarray, progress: Progress) -> VectorSet:
    """Vectors for ``ids`` from their stored responses (users without a response are skipped).

    Raises ``UnknownQuestionError``/``InvalidAnswerError`` naming the question when a stored answer
    does not fit the current bank.
    """
    layout = spec.layout
    raw = uow.population.raw_responses([int(x) for x in ids])
    if not raw:
        return VectorSet(spec.version, np.zeros(0, np.int64), np.zeros((0, spec.dim), np.float32),
                         np.zeros((0, 5), np.float32), np.zeros(0, np.float32))
    n = len(raw)
    values = np.full((n, len(layout.question_ids)), np.nan)
    importance = np.full_like(values, np.nan)
    texts: dict[str, list[str | None]] = {}
    n_texts = np.zeros(n, dtype=np.int64)
    for row, (_, answers, open_texts) in enumerate(raw):
        values[row], importance[row] = layout.to_row([_RawAnswer(*a) for a in answers])
        for key, text in open_texts.items():
            texts.setdefault(key, [None] * n)[row] = text
            n_texts[row] += bool(text)
        if row % 1000 == 999:
            progress.advance("vectors", 1000)
    feats, imp = layout.encode_matrix(values, importance)
    return VectorSet(
        version=spec.version,
        ids=np.array([u for u, _, _ in raw], dtype=np.int64),
        vecs=spec.build(feats, spec.embed_answers(texts, n)),
        importance=imp,
        completeness=completeness(values, n_texts),
    )


# ------------------------------------------------------------------------------------ candidates
def candidates_stage(ctx: BatchContext) -> dict[str, Any] | None:
    cfg = ctx.app.settings.matching
    frame, vs = ctx.frame, ctx.vectors
    assert frame is not None and vs is not None and ctx.excluded is not None
    rules = prefilter.build_rules(frame, day=ctx.day, excluded=ctx.excluded, window_days=cfg.active_window_days)
    threshold = cosine_threshold(cfg.similarity_threshold)
    engine_info: dict[str, Any] = {}
    if ctx.mode == "approx":
        from perfectmatch.matching.hnsw import approx_candidates

        radius, expanded = prefilter.expand_radii(frame, rules, min_pool=cfg.min_pool,
                                                  max_radius_km=cfg.max_radius_km)
        ctx.rules = rules.with_radius(radius)
        found = approx_candidates(frame, vs.vecs, ctx.rules, k=cfg.top_k, threshold=threshold)
    elif ctx.engine == "dask":  # the same exact candidates, computed by geographic partitions on a cluster
        from perfectmatch.matching.distributed import EngineTimings, dask_candidates, dask_client

        timings = EngineTimings()
        dcfg = ctx.dask if ctx.dask is not None else ctx.app.settings.dask
        with dask_client(dcfg.scheduler, workers=dcfg.workers, timeout_s=dcfg.connect_timeout_s) as client:
            found, expansion = dask_candidates(
                client, frame, vs.vecs, rules, k=cfg.top_k, threshold=threshold, min_pool=cfg.min_pool,
                max_radius_km=cfg.max_radius_km, parts=dcfg.partitions or None, timings=timings,
            )
        ctx.rules, expanded = rules.with_radius(expansion.radius_km), expansion.added_km
        engine_info = {"dask": timings.as_dict()}
    else:  # users with fewer than min_pool candidates get their radius widened step by step
        found, expansion = cand.generate_with_expansion(
            frame, vs.vecs, rules, k=cfg.top_k, threshold=threshold, min_pool=cfg.min_pool,
            max_radius_km=cfg.max_radius_km, workers=cfg.engine_threads(),
        )
        ctx.rules, expanded = rules.with_radius(expansion.radius_km), expansion.added_km
    a, b, cos = found.pairs()
    ctx.pairs = (a, b, cos)
    info = {"candidate_pairs": int(a.size), "users_with_candidates": int((found.counts() > 0).sum()),
            "radius_expanded_users": int(np.count_nonzero(expanded)),
            "engine": ctx.engine if ctx.mode == "exact" else "local", **engine_info}
    return None if "candidates" in ctx.done else info


# -------------------------------------------------------------------------------------- analysis
def _block_similarities(ctx: BatchContext, a: np.ndarray, b: np.ndarray, chunk: int = 8192,
                        threads: int = 1) -> dict[str, np.ndarray]:
    """Per-block similarity ``(1 + cos) / 2`` of frame-row pairs, computed in chunks (bounded memory),
    on ``threads`` threads (numpy's gathers and reductions release the GIL; each chunk writes its own
    rows, so the numbers do not depend on the threads).

    The same numbers as ``VectorSpec.block_cosines`` (``nan`` where a block is empty on either
    side), with each user's per-block squared norms computed once per batch rather than once per
    pair: a chunk costs one product and one reduction instead of three of each. Small chunks keep
    the gathered rows in cache (8192 pairs measured 20-30 % faster than 65,536).
    """
    vs = ctx.vectors
    assert vs is not None
    starts, sq = _block_norms(ctx)
    names = list(ctx.app.vector_spec.slices)
    out = np.empty((a.size, len(names)), dtype=np.float32)

    def one(lo: int) -> None:
        ca, cb = a[lo : lo + chunk], b[lo : lo + chunk]
        dot = np.add.reduceat(vs.vecs[ca] * vs.vecs[cb], starts, axis=1)
        den = np.sqrt(sq[ca] * sq[cb])
        cos = np.divide(dot, den, out=np.full(dot.shape, np.nan, dtype=np.float32), where=den > 0)
        out[lo : lo + chunk] = (1.0 + cos) / 2.0

    threaded_map(one, range(0, a.size, chunk), threads)
    return {name: out[:, j] for j, name in enumerate(names)}


def _block_norms(ctx: BatchContext) -> tuple[np.ndarray, np.ndarray]:
    """Block start columns and ``(n, blocks)`` squared block norms of every user's vector (cached)."""
    assert ctx.vectors is not None
    if ctx.block_norms is None or ctx.block_norms[1].shape[0] != len(ctx.vectors.vecs):
        starts = np.array([sl.start for sl in ctx.app.vector_spec.slices.values()])  # contiguous, in order
        vecs = ctx.vectors.vecs
        sq = np.concatenate([np.add.reduceat(vecs[lo : lo + 65_536] ** 2, starts, axis=1)
                             for lo in range(0, max(len(vecs), 1), 65_536)])
        ctx.block_norms = (starts, sq)
    return ctx.block_norms


def daily_caps(ctx: BatchContext) -> np.ndarray:
    """``(n,)`` new matches each user may receive today, by tier."""
    cfg = ctx.app.settings.matching
    assert ctx.frame is not None
    return np.where(ctx.frame.tier == TIERS.index(Tier.PREMIUM), cfg.premium_daily_cap, cfg.free_daily_cap)


def shortlist(ctx: BatchContext) -> np.ndarray:
    """Indices into ``ctx.pairs`` worth an AI analysis: each user's best pairs by vector score,
    ``ai_shortlist_factor`` times their daily cap (so the AI never analyses pairs nobody can get)."""
    cfg = ctx.app.settings.matching
    frame = ctx.frame
    assert ctx.pairs is not None and frame is not None
    a, b, cos = ctx.pairs
    limit = daily_caps(ctx) * cfg.ai_shortlist_factor
    ends = np.concatenate([a, b])
    pair_ix = np.concatenate([np.arange(a.size), np.arange(a.size)])
    order = np.lexsort((-np.concatenate([cos, cos]), ends))
    ends_sorted = ends[order]
    first = np.searchsorted(ends_sorted, ends_sorted, side="left")
    rank = np.arange(ends_sorted.size) - first
    chosen = pair_ix[order][rank < limit[ends_sorted]]
    return np.unique(chosen)


def analyze_stage(ctx: BatchContext) -> dict[str, Any] | None:
    """Analyse shortlisted pairs in chunks; each chunk's insights are committed before the next."""
    app, day, frame = ctx.app, ctx.day, ctx.frame
    assert ctx.pairs is not None and frame is not None and ctx.vectors is not None
    if not app.settings.matching.ai_stage or not app.ai_uses_provider:
        # no model to ask: scores are vector-only and delivered matches get the local fallback's
        # basic insights in the store stage (the spec's "use vector similarity only" branch)
        ctx.ai_description = ("none (vector-only scores)" if not app.settings.matching.ai_stage
                              else getattr(app.analyzer, "description", "local fallback"))
        return None if "analysis" in ctx.done else {"pairs_analysed": 0}
    a, b, _ = ctx.pairs
    chosen = shortlist(ctx)
    with app.uow as uow:
        stored = uow.batch.insights_on(day)
    ids = frame.ids
    todo = [k for k in chosen.tolist() if pair_id(day, int(ids[a[k]]), int(ids[b[k]])) not in stored]
    analyzer = app.analyzer
    ctx.ai_description = getattr(analyzer, "description", "local fallback")
    needs_data = app.ai_uses_provider
    counts = {"llm": 0, "cache": 0, "fallback": 0}
    usage_before = ai_usage(analyzer)
    ctx.progress.start("analysis", len(todo))
    for lo in range(0, len(todo), AI_CHUNK):
        chunk = np.array(todo[lo : lo + AI_CHUNK], dtype=np.int64)
        contexts = _contexts(ctx, chunk, with_data=needs_data)
        results = analyzer.analyze(contexts)
        rows = [_insight_row(day, r, c) for r, c in zip(results, contexts, strict=True)]
        for r in results:
            counts[r.source] = counts.get(r.source, 0) + 1
        with app.uow as uow:
            uow.batch.add_insights(rows)
            uow.commit()
        ctx.progress.advance("analysis", len(chunk))
    with app.uow as uow:
        ctx.analyses = uow.batch.insights_on(day)
    if "analysis" in ctx.done and not todo:
        return None
    previous = ctx.done.get("analysis", {}).get("analysed_by", {})
    merged = {k: counts.get(k, 0) + previous.get(k, 0) for k in set(counts) | set(previous)}
    spent = ai_usage(analyzer)
    earlier = ctx.done.get("analysis", {}).get("ai_usage", {})
    usage = {k: round(spent[k] - usage_before[k] + earlier.get(k, 0), 6) for k in spent}
    return {"pairs_analysed": len(ctx.analyses), "analysed_by": merged, "ai_usage": usage}


def ai_usage(analyzer: Any) -> dict[str, float]:
    """The analyzer's running totals of requests, tokens and estimated cost (zeros when it keeps none);
    the analysis stage stores the difference over its run, for the run report."""
    keys = ("total_requests", "total_prompt_tokens", "total_completion_tokens", "total_cost_usd")
    summary = getattr(analyzer, "summary", None)
    got = summary() if callable(summary) else None
    return {k.removeprefix("total_"): float(getattr(got, k, 0) or 0) for k in keys}


KEY_ANSWERS = 12  # the most important structured answers per user sent to the AI
OPEN_ANSWER_CHARS = 200


def _contexts(ctx: BatchContext, chunk: np.ndarray, *, with_data: bool) -> list[PairContext]:
    """What the analyzer gets for the pairs at positions ``chunk`` of ``ctx.pairs``."""
    assert ctx.pairs is not None and ctx.frame is not None
    a, b, cos = ctx.pairs
    ids = ctx.frame.ids
    sims = _block_similarities(ctx, a[chunk], b[chunk])
    data = _pair_data(ctx.app, ids[np.concatenate([a[chunk], b[chunk]])]) if with_data else {}
    return [
        PairContext(
            pair_id=pair_id(ctx.day, int(ids[a[k]]), int(ids[b[k]])),
            user_a=int(ids[a[k]]), user_b=int(ids[b[k]]),
            data_a=data.get(int(ids[a[k]]), {}), data_b=data.get(int(ids[b[k]]), {}),
            similarities={name: round(float(v[m]), 4) for name, v in sims.items() if not np.isnan(v[m])},
            vector_score=round(float((1.0 + cos[k]) / 2.0), 4),
        )
        for m, k in enumerate(chunk)
    ]


def _pair_data(app: Any, user_ids: np.ndarray) -> dict[int, dict[str, Any]]:
    """The key questionnaire data the AI may see: dimension scores, the answers the user rated most
    important, and open answers (shortened) — nothing identifying (no name, email, place, photo)."""
    with app.uow as uow:
        responses = uow.responses.find_many(sorted({int(u) for u in user_ids}))
    out = {}
    for r in responses:
        key = sorted(r.answers, key=lambda a: (-a.importance, a.question_id))[:KEY_ANSWERS]
        out[r.user_id] = {
            "dimensionScores": {d.value: round(v, 1) for d, v in r.dimension_scores.items()},
            "keyAnswers": {a.question_id: {"answer": list(a.value) if isinstance(a.value, tuple) else a.value,
                                           "importance": a.importance} for a in key},
            "openAnswers": {k: t[:OPEN_ANSWER_CHARS] for k, t in r.open_texts.items() if t},
        }
    return out


def _insight_row(day: date, r: PairAnalysis, c: PairContext) -> dict[str, Any]:
    from perfectmatch.ai.content import split_content

    basic, premium = split_content(r, premium=False), split_content(r, premium=True)
    return {"id": r.pair_id, "user_a": min(c.user_a, c.user_b), "user_b": max(c.user_a, c.user_b), "day": day,
            "source": r.source, "score": float(r.score), "basic": basic, "premium": premium}


# ----------------------------------------------------------------------------------------- store
SCORE_CHUNK = 1 << 20  # candidate pairs scored at a time (by one thread)


def _vector_scores(ctx: BatchContext, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Reciprocal vector scores of frame-row pairs, in chunks: the float64 temporaries of scoring
    (several ``(pairs, 5)`` arrays) stay bounded however many candidate pairs there are. Chunks run
    on the engine's threads (numpy's gathers and reductions release the GIL; each chunk writes its
    own slice, so the result does not depend on the threads)."""
    vs = ctx.vectors
    assert vs is not None
    out = np.empty(a.size, dtype=np.float64)
    chunk = SCORE_CHUNK

    def one(lo: int) -> None:
        ca, cb = a[lo : lo + chunk], b[lo : lo + chunk]
        sims = _block_similarities(ctx, ca, cb)
        out[lo : lo + chunk] = scoring.reciprocal_scores({d.value: sims[d.value] for d in DIMENSIONS},
                                                         vs.importance[ca], vs.importance[cb], text=sims[TEXT_BLOCK])

    _block_norms(ctx)  # computed once, before the threads share it
    threaded_map(one, range(0, a.size, chunk), ctx.app.settings.matching.engine_threads())
    return out


def _fallback_rows(ctx: BatchContext, k: np.ndarray, sims: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Insight rows of the local fallback for delivered pairs nobody analysed (positions ``k`` of
    ``ctx.pairs``; ``sims`` their block similarities), stored compactly (``content.compact_fallbacks``:
    the analyzer's inputs, rendered on read) and scored as ``LocalAnalyzer`` scores them."""
    from perfectmatch.ai.content import SCALE, compact_fallbacks
    from perfectmatch.ai.fallback import score_of

    assert ctx.pairs is not None and ctx.frame is not None
    a, b, cos = ctx.pairs
    ids = ctx.frame.ids
    lo, hi = np.minimum(ids[a[k]], ids[b[k]]).tolist(), np.maximum(ids[a[k]], ids[b[k]]).tolist()
    vector = (1.0 + cos[k]) / 2.0  # PairContext.vector_score before its rounding to 4 places
    basics = compact_fallbacks(vector, sims)
    scores = (np.rint(vector.astype(np.float64) * SCALE) / SCALE).tolist()  # = round(v, 4), see compact_fallbacks
    day = ctx.day
    prefix = f"{day.isoformat()}:"
    return [{"id": f"{prefix}{x}:{y}", "user_a": x, "user_b": y, "day": day, "source": "fallback",
             "score": score_of(v), "basic": basic, "premium": "{}"}
            for x, y, v, basic in zip(lo, hi, scores, basics, strict=True)]


@dataclass(frozen=True)
class MatchColumns:
    """A day's matches as columns (``user_a < user_b``): what the cache and notify stages read,
    without one pydantic ``Match`` per match held for the whole batch."""

    user_a: np.ndarray
    user_b: np.ndarray
    final_score: np.ndarray

    def __len__(self) -> int:
        return int(self.user_a.size)

    @classmethod
    def of(cls, matches: list[Match]) -> MatchColumns:
        return cls(np.array([m.user_a for m in matches], dtype=np.int64),
                   np.array([m.user_b for m in matches], dtype=np.int64),
                   np.array([m.final_score for m in matches], dtype=np.float64))


STORE_CHUNK = 50_000  # matches (and their fallback insights) built and inserted at a time


def store_stage(ctx: BatchContext) -> dict[str, Any] | None:
    if "store" in ctx.done:
        with ctx.app.uow as uow:
            ctx.matches = MatchColumns.of(uow.batch.matches_on(ctx.day))
        return None
    cfg = ctx.app.settings.matching
    frame, vs = ctx.frame, ctx.vectors
    assert ctx.pairs is not None and frame is not None and vs is not None
    a, b, _ = ctx.pairs
    ids = frame.ids
    vector = _vector_scores(ctx, a, b)
    ai = np.full(a.size, np.nan)
    ai_source: list[str | None] | None = None  # stays None when nothing was analysed
    analysed: dict[int, str] = {}
    if ctx.analyses and a.size:  # map stored insights to pair positions through sorted integer pair keys
        rows = list(ctx.analyses.values())
        ai_source = [None] * a.size
        keys = pair_keys(ids[a], ids[b])
        order = np.argsort(keys)
        wanted = pair_keys(np.array([r["user_a"] for r in rows]), np.array([r["user_b"] for r in rows]))
        slot = np.minimum(np.searchsorted(keys[order], wanted), keys.size - 1)
        hits = np.flatnonzero(keys[order][slot] == wanted)
        for r, m in zip(hits.tolist(), order[slot][hits].tolist(), strict=True):
            ai[m], ai_source[m], analysed[m] = rows[r]["score"], rows[r]["source"], rows[r]["id"]
    final = scoring.final_values(vector, ai, vs.completeness[a], vs.completeness[b])
    caps = daily_caps(ctx)
    new_user = day_number(ctx.day) * 86400 - frame.created_at < cfg.new_user_days * 86400
    # allocate sees only the offerable pairs (same selection: candidate pairs are distinct, so its
    # first-occurrence rule never reaches back to a pair below the threshold); far less memory
    above = np.flatnonzero(final >= cfg.min_compatibility)
    alloc = distribution.allocate(
        a[above], b[above], final[above], caps=caps, min_score=cfg.min_compatibility, boost=new_user,
        method=cfg.assignment,
    )
    chosen = above[alloc.selected]
    lo_ids, hi_ids = np.minimum(ids[a[chosen]], ids[b[chosen]]), np.maximum(ids[a[chosen]], ids[b[chosen]])
    # in (user_a, user_b) order, as matches_on reads them back: the inserts then walk the indexes and
    # the users' key lookups in order instead of at random (pair keys sort exactly so)
    keys = pair_keys(lo_ids, hi_ids)
    order = np.argsort(keys)
    chosen, lo_ids, hi_ids, keys = chosen[order], lo_ids[order], hi_ids[order], keys[order]
    excluded_hit = np.isin(keys, ctx.excluded)
    assert not excluded_hit.any(), "distribution offered an excluded pair"
    source = scoring.score_sources(ai[chosen], None if ai_source is None else [ai_source[k] for k in chosen.tolist()])
    vector_r = [round(x, 6) for x in vector[chosen].tolist()]  # Python's rounding, as the models stored it
    final_r = [round(x, 3) for x in final[chosen].tolist()]
    # the delivered pairs nobody analysed get the fallback's insights: their positions in chosen
    at = np.flatnonzero([k not in analysed for k in chosen.tolist()]) if analysed else np.arange(chosen.size)
    missing = chosen[at]
    sims = _block_similarities(ctx, a[missing], b[missing], threads=cfg.engine_threads())
    # insights and matches commit together, built and inserted in chunks, their users checked once
    with ctx.app.uow as uow, uow.bulk_inserts(np.concatenate([lo_ids, hi_ids])):
        for lo in range(0, chosen.size, STORE_CHUNK):
            part = chosen[lo : lo + STORE_CHUNK]
            these = slice(*np.searchsorted(at, [lo, lo + STORE_CHUNK]))  # the part's entries of missing
            basics = _fallback_rows(ctx, missing[these], {name: v[these] for name, v in sims.items()})
            uow.batch.add_insights(basics)
            fallback = dict(zip(missing[these].tolist(), (r["id"] for r in basics), strict=True))
            end = lo + part.size
            uow.batch.add_matches(MatchBatch(  # checked as a whole, as each Match would be
                day=ctx.day, user_a=lo_ids[lo:end], user_b=hi_ids[lo:end], vector_score=vector_r[lo:end],
                ai_score=ai[part], final_score=final_r[lo:end], source=source[lo:end],
                insight_id=[analysed.get(k) or fallback.get(k) for k in part.tolist()]))
    ctx.matches = MatchColumns(lo_ids, hi_ids, np.asarray(final_r, dtype=np.float64))
    per_user = np.bincount(np.concatenate([a[chosen], b[chosen]]), minlength=len(frame))
    by_tier = {t.value: int(per_user[frame.tier == i].sum()) for i, t in enumerate(TIERS)}
    kinds, counts = np.unique(source.astype(str), return_counts=True)
    sources = {str(k): int(c) for k, c in zip(kinds, counts, strict=True)}
    return {"matches": int(chosen.size), "deliveries_by_tier": by_tier, "match_sources": sources,
            "coverage": round(float(alloc.coverage), 4), "exposure_gini": round(float(alloc.gini), 4),
            "assignment": cfg.assignment}


# ----------------------------------------------------------------------------------------- cache
def _per_user(matches: MatchColumns, *, best_first: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                          np.ndarray]:
    """Both ends of every match grouped by user: ``(user, other, score, group starts)``, each user's
    entries best score first (ties in match order), or in match order (half the time at 2 M matches)."""
    me = np.concatenate([matches.user_a, matches.user_b])
    other = np.concatenate([matches.user_b, matches.user_a])
    score = np.concatenate([matches.final_score, matches.final_score])
    order = (np.lexsort((np.tile(np.arange(len(matches)), 2), -score, me)) if best_first
             else np.argsort(me, kind="stable"))
    me, other, score = me[order], other[order], score[order]
    starts = np.flatnonzero(np.r_[True, me[1:] != me[:-1]]) if me.size else np.zeros(0, dtype=np.int64)
    return me, other, score, starts


def cache_stage(ctx: BatchContext) -> dict[str, Any] | None:
    cache = ctx.app.cache
    if cache is None:
        return {"cached_users": 0}
    assert ctx.matches is not None
    me, other, score, starts = _per_user(ctx.matches)
    day = ctx.day.isoformat()
    others, scores = other.tolist(), score.tolist()
    bounds = [*starts.tolist(), me.size]
    for g, uid in enumerate(me[starts].tolist()):
        items = [{"user": others[j], "score": scores[j], "day": day} for j in range(bounds[g], bounds[g + 1])]
        cache.set(f"recent_matches:{uid}", items, ttl_s=RECENT_MATCHES_TTL_S)
    return {"cached_users": int(starts.size)}


# ---------------------------------------------------------------------------------------- notify
def notify_stage(ctx: BatchContext) -> dict[str, Any] | None:
    """One ``new_match`` notification per user with new matches, sent after the matches committed.

    Notification ids are ``batch:<day>:<user>``: stored once (insert-ignore), then delivered through
    ``app.notification_service`` (the user's preferences, quiet hours and hourly limit apply; deferred
    ones are delivered later by its ``flush``) while not yet marked delivered, so a resumed run
    neither duplicates nor loses one.
    """
    prefix = f"batch:{ctx.day.isoformat()}:"
    assert ctx.matches is not None
    me, _, score, starts = _per_user(ctx.matches, best_first=False)
    users = me[starts].tolist()
    n_new = np.diff(np.append(starts, me.size)).tolist()
    best = (np.maximum.reduceat(score, starts) if starts.size else score).tolist()
    created = datetime.combine(ctx.day, datetime.min.time(), UTC)
    channels = Channels(push=True, in_app=True, email=True)  # narrowed by each user's channel preferences
    notes = [
        Notification(
            id=f"{prefix}{uid}", user_id=uid, type=NotificationType.NEW_MATCH, priority=Priority.MEDIUM,
            content={"newMatches": n, "bestScore": round(top, 1)}, created_at=created, channels=channels)
        for uid, n, top in zip(users, n_new, best, strict=True)
    ]
    with ctx.app.uow as uow:
        uow.batch.add_notifications(notes)
        uow.commit()
        stored = uow.batch.undelivered(prefix)
    # the stored content wins: a resumed run meets what an earlier attempt recorded (a deferral)
    pending = [n if (c := stored[n.id]) == n.content else n.model_copy(update={"content": c})
               for n in notes if n.id in stored]
    tally = ctx.app.notification_service.deliver_stored(pending)
    before = ctx.done.get("notify", {})
    return {"notifications": len(notes),
            "notifications_sent": before.get("notifications_sent", 0) + tally.get("delivered", 0),
            "notifications_deferred": tally.get("deferred", 0) + tally.get("waiting", 0),
            "notifications_suppressed": before.get("notifications_suppressed", 0) + tally.get("suppressed", 0)}

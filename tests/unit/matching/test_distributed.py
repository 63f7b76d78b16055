"""The Dask engine's partitioning and per-partition computation, without a cluster.

``InlineClient`` is a fake ``distributed.Client`` that runs submitted tasks in this process (the
scatter/submit/gather protocol the engine uses), so hypothesis can compare the partitioned result
with the local engine on many random populations; the real cluster is tested in
``tests/integration/test_dask_engine.py``.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import date
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from popgen import TODAY, frames, vectors

from perfectmatch.errors import ConfigError
from perfectmatch.matching.candidates import (
    EXPANSION_FACTORS,
    exact_candidates,
    expansion_plan,
    generate_with_expansion,
)
from perfectmatch.matching.distributed import EngineTimings, dask_candidates, dask_client, partition_users
from perfectmatch.matching.prefilter import build_rules, haversine_km
from perfectmatch.populations.simulate import simulate

CENTRES = ((40.0, -74.0), (40.9, -74.0), (41.0, -72.8), (34.0, -118.0))  # two close, one 120 km off, one far


class _Done:
    def __init__(self, value: Any) -> None:
        self.value = value


class InlineClient:
    """Runs tasks at submit time; futures are plain boxes (enough for the engine's protocol)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.submitted = 0

    def scheduler_info(self) -> dict[str, Any]:
        return {"workers": {f"w{i}": {} for i in range(self.workers)}}

    def scatter(self, data: list[Any], hash: bool = True) -> list[_Done]:
        return [_Done(d) for d in data]

    def submit(self, fn: Any, *args: Any, pure: bool = True, workers: Any = None, **kwargs: Any) -> _Done:
        self.submitted += 1
        assert workers is None or set(workers) <= set(self.scheduler_info()["workers"])
        return _Done(fn(*[a.value if isinstance(a, _Done) else a for a in args], **kwargs))

    def gather(self, futures: list[_Done]) -> list[Any]:
        return [f.value for f in futures]

    def cancel(self, futures: list[_Done]) -> None:
        pass


@st.composite
def spread_frames(draw: st.DrawFn) -> Any:
    """Small populations spread over a few centres (so partitions, halos and cuts all occur)."""
    frame = draw(frames(min_n=2, max_n=60))
    n = len(frame)
    centre = np.array(draw(st.lists(st.integers(0, len(CENTRES) - 1), min_size=n, max_size=n)))
    jitter = np.array(draw(st.lists(st.floats(-0.4, 0.4), min_size=2 * n, max_size=2 * n))).reshape(n, 2)
    lat = np.array([CENTRES[c][0] for c in centre]) + jitter[:, 0]
    lon = np.array([CENTRES[c][1] for c in centre]) + jitter[:, 1]
    return replace(frame, lat=lat, lon=lon)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    frame=spread_frames(),
    parts=st.integers(1, 5),
    max_radius=st.sampled_from([20.0, 100.0, 200.0]),
    cell_km=st.sampled_from([10.0, 40.0]),
    min_pool=st.sampled_from([0, 20]),
)
def test_every_active_user_is_owned_once_and_the_halo_holds_every_partner_in_reach(
    frame: Any, parts: int, max_radius: float, cell_km: float, min_pool: int
) -> None:
    rules = build_rules(frame, day=TODAY)
    reach = np.maximum(rules.radius_km, max_radius)
    split = partition_users(frame, rules, parts=parts, reach_km=reach, cell_km=cell_km, min_pool=min_pool)
    assert all(np.isfinite(p.work) and p.work >= 0 for p in split)
    assert len(split) <= parts
    owned = np.concatenate([p.owned for p in split]) if split else np.zeros(0, np.int64)
    assert np.array_equal(np.sort(owned), np.flatnonzero(rules.active))  # each active user exactly once
    active = np.flatnonzero(rules.active)
    dist = haversine_km(
        frame.lat[active][:, None], frame.lon[active][:, None], frame.lat[active][None, :], frame.lon[active][None, :]
    )
    in_reach = dist <= np.minimum(reach[active][:, None], reach[active][None, :])
    for p in split:
        assert np.isin(p.owned, p.members).all()
        mine = np.isin(active, p.owned)
        needed = active[in_reach[mine].any(axis=0)]
        assert np.isin(needed, p.members).all(), "a partner within reach of an owned user is missing"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), parts=st.integers(1, 4), k=st.integers(1, 6), min_pool=st.sampled_from([0, 3, 30]))
def test_partitioned_candidates_equal_the_local_engine(data: st.DataObject, parts: int, k: int, min_pool: int) -> None:
    frame = data.draw(spread_frames())
    vecs = data.draw(vectors(len(frame)))
    keys = data.draw(st.lists(st.sampled_from(frame.ids.tolist()), max_size=6))
    excluded = [(min(a, b) << 32) | max(a, b) for a, b in zip(keys[::2], keys[1::2], strict=False) if a != b]
    rules = build_rules(frame, day=TODAY, excluded=excluded)
    tuning = {"cell_km": 40.0, "min_query": data.draw(st.sampled_from([1, 4, 64]))}
    want, want_exp = generate_with_expansion(
        frame, vecs, rules, k=k, threshold=0.3, min_pool=min_pool, max_radius_km=150.0, **tuning
    )
    timings = EngineTimings()
    got, got_exp = dask_candidates(
        InlineClient(parts), frame, vecs, rules, k=k, threshold=0.3, min_pool=min_pool, max_radius_km=150.0,
        timings=timings, **tuning,
    )
    assert np.array_equal(got.idx, want.idx)
    assert np.array_equal(got.sims, want.sims, equal_nan=True)
    assert np.array_equal(got_exp.radius_km, want_exp.radius_km)
    if min_pool:  # the workers widen exactly the users the local engine widens (no border user in vain)
        first = exact_candidates(frame, vecs, rules, k=k, threshold=0.3, **tuning)
        needy, _ = expansion_plan(rules, first, min_pool=min_pool, max_radius_km=150.0, factors=EXPANSION_FACTORS)
        assert timings.widened_users == int(needy.sum())


def test_simulated_metros_split_evenly_and_match_the_local_engine() -> None:
    day = date(2026, 11, 25)
    pop = simulate(4000, 5, today=day, bank=False)
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(len(pop.frame), 8)).astype(np.float32) + 1.0
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    rules = build_rules(pop.frame, day=day)
    split = partition_users(pop.frame, rules, parts=2)
    work = [p.work for p in split]
    assert len(split) == 2 and max(work) < 0.7 * sum(work)  # balanced on pair work
    want, expansion = generate_with_expansion(pop.frame, vecs, rules, k=20, threshold=0.5, min_pool=8)
    assert np.count_nonzero(expansion.added_km) > 100 and (want.counts() == 20).sum() > 100  # both kinds of rows
    ref = exact_candidates(pop.frame, vecs, rules.with_radius(expansion.radius_km), k=20, threshold=0.5)
    assert np.array_equal(want.idx, ref.idx) and np.array_equal(want.sims, ref.sims, equal_nan=True)
    timings = EngineTimings()
    client = InlineClient(2)
    got, _ = dask_candidates(client, pop.frame, vecs, rules, k=20, threshold=0.5, min_pool=8, timings=timings)
    assert np.array_equal(got.idx, want.idx) and np.array_equal(got.sims, want.sims, equal_nan=True)
    assert timings.owned_users == int(rules.active.sum()) and len(timings.worker_s) == 2
    # the workers widen exactly the users the local engine widens, border users included (their
    # pairs across the border are computed by the other partition)
    first = exact_candidates(pop.frame, vecs, rules, k=20, threshold=0.5)
    needy, _ = expansion_plan(rules, first, min_pool=8, max_radius_km=200.0, factors=EXPANSION_FACTORS)
    assert timings.widened_users == int(needy.sum()) > 0
    assert client.submitted >= 2 and timings.overhead_s >= 0


def test_without_dask_installed_the_engine_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(ConfigError, match=r"pip install 'perfectmatch\[dask\]'"), dask_client(None, workers=2):
        pass


@settings(max_examples=60, deadline=None)
@given(
    radius=st.lists(st.sampled_from([5.0, 10.1, 33.3, 60.0, 199.9, 200.0, 250.0]), min_size=1, max_size=20),
    cap=st.sampled_from([20.0, 100.0, 200.0]),
)
def test_the_widest_possible_radius_is_the_one_expansion_gives_a_needy_user(radius: list[float], cap: float) -> None:
    from perfectmatch.matching.candidates import EXPANSION_FACTORS, expansion_plan
    from perfectmatch.matching.distributed import widest_possible
    from perfectmatch.matching.pairs import Candidates

    r = np.array(radius)
    rules = SimpleNamespace(radius_km=r, active=np.ones(r.size, dtype=bool))
    empty = Candidates(idx=np.full((r.size, 1), -1, np.int32), sims=np.full((r.size, 1), np.nan, np.float32))
    needy, widest = expansion_plan(rules, empty, min_pool=1, max_radius_km=cap, factors=EXPANSION_FACTORS)
    bound = widest_possible(r, cap, EXPANSION_FACTORS)
    assert np.array_equal(bound[needy], widest[needy])  # bit for bit: the worker's pass misses no pair
    assert (bound >= r).all()


def test_expansion_work_shifts_the_balance_towards_needy_tiles() -> None:
    day = date(2026, 11, 25)
    pop = simulate(4000, 5, today=day, bank=False)
    rules = build_rules(pop.frame, day=day)
    reach = np.maximum(rules.radius_km, 200.0)
    first_only = partition_users(pop.frame, rules, parts=2, reach_km=reach)
    both = partition_users(pop.frame, rules, parts=2, reach_km=reach, min_pool=20)
    assert sum(p.work for p in both) > sum(p.work for p in first_only)  # the expansion pass's work is added
    for split in (first_only, both):
        work = [p.work for p in split]
        assert len(split) == 2 and max(work) < 0.7 * sum(work)
        assert np.array_equal(np.sort(np.concatenate([p.owned for p in split])), np.flatnonzero(rules.active))


@pytest.mark.parametrize("seed", [0, 1])
def test_link_work_counts_the_partners_a_row_slice_reaches(seed: int) -> None:
    """The first pass's pair work per tile pair, with rules: each side's size times the other tile's
    users within the side's cell span plus the smaller of their radius and the cell's largest, of the
    cell's centre (the blocked engine's slice filter), averaged over both sides: brute force, user by
    user, on a simulated population."""
    from perfectmatch.matching import distributed as dist
    from perfectmatch.matching.prefilter import unit_vectors

    day = date(2026, 11, 25)
    pop = simulate(3000, seed, today=day, bank=False)
    rules = build_rules(pop.frame, day=day)
    cells = dist._cells(pop.frame, rules, rules.radius_km, 40.0)
    tiles = dist._Tiles.of(pop.frame, cells)
    src, dst = dist._cell_links(cells, cells.radius_km)
    got = tiles.links(src, dst, rules).toarray()
    plain = tiles.links(src, dst).toarray()
    centre = unit_vectors(cells.lat, cells.lon)
    users = [cells.rows[tiles.tile_of == t] for t in range(tiles.tile_cell.size)]
    size = tiles.sizes

    def reached(c: int, u: int) -> int:
        rows = users[u]
        km = dist._lower_bound_km(rules.unit[rows] @ centre[c])
        return int((km <= cells.span_km[c] + np.minimum(rules.radius_km[rows], cells.radius_km[c])).sum())

    t_idx, u_idx = np.nonzero(plain)
    assert t_idx.size > 0
    for t, u in zip(t_idx.tolist(), u_idx.tolist(), strict=True):
        want = 0.5 * (size[t] * reached(tiles.tile_cell[t], u) + size[u] * reached(tiles.tile_cell[u], t))
        assert got[t, u] == pytest.approx(want)
    assert (got <= plain + 1e-9).all() and got.sum() < plain.sum()


@settings(max_examples=80, deadline=None)
@given(data=st.data(), parts=st.integers(2, 4), tiles=st.integers(2, 14))
def test_the_refinement_moves_tiles_by_the_load_it_predicts(data: st.DataObject, parts: int, tiles: int) -> None:
    """Each move's predicted loads equal the loads recomputed from scratch after the move, and the
    busiest partition's load never rises (the cost model: each cross pair paid once, by the lower
    partition)."""
    from scipy.sparse import csr_matrix

    from perfectmatch.matching.distributed import _best_move, _cost_weights, _refine

    size = np.array(data.draw(st.lists(st.integers(1, 30), min_size=tiles, max_size=tiles)), dtype=float)
    linked = np.array(data.draw(st.lists(st.booleans(), min_size=tiles * tiles, max_size=tiles * tiles)))
    linked = linked.reshape(tiles, tiles)
    linked = linked | linked.T | np.eye(tiles, dtype=bool)
    links = csr_matrix(np.where(linked, np.outer(size, size), 0.0))
    cell = np.array(data.draw(st.lists(st.integers(0, 3), min_size=tiles, max_size=tiles)))
    owner = np.array(data.draw(st.lists(st.integers(0, parts - 1), min_size=tiles, max_size=tiles)))
    owner[:parts] = np.arange(parts)[: min(parts, tiles)]
    expansion = np.array(data.draw(st.lists(st.integers(0, 50), min_size=tiles, max_size=tiles)), dtype=float)
    dense = links.toarray()

    def loads(o: np.ndarray) -> np.ndarray:
        onehot = np.eye(parts)[o]
        between = onehot.T @ dense @ onehot
        return np.bincount(o, weights=expansion, minlength=parts) + (between * _cost_weights(parts)).sum(axis=1)

    before = loads(owner)
    to_part = dense @ np.eye(parts)[owner]
    e = np.bincount(owner, weights=expansion, minlength=parts)
    between = np.eye(parts)[owner].T @ to_part
    (busiest, total), t, q = _best_move(e, between, expansion, to_part, owner, dense.diagonal())
    moved = owner.copy()
    moved[t] = q
    assert q != owner[t]
    assert np.isclose(busiest, loads(moved).max()) and np.isclose(total, loads(moved).sum())
    refined, got = _refine(owner, links, expansion, cell)  # renumbered from 0 in order: same weights
    assert np.allclose(got, loads(refined)[: got.size])
    assert got.max() <= before.max() * (1 + 1e-9)

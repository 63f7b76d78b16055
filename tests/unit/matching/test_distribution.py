"""Distribution: caps on both sides, threshold, exclusions, greedy equivalence, fairness metrics."""

from __future__ import annotations

import numpy as np
import pytest
from distribution_reference import reference_allocate
from hypothesis import given, settings
from hypothesis import strategies as st

from perfectmatch.errors import InvalidInputError
from perfectmatch.frame import pair_keys
from perfectmatch.matching.distribution import (
    _best_first,
    _greedy_b_matching,
    _stable_argsort,
    allocate,
    check,
    gini,
)


@st.composite
def scored_pairs(draw: st.DrawFn) -> dict:
    n = draw(st.integers(2, 25))
    m = draw(st.integers(0, 80))
    a = np.array(draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m)), dtype=np.int64)
    b = np.array(draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m)), dtype=np.int64)
    scores = np.array(draw(st.lists(st.sampled_from([50.0, 69.99, 70.0, 75.0, 80.0, 95.0]), min_size=m,
                                    max_size=m)))
    caps = np.array(draw(st.lists(st.sampled_from([0, 1, 2, 10]), min_size=n, max_size=n)), dtype=np.int64)
    boost = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    ids = np.arange(100, 100 + n, dtype=np.int64)
    ex = draw(st.lists(st.integers(0, max(m - 1, 0)), max_size=5)) if m else []
    excluded = np.unique(pair_keys(ids[a[ex]], ids[b[ex]])) if ex else np.zeros(0, np.int64)
    return {"a": a, "b": b, "scores": scores, "caps": caps, "boost": boost, "ids": ids, "excluded": excluded}


@settings(max_examples=80, deadline=None)
@given(scored_pairs(), st.sampled_from(["global", "greedy"]))
def test_allocation_never_breaks_a_rule(p: dict, method: str) -> None:
    alloc = allocate(p["a"], p["b"], p["scores"], caps=p["caps"], boost=p["boost"], excluded=p["excluded"],
                     ids=p["ids"], method=method)
    assert check(p["a"], p["b"], p["scores"], alloc.selected, caps=p["caps"], excluded=p["excluded"],
                 ids=p["ids"]) == []
    assert (alloc.per_user <= p["caps"]).all()
    assert 0.0 <= alloc.coverage <= 1.0 and 0.0 <= alloc.gini <= 1.0


def _sequential_greedy(a: np.ndarray, b: np.ndarray, room: np.ndarray) -> list[int]:
    room = room.copy()
    out = []
    for e in range(a.size):
        if room[a[e]] > 0 and room[b[e]] > 0 and a[e] != b[e]:
            out.append(e)
            room[a[e]] -= 1
            room[b[e]] -= 1
    return out


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_vectorised_rounds_equal_sequential_greedy(data: st.DataObject) -> None:
    n = data.draw(st.integers(2, 12))
    edges = data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda t: t[0] != t[1]),
                               max_size=60, unique_by=lambda t: (min(t), max(t))))
    room = np.array(data.draw(st.lists(st.integers(0, 4), min_size=n, max_size=n)), dtype=np.int64)
    a = np.array([e[0] for e in edges], dtype=np.int64)
    b = np.array([e[1] for e in edges], dtype=np.int64)
    assert _greedy_b_matching(a, b, room).tolist() == _sequential_greedy(a, b, room)


@st.composite
def tied_pairs(draw: st.DrawFn) -> dict:
    """Pairs with many ties in priority: few score levels, equal degrees, repeated and self pairs."""
    n = draw(st.integers(2, 40))
    m = draw(st.integers(0, 300))
    rows = st.lists(st.integers(0, n - 1), min_size=m, max_size=m)
    a, b = np.array(draw(rows), dtype=np.int64), np.array(draw(rows), dtype=np.int64)
    levels = draw(st.lists(st.sampled_from([60.0, 70.0, 70.5, 80.0, 90.0, 100.0]), min_size=1, max_size=4))
    scores = np.array(draw(st.lists(st.sampled_from(levels), min_size=m, max_size=m)))
    caps = np.array(draw(st.lists(st.sampled_from([0, 1, 2, 3, 5, 50]), min_size=n, max_size=n)), dtype=np.int64)
    boost = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    return {"a": a, "b": b, "scores": scores, "caps": caps, "boost": boost,
            "congestion": draw(st.sampled_from([0.0, 2.0])), "boost_points": draw(st.sampled_from([0.0, 10.0]))}


@settings(max_examples=150, deadline=None)
@given(st.one_of(tied_pairs(), scored_pairs()), st.sampled_from(["global", "greedy"]))
def test_allocation_equals_the_reference_bit_for_bit(p: dict, method: str) -> None:
    """The round-based code selects exactly what the code before it (kept in the tests) selected."""
    kw = {k: p[k] for k in ("boost", "congestion", "boost_points", "excluded", "ids") if k in p}
    got = allocate(p["a"], p["b"], p["scores"], caps=p["caps"], method=method, **kw)
    assert got.selected.tolist() == reference_allocate(p["a"], p["b"], p["scores"], caps=p["caps"], method=method,
                                                       **kw).tolist()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_allocation_equals_the_reference_on_a_heavy_tailed_day(seed: int) -> None:
    """A few thousand users with popularity-weighted partners: long dead runs, many rounds."""
    rng = np.random.default_rng(seed)
    n, m = 3000, 40_000
    weight = np.cumsum(rng.lognormal(0.0, 1.5, n))
    a = rng.integers(0, n, m)
    b = np.minimum(np.searchsorted(weight, rng.random(m) * weight[-1]), n - 1)
    scores = np.round(70.0 + 30.0 * rng.random(m), int(rng.integers(0, 3)))
    caps = np.where(rng.random(n) < 0.1, 50, 10)
    boost = rng.random(n) < 0.05
    for method in ("global", "greedy"):
        got = allocate(a, b, scores, caps=caps, boost=boost, method=method)
        assert got.selected.tolist() == reference_allocate(a, b, scores, caps=caps, boost=boost,
                                                           method=method).tolist()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from([0.0, -0.0, 1.0, 1.0 + 2**-52, -1.0, 70.25, 1e300, -1e-300, np.inf, -np.inf]),
                max_size=60),
       st.booleans())
def test_best_first_is_lexsort_by_descending_priority_then_index(values: list[float], nan: bool) -> None:
    priority = np.array(values + ([np.nan] if nan else []), dtype=np.float64)
    assert _best_first(priority).tolist() == np.lexsort((np.arange(priority.size), -priority)).tolist()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 2**62), max_size=60), st.integers(0, 3))
def test_stable_argsort_is_numpys_stable_argsort(values: list[int], spread: int) -> None:
    x = np.array(values, dtype=np.int64) >> (20 * spread)  # from huge to tiny values (ties)
    assert _stable_argsort(x).tolist() == np.argsort(x, kind="stable").tolist()


def test_a_delivered_pair_uses_a_slot_on_both_sides() -> None:
    # user 0 (cap 1) is everybody's favourite; users 1-3 (cap 10) can also meet each other
    a = np.array([0, 0, 0, 1, 2])
    b = np.array([1, 2, 3, 2, 3])
    scores = np.array([99.0, 98.0, 97.0, 80.0, 80.0])
    alloc = allocate(a, b, scores, caps=np.array([1, 10, 10, 10]))
    assert alloc.per_user.tolist()[0] == 1
    assert alloc.per_user.sum() == 2 * alloc.selected.size


def test_staged_assignment_covers_more_users_than_score_greedy() -> None:
    # two popular users who like each other a lot, each also the only option of one other user
    a = np.array([0, 0, 1])
    b = np.array([1, 2, 3])
    scores = np.array([95.0, 80.0, 80.0])
    caps = np.array([1, 1, 1, 1])
    alloc = allocate(a, b, scores, caps=caps, congestion=0.0)
    assert alloc.coverage == 1.0  # (0,2) and (1,3) rather than just (0,1)
    assert sorted(alloc.selected.tolist()) == [1, 2]


def test_boost_gives_new_users_priority() -> None:
    a = np.array([0, 0])
    b = np.array([1, 2])
    scores = np.array([85.0, 80.0])
    plain = allocate(a, b, scores, caps=np.array([1, 1, 1]))
    boosted = allocate(a, b, scores, caps=np.array([1, 1, 1]), boost=np.array([False, False, True]))
    assert plain.selected.tolist() == [0]
    assert boosted.selected.tolist() == [1]


def test_gini_and_check_report_as_data() -> None:
    assert gini(np.array([1, 1, 1])) == 0.0
    assert gini(np.array([0, 0, 0, 4])) == pytest.approx(0.75)
    a, b, s = np.array([0, 0]), np.array([1, 1]), np.array([60.0, 90.0])
    rules = {v.rule for v in check(a, b, s, np.array([0, 1]), caps=np.array([1, 5]))}
    assert rules == {"min_score", "duplicate", "cap"}


def test_bad_input_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="method"):
        allocate(np.array([0]), np.array([1]), np.array([80.0]), caps=np.array([1, 1]), method="random")
    with pytest.raises(InvalidInputError, match="pair rows"):
        allocate(np.array([0]), np.array([5]), np.array([80.0]), caps=np.array([1, 1]))

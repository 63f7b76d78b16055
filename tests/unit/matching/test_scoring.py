"""Scoring: reciprocal harmonic mean, importance from both sides, completeness, sources, explanations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfectmatch.errors import InvalidInputError
from perfectmatch.matching.scoring import (
    age_fit,
    block_similarities,
    directional_scores,
    explain,
    final_scores,
    preference_fit,
    reciprocal_scores,
)
from perfectmatch.models import Dimension, ScoreSource

DIMS = [d.value for d in Dimension]
unit = st.floats(0.0, 1.0)
weights = st.lists(st.floats(0.1, 1.0), min_size=5, max_size=5)


def _dims(values: list[float]) -> dict[str, np.ndarray]:
    return {d: np.array([v]) for d, v in zip(DIMS, values, strict=True)}


@settings(max_examples=60, deadline=None)
@given(st.lists(unit, min_size=5, max_size=5), weights, weights)
def test_reciprocal_is_symmetric_bounded_and_below_both_means(sims, wa, wb) -> None:  # type: ignore[no-untyped-def]
    d = _dims(sims)
    ab = reciprocal_scores(d, np.array([wa]), np.array([wb]))[0]
    ba = reciprocal_scores(d, np.array([wb]), np.array([wa]))[0]
    assert ab == pytest.approx(ba)
    assert 0.0 <= ab <= 1.0
    e = explain(dict(zip(DIMS, sims, strict=True)), wa, wb, completeness_a=1.0, completeness_b=1.0)
    assert ab <= (e.a_to_b + e.b_to_a) / 2 + 1e-12
    assert ab == pytest.approx(e.vector)


def test_importance_of_each_side_counts() -> None:
    d = _dims([1.0, 0.0, 0.5, 0.5, 0.5])
    cares_rc = np.array([[1.0, 0.1, 0.1, 0.1, 0.1]])
    cares_cs = np.array([[0.1, 1.0, 0.1, 0.1, 0.1]])
    both_rc = reciprocal_scores(d, cares_rc, cares_rc)[0]
    mixed = reciprocal_scores(d, cares_rc, cares_cs)[0]
    assert both_rc > mixed  # one side weighs the dimension they disagree on


def test_harmonic_mean_is_dominated_by_the_weaker_side() -> None:
    d = _dims([1.0, 1.0, 1.0, 1.0, 0.0])
    e = explain({k: float(v[0]) for k, v in d.items()}, [0.1, 0.1, 0.1, 0.1, 1.0], [1, 1, 1, 1, 0.1],
                completeness_a=1.0, completeness_b=1.0)
    assert e.vector < (e.a_to_b + e.b_to_a) / 2
    assert e.vector < np.sqrt(e.a_to_b * e.b_to_a)


def test_final_scores_blend_ai_and_mark_the_source() -> None:
    vector = np.array([0.8, 0.8, 0.8])
    ai = np.array([90.0, np.nan, 50.0])
    final, source = final_scores(vector, ai, np.array([1.0, 0.8, 0.9]), np.array([0.9, 1.0, 1.0]),
                                 ["llm", None, "fallback"])
    assert final[0] == pytest.approx(0.9 * (0.7 * 90 + 0.3 * 80))
    assert final[1] == pytest.approx(0.8 * 80)
    assert final[2] == pytest.approx(0.9 * (0.7 * 50 + 0.3 * 80))
    assert source.tolist() == [ScoreSource.LLM.value, ScoreSource.VECTOR.value, ScoreSource.FALLBACK.value]
    assert ((final >= 0) & (final <= 100)).all()


def test_explanation_lists_factors_and_matches_the_vectorised_score() -> None:
    sims = {"RC": 0.9, "CS": 0.7, "EI": 0.6, "LC": 0.4, "CV": 0.95}
    e = explain(sims, [1, 0.5, 0.5, 0.2, 1], [0.8, 0.8, 0.3, 0.3, 1], completeness_a=0.85,
                completeness_b=0.95, text=0.7, ai=82.0, ai_source="cache")
    vec = reciprocal_scores({k: np.array([v]) for k, v in sims.items()}, np.array([[1, 0.5, 0.5, 0.2, 1]]),
                            np.array([[0.8, 0.8, 0.3, 0.3, 1]]), text=np.array([0.7]))
    final, _ = final_scores(vec, np.array([82.0]), np.array([0.85]), np.array([0.95]), ["cache"])
    assert e.final == pytest.approx(final[0])
    assert e.source is ScoreSource.CACHE and e.completeness == 0.85
    assert {f.name for f in e.factors} >= {*DIMS, "TEXT", "AI", "completeness"}
    assert [f.name for f in e.top(2)] == ["CV", "RC"]


def test_block_similarities_per_slice() -> None:
    slices = {Dimension.RC: slice(0, 2), Dimension.CS: slice(2, 4)}
    a = np.array([[1.0, 0.0, 0.0, 1.0]])
    b = np.array([[1.0, 0.0, 0.0, -1.0]])
    out = block_similarities(a, b, slices)
    assert out["RC"][0] == pytest.approx(1.0) and out["CS"][0] == pytest.approx(0.0)
    assert np.isnan(block_similarities(a, np.zeros((1, 4)), slices)["RC"][0])  # unknown, not neutral


@given(st.lists(unit, min_size=5, max_size=5), weights, weights, st.lists(st.booleans(), min_size=5, max_size=5))
def test_unknown_dimensions_are_left_out_not_counted_neutral(sims, wa, wb, unknown) -> None:  # type: ignore[no-untyped-def]
    """A dimension one side left empty does not pull the score towards 0.5: the score equals the one
    computed on the known dimensions alone, and explain() agrees with it."""
    known = [d for d, u in zip(DIMS, unknown, strict=True) if not u]
    dims = {d: np.array([np.nan if u else v]) for d, v, u in zip(DIMS, sims, unknown, strict=True)}
    got = reciprocal_scores(dims, np.array([wa]), np.array([wb]))[0]
    if not known:
        assert got == 0.0  # nothing known: no evidence for a match
        return
    keep = [i for i, u in enumerate(unknown) if not u]
    sub_a = np.array([[wa[i] for i in keep]])
    sub_b = np.array([[wb[i] for i in keep]])
    s = np.array([[sims[i] for i in keep]])
    s_ab = directional_scores(s, sub_a)[0]
    s_ba = directional_scores(s, sub_b)[0]
    assert got == pytest.approx(2 * s_ab * s_ba / (s_ab + s_ba) if s_ab + s_ba else 0.0)
    e = explain({d: float(v[0]) for d, v in dims.items()}, wa, wb, completeness_a=1.0, completeness_b=1.0)
    assert e.vector == pytest.approx(got)
    assert sum(f.weight for f in e.factors if f.name in DIMS) == pytest.approx(1.0)
    assert all(f.contribution == 0.0 for f in e.factors if f.name in DIMS and f.name not in known)


def test_unknown_text_is_left_out() -> None:
    dims = {d: np.array([0.8]) for d in DIMS}
    imp = np.ones((1, 5))
    without = reciprocal_scores(dims, imp, imp)
    assert reciprocal_scores(dims, imp, imp, text=np.array([np.nan])) == pytest.approx(without)
    assert reciprocal_scores(dims, imp, imp, text=np.array([0.5]))[0] < without[0]


def test_missing_dimension_is_named() -> None:
    with pytest.raises(InvalidInputError, match="CV"):
        reciprocal_scores({d: np.ones(1) for d in DIMS[:4]}, np.ones((1, 5)), np.ones((1, 5)))


def test_age_fit_peaks_in_the_middle_of_the_range() -> None:
    got = age_fit(np.array([30.0, 25.0, 35.0, 40.0, np.nan, 30.0, 31.0]),
                  np.array([25.0, 25.0, 25.0, 25.0, 25.0, 30.0, 30.0]),
                  np.array([35.0, 35.0, 35.0, 35.0, 35.0, 30.0, 30.0]))
    np.testing.assert_allclose(got[:4], [1.0, 0.0, 0.0, 0.0])
    assert np.isnan(got[4]) and got[5] == 1.0 and got[6] == 0.0  # unknown age; a one-year range
    assert age_fit(np.array([28.0]), np.array([25.0]), np.array([35.0]))[0] == pytest.approx(0.6)


def test_preference_fit_weighs_the_partners_levels_by_what_the_user_wants() -> None:
    wants = np.array([[3.0, 1.0], [3.0, 1.0], [0.0, 0.0], [1.0, 1.0]])
    levels = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [np.nan, 0.2]])
    got = preference_fit(wants, levels)
    np.testing.assert_allclose(got[[0, 1, 3]], [0.75, 0.25, 0.2])  # an unknown level is left out
    assert np.isnan(got[2])  # wants nothing: no fit to measure
    with pytest.raises(InvalidInputError, match="matching"):
        preference_fit(wants, levels[:, :1])


def test_fit_terms_count_like_a_dimension_of_average_importance_in_one_direction() -> None:
    dims = {d: np.array([0.6]) for d in DIMS}
    imp_a, imp_b = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]]), np.ones((1, 5))
    fit_a = np.array([[1.0, np.nan]])  # b is exactly what a asked for; the second term is unknown
    s_ab = directional_scores(np.full((1, 5), 0.6), imp_a, fit=fit_a)[0]
    assert s_ab == pytest.approx((15 * 0.6 + 3 * 1.0) / 18)
    got = reciprocal_scores(dims, imp_a, imp_b, fit_a=fit_a)[0]
    assert got == pytest.approx(2 * s_ab * 0.6 / (s_ab + 0.6))
    assert reciprocal_scores(dims, imp_a, imp_b, fit_a=np.array([[np.nan, np.nan]]))[0] == pytest.approx(0.6)
    e = explain({d: 0.6 for d in DIMS}, imp_a[0], imp_b[0], completeness_a=1.0, completeness_b=1.0,
                fit_a=[1.0, np.nan], text=0.5)
    assert e.vector == pytest.approx(reciprocal_scores(dims, imp_a, imp_b, fit_a=fit_a, text=np.array([0.5]))[0])
    assert e.a_to_b > e.b_to_a
    named = {f.name: f for f in e.factors}
    assert named["FIT_A0"].weight == pytest.approx(3 / 18 / 2 * 0.8) and named["FIT_A1"].contribution == 0.0

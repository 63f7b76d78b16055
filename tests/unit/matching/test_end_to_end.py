"""Prefilter -> candidates -> scores -> distribution over two days, as properties."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from popgen import TODAY, exclusions, frames, vectors

from perfectmatch.frame import pair_keys
from perfectmatch.matching.candidates import exact_candidates
from perfectmatch.matching.distribution import allocate, check
from perfectmatch.matching.prefilter import build_rules, is_compatible, mutual_mask
from perfectmatch.matching.scoring import final_scores, reciprocal_scores
from perfectmatch.models import Dimension


def _day(frame, vecs, excluded, method: str, caps):  # type: ignore[no-untyped-def]
    rules = build_rules(frame, day=TODAY, excluded=excluded)
    a, b, cos = exact_candidates(frame, vecs, rules, k=4, threshold=0.0).pairs()
    sim = (1.0 + cos) / 2.0
    dims = {d.value: sim for d in Dimension}
    ones = np.ones((a.size, 5))
    vector = reciprocal_scores(dims, ones, ones)
    final, _ = final_scores(vector, np.full(a.size, np.nan), np.ones(a.size), np.ones(a.size))
    alloc = allocate(a, b, final, caps=caps, excluded=excluded, ids=frame.ids, method=method)
    return rules, a, b, final, alloc


@settings(max_examples=25, deadline=None)
@given(st.data(), st.sampled_from(["global", "greedy"]))
def test_delivered_pairs_pass_every_rule_and_are_never_repeated(data: st.DataObject, method: str) -> None:
    frame = data.draw(frames(max_n=25))
    vecs = data.draw(vectors(len(frame)))
    caps = np.where(frame.tier == 1, 3, 1)
    excluded = data.draw(exclusions(frame))
    delivered: list[int] = []
    for _ in range(2):  # two batch days; day two excludes what day one delivered
        rules, a, b, final, alloc = _day(frame, vecs, excluded, method, caps)
        sel = alloc.selected
        compatible = mutual_mask(frame, rules, a, b)
        assert check(a, b, final, sel, caps=caps, excluded=excluded, ids=frame.ids, compatible=compatible) == []
        assert (final[sel] >= 70.0).all()
        for x, y in zip(a[sel].tolist(), b[sel].tolist(), strict=True):
            assert is_compatible(frame, x, y, TODAY, excluded=excluded.tolist())
            assert is_compatible(frame, y, x, TODAY, excluded=excluded.tolist())
        keys = pair_keys(frame.ids[a[sel]], frame.ids[b[sel]]).tolist()
        assert not set(keys) & set(delivered)
        delivered += keys
        excluded = np.unique(np.concatenate([excluded, np.array(keys, dtype=np.int64)]))


def test_a_realistic_day_delivers_within_caps_and_reports_fairness() -> None:
    from popgen import random_frame, random_vectors

    frame = random_frame(400, seed=2)
    vecs = random_vectors(400, seed=2)
    caps = np.where(frame.tier == 1, 50, 10)
    results = {}
    for method in ("global", "greedy"):
        rules, a, b, final, alloc = _day(frame, vecs, np.zeros(0, np.int64), method, caps)
        assert alloc.selected.size > 50
        assert check(a, b, final, alloc.selected, caps=caps, compatible=mutual_mask(frame, rules, a, b)) == []
        results[method] = alloc
    # the staged global assignment covers at least as many eligible users as per-user greedy here
    assert results["global"].coverage >= results["greedy"].coverage

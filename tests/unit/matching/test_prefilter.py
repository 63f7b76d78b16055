"""Prefilter: the vectorised mask equals the model-based reference, and it is symmetric."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from popgen import TODAY, exclusions, frames

from perfectmatch.frame import GOALS
from perfectmatch.matching.prefilter import (
    GOAL_COMPATIBLE,
    active_mask,
    build_rules,
    goals_compatible,
    haversine_km,
    is_compatible,
    mutual_mask,
)
from perfectmatch.models import RelationshipGoal


def test_goal_table_is_symmetric_and_matches_pairs() -> None:
    assert (GOAL_COMPATIBLE == GOAL_COMPATIBLE.T).all()
    for a, ga in enumerate(GOALS):
        for b, gb in enumerate(GOALS):
            assert GOAL_COMPATIBLE[a, b] == goals_compatible(ga, gb)
    assert goals_compatible(RelationshipGoal.MARRIAGE, RelationshipGoal.LONG_TERM)
    assert not goals_compatible(RelationshipGoal.MARRIAGE, RelationshipGoal.CASUAL)


def test_haversine_known_distance() -> None:
    # New York City Hall to Philadelphia City Hall: about 129.6 km
    d = haversine_km(np.array(40.7128), np.array(-74.0060), np.array(39.9526), np.array(-75.1652))
    assert abs(float(d) - 129.6) < 1.0


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_mask_equals_reference_and_is_symmetric(data: st.DataObject) -> None:
    frame = data.draw(frames(max_n=12))
    excluded = data.draw(exclusions(frame))
    rules = build_rules(frame, day=TODAY, excluded=excluded)
    n = len(frame)
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    mask = mutual_mask(frame, rules, i, j)
    assert (mask == mask.T).all()
    assert not mask.diagonal().any()
    for a in range(n):
        for b in range(n):
            assert mask[a, b] == is_compatible(frame, a, b, TODAY, excluded=excluded.tolist()), (a, b)


@settings(max_examples=20, deadline=None)
@given(frames())
def test_active_mask_matches_user_model(frame) -> None:  # type: ignore[no-untyped-def]
    expected = [m.user.is_active_on(TODAY) for m in frame.members()]
    assert active_mask(frame, TODAY).tolist() == expected


@settings(max_examples=20, deadline=None)
@given(frames(max_n=10), st.floats(1.0, 4.0))
def test_wider_radius_never_removes_a_pair(frame, factor: float) -> None:  # type: ignore[no-untyped-def]
    rules = build_rules(frame, day=TODAY)
    wide = rules.with_radius(frame.radius_km * factor)
    n = len(frame)
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    assert not (mutual_mask(frame, rules, i, j) & ~mutual_mask(frame, wide, i, j)).any()

"""Hypothesis strategies for small populations with many compatible pairs, ties and exclusions."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
from hypothesis import strategies as st

from perfectmatch.frame import PopulationFrame, day_number, pair_keys

TODAY = date.today()
DAY_S = 86_400


def _col(draw: st.DrawFn, n: int, elements: st.SearchStrategy) -> list:
    return draw(st.lists(elements, min_size=n, max_size=n))


@st.composite
def frames(draw: st.DrawFn, *, min_n: int = 2, max_n: int = 30) -> PopulationFrame:
    """A valid frame in one small region (so distances matter), all codes mixed."""
    n = draw(st.integers(min_n, max_n))
    ages = np.array(_col(draw, n, st.integers(18, 50)))
    birth = np.array([day_number(TODAY - timedelta(days=int(a) * 366 + 10)) for a in ages], dtype=np.int32)
    age_min = np.array(_col(draw, n, st.integers(18, 40)), dtype=np.int16)
    age_max = age_min + np.array(_col(draw, n, st.integers(0, 30)), dtype=np.int16)
    now = day_number(TODAY) * DAY_S
    created = np.full(n, now - 400 * DAY_S, dtype=np.int64)
    seen_days = np.array(_col(draw, n, st.sampled_from([0, 1, 5, 29, 30, 31, 60])), dtype=np.int64)
    return PopulationFrame(
        ids=np.array(draw(st.lists(st.integers(1, 10_000), min_size=n, max_size=n, unique=True)), dtype=np.int64),
        gender=np.array(_col(draw, n, st.integers(0, 2)), dtype=np.int8),
        seeks=np.array(_col(draw, n, st.integers(1, 7)), dtype=np.uint8),
        birth_day=birth,
        lat=np.array(_col(draw, n, st.floats(40.0, 40.6)), dtype=np.float64),
        lon=np.array(_col(draw, n, st.floats(-74.3, -73.6)), dtype=np.float64),
        radius_km=np.array(_col(draw, n, st.sampled_from([5.0, 15.0, 30.0, 60.0, 200.0])), dtype=np.float64),
        age_min=age_min,
        age_max=age_max,
        goal=np.array(_col(draw, n, st.integers(0, 4)), dtype=np.int8),
        tier=np.array(_col(draw, n, st.integers(0, 1)), dtype=np.int8),
        status=np.array(_col(draw, n, st.sampled_from([0, 0, 0, 0, 1, 2])), dtype=np.int8),
        created_at=created,
        last_active_at=now - seen_days * DAY_S,
        display_name=np.array([f"u{i}" for i in range(n)], dtype=object),
        place=np.array(["NYC"] * n, dtype=object),
        source=np.full(n, None, dtype=object),
        source_id=np.full(n, None, dtype=object),
    )


@st.composite
def vectors(draw: st.DrawFn, n: int, d: int = 6) -> np.ndarray:
    """``(n, d)`` L2-normalised float32 rows drawn from a few prototypes (duplicates make ties)."""
    protos = draw(st.lists(st.lists(st.integers(-1, 3), min_size=d, max_size=d).filter(any), min_size=1, max_size=6))
    pick = draw(st.lists(st.integers(0, len(protos) - 1), min_size=n, max_size=n))
    v = np.array([protos[p] for p in pick], dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@st.composite
def exclusions(draw: st.DrawFn, frame: PopulationFrame) -> np.ndarray:
    n = len(frame)
    pairs = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=10))
    if not pairs:
        return np.zeros(0, np.int64)
    a, b = np.array(pairs).T
    return pair_keys(frame.ids[a], frame.ids[b])


def random_frame(n: int, seed: int = 0, *, spread_deg: float = 0.5) -> PopulationFrame:
    """A seeded frame for example-based tests (hypothesis tests use :func:`frames`)."""
    rng = np.random.default_rng(seed)
    ages = rng.integers(18, 50, n)
    now = day_number(TODAY) * DAY_S
    age_min = rng.integers(18, 35, n).astype(np.int16)
    return PopulationFrame(
        ids=np.arange(1, n + 1, dtype=np.int64),
        gender=rng.integers(0, 2, n).astype(np.int8),
        seeks=rng.choice([1, 2, 3], n).astype(np.uint8),
        birth_day=np.array([day_number(TODAY - timedelta(days=int(a) * 366 + 10)) for a in ages], dtype=np.int32),
        lat=40.3 + rng.random(n) * spread_deg,
        lon=-74.0 + rng.random(n) * spread_deg,
        radius_km=rng.choice([20.0, 50.0, 100.0], n),
        age_min=age_min,
        age_max=(age_min + rng.integers(5, 30, n)).astype(np.int16),
        goal=rng.integers(0, 5, n).astype(np.int8),
        tier=(rng.random(n) < 0.2).astype(np.int8),
        status=np.zeros(n, np.int8),
        created_at=now - rng.integers(1, 30, n) * DAY_S,
        last_active_at=np.full(n, now, dtype=np.int64),
        display_name=np.array([f"u{i}" for i in range(n)], dtype=object),
        place=np.array(["NYC"] * n, dtype=object),
        source=np.full(n, None, dtype=object),
        source_id=np.full(n, None, dtype=object),
    )


def random_vectors(n: int, d: int = 16, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = (np.abs(rng.normal(size=d)) + rng.normal(size=(n, d)) * 0.6).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)

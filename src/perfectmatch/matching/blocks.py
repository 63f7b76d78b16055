"""Prefilter-compatible partitions: blocks of users that share class, geo cell and age band.

A *class* is (gender, genders sought, goal): two classes are compatible or not as a whole. Within
compatible classes, two blocks can hold a compatible pair only if their age ranges fit each other's
wanted ranges and the distance between them can be within both radii; :func:`block_pairs` tests
exactly these necessary conditions, so every compatible user pair lies in a listed block pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perfectmatch.frame import PopulationFrame
from perfectmatch.matching.prefilter import EARTH_RADIUS_KM, GOAL_COMPATIBLE, PairRules, haversine_km, unit_vectors

KM_PER_DEG = 111.195
_MAX_TEST_ENTRIES = 4_000_000


@dataclass(frozen=True)
class Blocks:
    """Active users sorted into blocks.

    Attributes
    ----------
    rows
        ``(m,)`` frame rows of the active users, sorted by (class, cell, age band, age).
    start, stop
        ``(n_blocks,)`` block ``b`` is ``rows[start[b]:stop[b]]``.
    klass
        ``(n_blocks,)`` class id per block (index into ``class_gender`` etc.).
    age_lo, age_hi, want_lo, want_hi
        Age range of the members and the union of the age ranges they want.
    lat, lon, span_km, radius_km
        Centre of the block's bounding box, largest member distance to it, largest radius.
    """

    rows: np.ndarray
    start: np.ndarray
    stop: np.ndarray
    klass: np.ndarray
    class_gender: np.ndarray
    class_seeks: np.ndarray
    class_goal: np.ndarray
    age_lo: np.ndarray
    age_hi: np.ndarray
    want_lo: np.ndarray
    want_hi: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    span_km: np.ndarray
    radius_km: np.ndarray

    def __len__(self) -> int:
        return int(self.start.shape[0])

    @property
    def sizes(self) -> np.ndarray:
        return self.stop - self.start


def geo_cells(lat: np.ndarray, lon: np.ndarray, cell_km: float) -> tuple[np.ndarray, np.ndarray]:
    """Geo cell ``(cy, cx)`` of each point: latitude bands of ``cell_km``, longitude cells of about
    ``cell_km`` (the blocks' cells; the Dask engine assigns whole cells to partitions)."""
    deg = cell_km / KM_PER_DEG
    cy = np.floor((lat + 90.0) / deg).astype(np.int64)
    shrink = np.maximum(np.cos(np.radians(np.minimum((cy + 0.5) * deg - 90.0, 89.0))), 0.05)
    cx = np.floor((lon + 180.0) * shrink / deg).astype(np.int64)
    return cy, cx


def partition(frame: PopulationFrame, rules: PairRules, *, cell_km: float = 40.0, age_band: int = 6) -> Blocks:
    """Sort the active users of ``frame`` into blocks.

    Parameters
    ----------
    frame, rules
        The population and its prefilter inputs (only ``rules.active`` rows are placed).
    cell_km
        Side of a geo cell (latitude bands of ``cell_km``, longitude cells of about ``cell_km``).
    age_band
        Width in years of an age band.
    """
    rows = np.flatnonzero(rules.active).astype(np.int64)
    cy, cx = geo_cells(frame.lat[rows], frame.lon[rows], cell_km)
    code = (frame.gender[rows].astype(np.int64) * 256 + frame.seeks[rows].astype(np.int64)) * 16 + frame.goal[rows]
    classes, klass = np.unique(code, return_inverse=True)
    ages = rules.ages[rows].astype(np.int64)
    band = ages // max(age_band, 1)
    # by age within a block too: consecutive rows (one matrix product's queries) then share an age,
    # which lets the blocked engine drop the targets none of them can pair with (chunk_targets)
    order = np.lexsort((ages, band, cx, cy, klass))
    rows, klass, cy, cx, band, ages = rows[order], klass[order], cy[order], cx[order], band[order], ages[order]
    lat, lon = frame.lat[rows], frame.lon[rows]
    if rows.size == 0:
        empty_i = np.zeros(0, np.int64)
        empty_f = np.zeros(0, np.float64)
        return Blocks(rows, empty_i, empty_i, empty_i, empty_i, empty_i, empty_i, empty_i, empty_i, empty_i,
                      empty_i, empty_f, empty_f, empty_f, empty_f)
    new = np.ones(rows.size, dtype=bool)
    new[1:] = (klass[1:] != klass[:-1]) | (cy[1:] != cy[:-1]) | (cx[1:] != cx[:-1]) | (band[1:] != band[:-1])
    start = np.flatnonzero(new)
    stop = np.append(start[1:], rows.size)
    lat_c = (np.minimum.reduceat(lat, start) + np.maximum.reduceat(lat, start)) / 2
    lon_c = (np.minimum.reduceat(lon, start) + np.maximum.reduceat(lon, start)) / 2
    sizes = stop - start
    d = haversine_km(np.repeat(lat_c, sizes), np.repeat(lon_c, sizes), lat, lon)
    return Blocks(
        rows=rows,
        start=start,
        stop=stop,
        klass=klass[start],
        class_gender=classes // (256 * 16),
        class_seeks=(classes // 16) % 256,
        class_goal=classes % 16,
        age_lo=np.minimum.reduceat(ages, start),
        age_hi=np.maximum.reduceat(ages, start),
        want_lo=np.minimum.reduceat(frame.age_min[rows], start).astype(np.int64),
        want_hi=np.maximum.reduceat(frame.age_max[rows], start).astype(np.int64),
        lat=lat_c,
        lon=lon_c,
        span_km=np.maximum.reduceat(d, start) * (1 + 1e-9) + 1e-6,
        radius_km=np.maximum.reduceat(rules.radius_km[rows], start),
    )


def _arc_km(dots: np.ndarray) -> np.ndarray:
    """Great-circle distances from dot products of unit vectors, slightly underestimated (by at
    most a metre) so that they stay lower bounds despite rounding."""
    return np.maximum(np.arccos(np.clip(dots, -1.0, 1.0)) * EARTH_RADIUS_KM - 1e-3, 0.0)


def class_pairs(blocks: Blocks) -> np.ndarray:
    """``(n_classes, n_classes)`` bool: genders sought both ways and goals compatible."""
    g, s, goal = blocks.class_gender, blocks.class_seeks, blocks.class_goal
    want = ((s[:, None] >> g[None, :]) & 1).astype(bool)
    return want & want.T & GOAL_COMPATIBLE[goal[:, None], goal[None, :]]


def block_pairs(blocks: Blocks, query: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All block pairs ``(q, t)`` that may hold a mutually compatible user pair.

    Parameters
    ----------
    blocks
        The partition.
    query
        Restrict the first member to these blocks (default all).

    Returns
    -------
    (q, t)
        int64 arrays sorted by ``q`` then ``t``; both directions are listed.
    """
    nb = len(blocks)
    qmask = np.ones(nb, dtype=bool) if query is None else np.isin(np.arange(nb), query)
    cp = class_pairs(blocks)
    cls_start = np.flatnonzero(np.r_[True, blocks.klass[1:] != blocks.klass[:-1]]) if nb else np.zeros(0, np.int64)
    cls_stop = np.append(cls_start[1:], nb)
    cls_ids = blocks.klass[cls_start]
    unit = unit_vectors(blocks.lat, blocks.lon)
    out_q, out_t = [], []
    for a in range(cls_ids.size):
        q_all = np.arange(cls_start[a], cls_stop[a])
        q_all = q_all[qmask[q_all]]
        for b in np.flatnonzero(cp[cls_ids[a], cls_ids]) if q_all.size else ():
            tb = np.arange(cls_start[b], cls_stop[b])
            step = max(1, _MAX_TEST_ENTRIES // max(tb.size, 1))  # bounds the temporaries' memory
            for lo in range(0, q_all.size, step):
                qa = q_all[lo : lo + step]
                q, t = qa[:, None], tb[None, :]
                ok = (blocks.age_hi[t] >= blocks.want_lo[q]) & (blocks.age_lo[t] <= blocks.want_hi[q])
                ok &= (blocks.age_hi[q] >= blocks.want_lo[t]) & (blocks.age_lo[q] <= blocks.want_hi[t])
                dist = _arc_km(unit[qa] @ unit[tb].T)
                ok &= dist - blocks.span_km[q] - blocks.span_km[t] <= np.minimum(blocks.radius_km[q],
                                                                                 blocks.radius_km[t])
                qi, ti = np.nonzero(ok)
                out_q.append(qa[qi])
                out_t.append(tb[ti])
    if not out_q:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    q, t = np.concatenate(out_q), np.concatenate(out_t)
    order = np.lexsort((t, q))
    return q[order], t[order]

"""The Dask engine: exact candidates computed by geographic partitions on a Dask cluster.

Users are partitioned by geography: the unit is a *tile*, the users of one class in one geo cell
(whole blocks of the blocked engine); tiles are grouped into regions that no compatible pair
crosses, regions packed into partitions balanced by an estimate of their pair work, regions too
large for one partition cut along their longer axis (a crowded cell between its classes), then
tiles moved between partitions while that lowers the busiest one's load. Each partition is
shipped once to a worker as compact numpy arrays: its *owned* users plus a *halo*, every active
user who may be a compatible partner of an owned user under radii up to the expansion cap. The
worker runs the blocked engine's own units (:mod:`blocked`) over the owned blocks, covering each
owned-owned block pair once and each owned-halo pair of a higher-numbered partition's halo once,
for both sides (a pair across two partitions is computed once, as in one process), and returns
the owned users' top-``k`` lists and the halo users' best entries, then, in the same task, every
compatible partner of its owned users left short under their widest radii (one pass, no round
trip to the client); the client merges the lists into one global :class:`Candidates` and derives
the expansion rounds from those partners with the local engine's own loop
(:func:`candidates.expand_candidates`). The sub-populations keep the global row order, so ranking
ties (similarity, then partner row) break the same way: the result is identical to
:func:`candidates.generate_with_expansion`, not an approximation.

AI analysis and the global distribution stay in the client process (one rate limiter, one b-matching).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from perfectmatch.errors import ConfigError
from perfectmatch.frame import PopulationFrame
from perfectmatch.matching.blocked import _COMPACT_ENTRIES, exact_survivors
from perfectmatch.matching.blocks import geo_cells
from perfectmatch.matching.candidates import unit_dots
from perfectmatch.matching.pairs import Candidates, concat_ranges, grid_vectors, top_k_triples
from perfectmatch.matching.prefilter import (
    EARTH_RADIUS_KM,
    GOAL_COMPATIBLE,
    PairRules,
    RadiusExpansion,
    haversine_km,
    unit_vectors,
)

_FRAME_COLUMNS = ("ids", "gender", "seeks", "birth_day", "lat", "lon", "radius_km", "age_min", "age_max", "goal")
_RULE_COLUMNS = ("ages", "active", "radius_km", "unit", "cos_radius")
_CELL_CHUNK = 2048


@dataclass(frozen=True)
class Partition:
    """One partition: ``owned`` frame rows it computes lists for, ``members`` the rows it needs
    (owned plus halo), both sorted; ``work`` is the load estimate it was balanced on. Of a pair
    across two partitions, the lower-numbered one computes the first-pass similarity for both sides:
    ``skip`` (sorted) are the halo rows owned by lower partitions, no first-pass targets here."""

    owned: np.ndarray
    members: np.ndarray
    work: float
    skip: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def halo(self) -> int:
        return int(self.members.size - self.owned.size)


@dataclass
class EngineTimings:
    """Where the Dask engine's time went (seconds), for the batch report and the benchmark."""

    partition_s: float = 0.0
    scatter_s: float = 0.0
    compute_s: float = 0.0  # from submitting the tasks to the last result gathered
    worker_s: list[float] = field(default_factory=list)  # each task's first pass, on its worker (wall)
    merge_s: float = 0.0
    expansion_s: float = 0.0  # the client's expansion rounds (the pass itself runs in the tasks)
    expansion_worker_s: list[float] = field(default_factory=list)  # each task's expansion pass (wall)
    worker_cpu_s: list[float] = field(default_factory=list)  # CPU seconds of each task's first pass
    expansion_worker_cpu_s: list[float] = field(default_factory=list)  # CPU seconds of each task's expansion pass
    busiest_cpu_s: float = 0.0  # CPU seconds of the busiest worker process (its tasks, both passes)
    busiest_s: float = 0.0  # wall seconds of the busiest worker process's tasks
    worker_cpu_total_s: float = 0.0  # CPU seconds of all tasks together
    halo_users: int = 0
    owned_users: int = 0
    widened_users: int = 0  # owned users the workers ran the expansion pass for (the rows the rounds widen)

    def record(self, results: list[dict[str, Any]]) -> None:
        """Take the tasks' own timings, summed per worker process for the busiest one."""
        per_process: dict[int, list[float]] = {}
        for res in results:
            wall = res["seconds"] + res.get("expansion_seconds", 0.0)
            cpu = res["cpu_s"] + res.get("expansion_cpu_s", 0.0)
            self.worker_s.append(float(res["seconds"]))
            self.worker_cpu_s.append(float(res["cpu_s"]))
            self.expansion_worker_s.append(float(res.get("expansion_seconds", 0.0)))
            self.expansion_worker_cpu_s.append(float(res.get("expansion_cpu_s", 0.0)))
            self.worker_cpu_total_s += cpu
            self.widened_users += int(res.get("widened", 0))
            busy = per_process.setdefault(res.get("pid", id(res)), [0.0, 0.0])
            busy[0] += wall
            busy[1] += cpu
        self.busiest_s = max((w for w, _ in per_process.values()), default=0.0)
        self.busiest_cpu_s = max((c for _, c in per_process.values()), default=0.0)

    @property
    def overhead_s(self) -> float:
        """Coordination: partitioning, shipping, scheduling, merging and the client's expansion rounds,
        i.e. the time not spent in the busiest worker process's own computation."""
        return (self.partition_s + self.scatter_s + max(self.compute_s - self.busiest_s, 0.0) + self.merge_s
                + self.expansion_s)

    def as_dict(self) -> dict[str, Any]:
        return {
            "partition_s": round(self.partition_s, 3),
            "scatter_s": round(self.scatter_s, 3),
            "compute_s": round(self.compute_s, 3),
            "worker_s": [round(s, 3) for s in self.worker_s],
            "merge_s": round(self.merge_s, 3),
            "expansion_s": round(self.expansion_s, 3),
            "expansion_worker_s": [round(s, 3) for s in self.expansion_worker_s],
            "worker_cpu_s": [round(s, 3) for s in self.worker_cpu_s],
            "expansion_worker_cpu_s": [round(s, 3) for s in self.expansion_worker_cpu_s],
            "busiest_s": round(self.busiest_s, 3),
            "busiest_cpu_s": round(self.busiest_cpu_s, 3),
            "worker_cpu_total_s": round(self.worker_cpu_total_s, 3),
            "overhead_s": round(self.overhead_s, 3),
            "halo_users": self.halo_users,
            "widened_users": self.widened_users,
            "owned_users": self.owned_users,
        }


# ---------------------------------------------------------------------------------- partitioning
@dataclass(frozen=True)
class _Cells:
    """Active users grouped by geo cell: ``rows`` sorted by cell, cell ``c`` is
    ``rows[start[c]:stop[c]]``; centre, span (farthest member) and largest radius per cell."""

    rows: np.ndarray
    start: np.ndarray
    stop: np.ndarray
    cy: np.ndarray
    cx: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    span_km: np.ndarray
    radius_km: np.ndarray  # largest current radius
    reach_km: np.ndarray  # largest radius the halo must cover

    def __len__(self) -> int:
        return int(self.start.size)

    @property
    def sizes(self) -> np.ndarray:
        return self.stop - self.start

    @cached_property
    def unit(self) -> np.ndarray:
        """``(cells, 3)`` unit vectors of the cells' centres (the links, halos and work estimates use them)."""
        return unit_vectors(self.lat, self.lon)

    def cell_of_rows(self, n: int) -> np.ndarray:
        """``(n,)`` cell index of every frame row (-1 for inactive rows)."""
        out = np.full(n, -1, dtype=np.int64)
        out[self.rows] = np.repeat(np.arange(len(self)), self.sizes)
        return out


def _cells(frame: PopulationFrame, rules: PairRules, reach_km: np.ndarray, cell_km: float) -> _Cells:
    rows = np.flatnonzero(rules.active).astype(np.int64)
    cy, cx = geo_cells(frame.lat[rows], frame.lon[rows], cell_km)
    order = np.lexsort((cx, cy))
    rows, cy, cx = rows[order], cy[order], cx[order]
    if rows.size == 0:
        e_i, e_f = np.zeros(0, np.int64), np.zeros(0, np.float64)
        return _Cells(rows, e_i, e_i, e_i, e_i, e_f, e_f, e_f, e_f, e_f)
    new = np.r_[True, (cy[1:] != cy[:-1]) | (cx[1:] != cx[:-1])]
    start = np.flatnonzero(new)
    stop = np.append(start[1:], rows.size)
    lat, lon = frame.lat[rows], frame.lon[rows]
    lat_c = (np.minimum.reduceat(lat, start) + np.maximum.reduceat(lat, start)) / 2
    lon_c = (np.minimum.reduceat(lon, start) + np.maximum.reduceat(lon, start)) / 2
    d = haversine_km(np.repeat(lat_c, stop - start), np.repeat(lon_c, stop - start), lat, lon)
    return _Cells(
        rows=rows,
        start=start,
        stop=stop,
        cy=cy[start],
        cx=cx[start],
        lat=lat_c,
        lon=lon_c,
        span_km=np.maximum.reduceat(d, start) * (1 + 1e-9) + 1e-6,
        radius_km=np.maximum.reduceat(rules.radius_km[rows], start),
        reach_km=np.maximum.reduceat(reach_km[rows], start),
    )


def _lower_bound_km(dots: np.ndarray) -> np.ndarray:
    """Great-circle distance from unit-vector dot products, underestimated by a metre (a lower bound)."""
    return np.maximum(np.arccos(np.clip(dots, -1.0, 1.0)) * EARTH_RADIUS_KM - 1e-3, 0.0)


def _cell_links(cells: _Cells, radius_km: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All cell pairs ``(c, d)`` (both directions, ``c == d`` included) that may hold a pair of users
    within both users' radii: their distance, less both spans, within the smaller largest radius
    (``radius_km`` per cell)."""
    unit = cells.unit
    out_c, out_d = [], []
    for lo in range(0, len(cells), _CELL_CHUNK):
        c = np.arange(lo, min(lo + _CELL_CHUNK, len(cells)))
        dist = _lower_bound_km(unit[c] @ unit.T)
        reach = np.minimum(radius_km[c][:, None], radius_km[None, :])
        ok = dist - cells.span_km[c][:, None] - cells.span_km[None, :] <= reach
        ci, di = np.nonzero(ok)
        out_c.append(c[ci])
        out_d.append(di)
    if not out_c:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(out_c), np.concatenate(out_d).astype(np.int64)


def partition_users(
    frame: PopulationFrame,
    rules: PairRules,
    *,
    parts: int,
    reach_km: np.ndarray | None = None,
    cell_km: float = 40.0,
    tolerance: float = 1.1,
    min_pool: int = 0,
) -> list[Partition]:
    """Split the active users of ``frame`` into at most ``parts`` geographic partitions with halos.

    Every active user is owned by exactly one partition; a partition's halo holds every active
    user that may pass the distance prefilter (within both radii) with one of its owned users under
    radii up to ``reach_km``, so the owned users' candidates can be computed from the partition
    alone, also after radius expansion. A first-pass pair across two partitions is covered by the
    lower-numbered one only (``Partition.skip``), for both sides. Partitions are balanced on the
    estimated pair work of the first pass under ``rules.radius_km`` (cross pairs counted where they
    are computed) and, with ``reach_km`` and ``min_pool``, of the expansion pass (:class:`_Tiles`):
    an even cut first (:func:`_assign_tiles`), then improved by moving tiles (:func:`_refine`).

    Parameters
    ----------
    frame, rules
        The population and its prefilter inputs.
    reach_km
        ``(n,)`` largest radius each user may get (default ``rules.radius_km``: no expansion).
    parts
        Number of partitions wanted (fewer when there are fewer cells).
    cell_km
        Geo cell side; must equal the blocked engine's ``cell_km`` (whole blocks per partition).
    tolerance
        A region whose work exceeds ``tolerance`` times the per-partition share is cut.
    min_pool
        The expansion's minimum pool (0: balance on the first pass only).
    """
    if parts < 1:
        raise ValueError(f"parts must be >= 1, got {parts}")
    reach = rules.radius_km if reach_km is None else np.maximum(np.asarray(reach_km, np.float64), rules.radius_km)
    cells = _cells(frame, rules, reach, cell_km)
    if len(cells) == 0:
        return []
    src, dst = _cell_links(cells, cells.radius_km)
    tiles = _Tiles.of(frame, cells)
    wide = _cell_links(cells, cells.reach_km) if reach_km is not None else (src, dst)
    links = tiles.links(src, dst, rules)
    expansion = np.zeros(tiles.tile_cell.size)
    if reach_km is not None and min_pool > 0:
        expansion = tiles.expansion_work(rules, wide[0], wide[1], min_pool)
    work = np.asarray(links.sum(axis=1)).ravel() + expansion
    tile_owner = _assign_tiles(cells, src, dst, tiles.tile_cell, tiles.tile_code, work, parts, tolerance)
    tile_owner, loads = _refine(tile_owner, links, expansion, tiles.tile_cell)
    owner = tile_owner[tiles.tile_of]
    r = cells.rows
    row_owner = np.full(len(frame), -1, dtype=np.int64)
    row_owner[r] = owner
    src, dst = wide
    out = []
    for p in range(int(owner.max()) + 1):
        mine = owner == p
        owned = np.sort(r[mine])
        own_cells = np.unique(tiles.cell_row[mine])
        near = np.unique(dst[np.isin(src, own_cells)])  # cells that may hold a partner (own cells too)
        halo = _halo_rows(rules, reach, cells, own_cells, near)
        out.append(Partition(owned=owned, members=np.union1d(owned, halo), work=float(loads[p]),
                             skip=np.sort(halo[row_owner[halo] < p])))
    assert sum(p.owned.size for p in out) == r.size
    return out


@dataclass(frozen=True)
class _Tiles:
    """Tiles (one class in one cell) with what their work estimates need: the cell and class of
    every entry of ``cells.rows`` and of every tile."""

    cells: _Cells
    cell_row: np.ndarray
    code: np.ndarray
    tile_of: np.ndarray
    tile_cell: np.ndarray
    tile_code: np.ndarray

    @classmethod
    def of(cls, frame: PopulationFrame, cells: _Cells) -> _Tiles:
        """The tiles, the units a partition owns: the users of one class in one cell (whole blocks of
        the blocked engine), so that a crowded cell can still be shared between partitions."""
        cell_row = np.repeat(np.arange(len(cells)), cells.sizes)  # cell of each entry of cells.rows
        r = cells.rows
        code = (frame.gender[r].astype(np.int64) * 256 + frame.seeks[r].astype(np.int64)) * 16 + frame.goal[r]
        _, first, tile_of = np.unique(cell_row * (int(code.max()) + 1) + code, return_index=True,
                                      return_inverse=True)
        return cls(cells, cell_row, code, tile_of, cell_row[first], code[first])

    @property
    def sizes(self) -> np.ndarray:
        return np.bincount(self.tile_of, minlength=self.tile_cell.size).astype(np.float64)

    @cached_property
    def classes(self) -> tuple[np.ndarray, np.ndarray]:
        """``(classes, compat)``: the sorted class codes and which pairs of them are mutually
        compatible (gender wanted both ways, goals compatible)."""
        classes = np.unique(self.tile_code)  # every user's class is some tile's
        g, seeks, goal = classes // 4096, (classes // 16) % 256, classes % 16
        want = ((seeks[:, None] >> g[None, :]) & 1).astype(bool)
        return classes, want & want.T & GOAL_COMPATIBLE[goal[:, None], goal[None, :]]

    def compatible_near(self) -> tuple[np.ndarray, np.ndarray]:
        """``(cells, classes)`` users of each cell whose class is compatible with each class, and the
        class column of every tile."""
        classes, compat = self.classes
        count = np.zeros((len(self.cells), classes.size))
        np.add.at(count, (self.cell_row, np.searchsorted(classes, self.code)), 1.0)
        return count @ compat.astype(np.float64), np.searchsorted(classes, self.tile_code)

    def links(self, src: np.ndarray, dst: np.ndarray, rules: PairRules | None = None) -> Any:
        """Sparse symmetric ``(tiles, tiles)`` pair work of the first pass: the product of the two tiles'
        sizes where their classes are compatible and their cells linked (``src``, ``dst``); a row's
        sum is the tile's first-pass work. With ``rules``, a tile's partners in a linked cell count
        only as far as the blocked engine's row slices multiply them (``_reached``), averaged over
        the two directions."""
        from scipy.sparse import csr_matrix

        classes, compat = self.classes
        tile_class = np.searchsorted(classes, self.tile_code)
        m = len(self.cells)
        start = np.searchsorted(self.tile_cell, np.arange(m))  # tiles are sorted by cell
        count = np.searchsorted(self.tile_cell, np.arange(m), side="right") - start
        pairs = count[src] * count[dst]
        link = np.repeat(np.arange(src.size), pairs)
        off = concat_ranges(np.zeros_like(pairs), pairs)  # each link's tile pairs, numbered from 0
        t = start[src][link] + off // count[dst][link]
        u = start[dst][link] + off % count[dst][link]
        keep = compat[tile_class[t], tile_class[u]]
        t, u, link = t[keep], u[keep], link[keep]
        size = self.sizes
        n = self.tile_cell.size
        if rules is None:
            return csr_matrix((size[t] * size[u], (t, u)), shape=(n, n))
        one_way = csr_matrix((size[t] * self._reached(src, dst, rules, link, u), (t, u)), shape=(n, n))
        return (one_way + one_way.T) * 0.5

    def _reached(self, src: np.ndarray, dst: np.ndarray, rules: PairRules, link: np.ndarray, u: np.ndarray
                 ) -> np.ndarray:
        """Per (``link``, tile ``u`` in the link's ``dst`` cell): the tile's users that a row slice in the
        ``src`` cell keeps (``blocked._SortedSide.chunk_targets``' distance bound, with the cell for the
        slice: :func:`_within_reach` of it). Dense metros' links reach only part of a neighbouring cell."""
        cells = self.cells
        pos = concat_ranges(cells.start[dst], cells.stop[dst])
        of = np.repeat(np.arange(src.size), cells.sizes[dst])
        centre = cells.unit[src[of]]
        rows = cells.rows[pos]
        near = _within_reach(cells, src[of], np.einsum("ij,ij->i", rules.unit[rows], centre), rules.radius_km[rows],
                             cells.radius_km)
        n = self.tile_cell.size
        keys, got = np.unique(of[near] * n + self.tile_of[pos[near]], return_counts=True)
        want = link * n + u
        at = np.searchsorted(keys, want)
        hit = at < keys.size
        hit[hit] = keys[at[hit]] == want[hit]
        out = np.zeros(want.size)
        out[hit] = got[at[hit]]
        return out

    def _linked_sum(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Per tile, its compatible users in the cells linked to the tile's cell (``src``, ``dst``)."""
        near, tile_class = self.compatible_near()
        summed = np.zeros_like(near)
        np.add.at(summed, src, near[dst])
        return summed[self.tile_cell, tile_class]

    def expansion_work(self, rules: PairRules, src: np.ndarray, dst: np.ndarray, min_pool: int) -> np.ndarray:
        """Twice (each pair from the needy side only, against once for two users in the symmetric first
        pass) the tile's expected needy users times the compatible users within the widest links.

        A tile's needy share is estimated from its expected pool, the compatible users in cells whose
        centre is within the tile's mean radius: ``min(1, (36 min_pool / pool) ** 0.85)`` (the pool's
        similarity share is unknown before the first pass). The constants are fitted to the measured
        ratio of expansion to first-pass CPU on one worker of the simulated 100k, 300k and 1M
        populations (1.13, 0.52, 0.21; this estimate gives 1.14, 0.55, 0.22; the earlier square root,
        fitted on 100k and 300k only, gave 0.33 at 1M), against block-pair entries; against the
        reached-partner first pass of :meth:`links` with rules it is weighted ``_EXPANSION_WEIGHT``.
        Needy users cluster in sparse places and rare classes; used only to balance."""
        pools = np.maximum(self.expected_pools(rules), 1.0)
        share = np.minimum(1.0, (_NEEDY_POOL * min_pool / pools) ** _NEEDY_EXPONENT)
        return _EXPANSION_WEIGHT * 2.0 * self.sizes * share * self._linked_sum(src, dst)

    def expected_pools(self, rules: PairRules) -> np.ndarray:
        """Per tile, the compatible users in cells whose centre is within the tile's mean radius."""
        near, tile_class = self.compatible_near()
        unit = self.cells.unit
        radius = np.bincount(self.tile_of, weights=rules.radius_km[self.cells.rows]) / self.sizes
        pools = np.zeros(self.tile_cell.size)
        step = max(1, 4_000_000 // max(len(self.cells), 1))
        for lo in range(0, pools.size, step):
            t = slice(lo, lo + step)
            close = _lower_bound_km(unit[self.tile_cell[t]] @ unit.T) <= radius[t, None]  # (tiles, cells)
            pools[t] = (close * near[:, tile_class[t]].T).sum(axis=1)
        return pools


_NEEDY_POOL, _NEEDY_EXPONENT = 36.0, 0.85  # needy share of a tile from its expected pool, see _Tiles
#: The expansion estimate against the first pass's reached-partner estimate (``_Tiles.links`` with
#: rules): on 2 workers at 1M the expansion pass measured 58.6 CPU-s against 163.8 for the first pass
#: (0.358: halo users get their widest radius there), the estimates gave 0.274 unweighted.
_EXPANSION_WEIGHT = 1.3


def _assign_tiles(
    cells: _Cells,
    src: np.ndarray,
    dst: np.ndarray,
    tile_cell: np.ndarray,
    tile_code: np.ndarray,
    work: np.ndarray,
    parts: int,
    tolerance: float,
) -> np.ndarray:
    """Partition index per tile: connected regions of linked cells, oversized ones cut along their
    longer axis (a crowded cell between its classes), packed largest first into the least loaded."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    m = len(cells)
    graph = coo_matrix((np.ones(src.size, dtype=np.int8), (src, dst)), shape=(m, m))
    _, region = connected_components(graph, directed=False)
    tile_region = region[tile_cell]
    share = max(work.sum() / parts, 1.0)
    pieces: list[np.ndarray] = []
    for reg in np.unique(tile_region):
        members = np.flatnonzero(tile_region == reg)
        w = work[members].sum()
        if w <= tolerance * share or members.size == 1:
            pieces.append(members)
            continue
        # cut along the longer axis into pieces of about one share each
        ys, xs, cs = cells.cy[tile_cell[members]], cells.cx[tile_cell[members]], tile_code[members]
        order = np.lexsort((cs, ys, xs)) if np.ptp(xs) > np.ptp(ys) else np.lexsort((cs, xs, ys))
        cum = np.cumsum(work[members[order]])
        n_cut = int(np.ceil(w / share))
        cut = np.searchsorted(cum, w * np.arange(1, n_cut) / n_cut)
        pieces.extend(p for p in np.split(members[order], cut) if p.size)
    load = np.zeros(parts)
    owner = np.full(work.size, -1, dtype=np.int64)
    for piece in sorted(pieces, key=lambda p: (-work[p].sum(), int(p[0]))):
        p = int(np.argmin(load))
        owner[piece] = p
        load[p] += work[piece].sum()
    used = np.unique(owner)  # renumber the partitions actually used 0..
    return np.searchsorted(used, owner)


def _cost_weights(parts: int) -> np.ndarray:
    """``(parts, parts)`` what partition ``x`` pays for the pair work between its tiles and those of
    ``y``, in the doubled units of the work estimates (each pair counted from both tiles): its own
    pairs once for both sides (1), a pair with a higher partition's tile twice, as it computes it
    for both (2), a pair with a lower one's not at all (0). See :func:`partition_users`."""
    ix = np.arange(parts)
    return np.where(ix[None, :] > ix[:, None], 2.0, np.where(ix[None, :] == ix[:, None], 1.0, 0.0))


def _loads(expansion: np.ndarray, between: np.ndarray) -> np.ndarray:
    """Each partition's load from its ``expansion`` work and the ``(.., parts, parts)`` pair work
    ``between`` its tiles and each partition's (:func:`_cost_weights`)."""
    return expansion + (between * _cost_weights(between.shape[-1])).sum(axis=-1)


def _refine(owner: np.ndarray, links: Any, expansion: np.ndarray, tile_cell: np.ndarray, *,
            rounds: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Move tiles between partitions while that lowers the busiest partition's load (then the total).

    A cut through a dense metro makes much cross-partition pair work; the even cut of
    :func:`_assign_tiles` is improved by the best move, repeated, of a cell group (the tiles of one
    cell in one partition) or of a single tile to another partition, under :func:`_cost_weights`.
    Returns the owners (renumbered from 0, order kept) and each partition's load."""
    parts = int(owner.max()) + 1
    owner = owner.copy()
    links = links.tocsr()
    to_part = np.zeros((owner.size, parts))  # each tile's pair work with each partition's tiles
    for p in range(parts):
        to_part[:, p] = np.asarray(links[:, owner == p].sum(axis=1)).ravel()
    t_in, u_in = links.nonzero()
    same_cell = tile_cell[t_in] == tile_cell[u_in]
    t_in, u_in = t_in[same_cell], u_in[same_cell]
    v_in = np.asarray(links[t_in, u_in]).ravel()

    def state() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        between = np.stack([np.bincount(owner, weights=to_part[:, q], minlength=parts) for q in range(parts)], 1)
        e = np.bincount(owner, weights=expansion, minlength=parts)
        return e, between, _loads(e, between)

    for _ in range(rounds if parts > 1 else 0):
        e, between, loads = state()
        keys, g_of = np.unique(tile_cell * parts + owner, return_inverse=True)
        inside = owner[t_in] == owner[u_in]
        g_in = np.bincount(g_of[t_in[inside]], weights=v_in[inside], minlength=keys.size)
        g_to = np.stack([np.bincount(g_of, weights=to_part[:, q], minlength=keys.size) for q in range(parts)], 1)
        g_e = np.bincount(g_of, weights=expansion, minlength=keys.size)
        moves = [(*_best_move(e, between, g_e, g_to, keys % parts, g_in), True),
                 (*_best_move(e, between, expansion, to_part, owner, links.diagonal()), False)]
        score, i, q, group = min(moves, key=lambda m: m[0])
        busiest, total = loads.max(), loads.sum()
        if not (score[0] < busiest * (1 - 1e-4) or (score[0] <= busiest and score[1] < total * (1 - 1e-4))):
            break
        for t in np.flatnonzero(g_of == i) if group else [i]:
            lo, hi = links.indptr[t], links.indptr[t + 1]  # symmetric: row t is column t
            to_part[links.indices[lo:hi], owner[t]] -= links.data[lo:hi]
            to_part[links.indices[lo:hi], q] += links.data[lo:hi]
            owner[t] = q
    used = np.unique(owner)
    loads = state()[2]
    return np.searchsorted(used, owner), loads[used]


def _best_move(e: np.ndarray, between: np.ndarray, own_e: np.ndarray, to_part: np.ndarray, src: np.ndarray,
               inside: np.ndarray) -> tuple[tuple[float, float], int, int]:
    """The move of one candidate (a set of tiles in partition ``src``: its expansion work ``own_e``,
    its pair work ``to_part`` each partition and ``inside`` itself) to another partition that gives
    the least ``(busiest load, total load)``, from the partitions' expansion work ``e`` and pair work
    ``between``: ``(that pair, candidate, target partition)``."""
    n, parts = to_part.shape
    i = np.arange(n)
    best: tuple[tuple[float, float], int, int] = ((np.inf, np.inf), 0, 0)
    for q in range(parts):
        b = np.broadcast_to(between, (n, parts, parts)).copy()
        g = to_part.copy()  # the candidate's pair work with each partition once moved
        g[i, src] -= inside
        g[:, q] += inside
        b[i, src, :] -= to_part  # src loses the candidate's rows
        b[i, :, src] -= to_part
        b[i, src, src] += inside
        b[:, q, :] += g
        b[:, :, q] += g
        b[:, q, q] -= inside
        ee = np.broadcast_to(e, (n, parts)).copy()
        ee[i, src] -= own_e
        ee[:, q] += own_e
        loads = _loads(ee, b)
        busiest, total = loads.max(axis=1), loads.sum(axis=1)
        busiest[src == q] = np.inf  # staying put is no move
        c = int(np.lexsort((total, busiest))[0])
        if (busiest[c], total[c]) < best[0]:
            best = ((float(busiest[c]), float(total[c])), c, q)
    return best


def _halo_rows(rules: PairRules, reach_km: np.ndarray, cells: _Cells, mine: np.ndarray, near: np.ndarray) -> np.ndarray:
    """Rows of the ``near`` cells within reach of some owned cell: the user's distance to the owned
    cell's centre, less its span, within the smaller of the user's radius and the cell's largest."""
    if near.size == 0:
        return np.zeros(0, np.int64)
    rows = cells.rows[concat_ranges(cells.start[near], cells.stop[near])]
    unit_owned = cells.unit[mine]
    keep = np.zeros(rows.size, dtype=bool)
    step = max(1, 4_000_000 // max(mine.size, 1))
    for lo in range(0, rows.size, step):
        r = rows[lo : lo + step]
        keep[lo : lo + step] = _within_reach(cells, mine[None, :], rules.unit[r] @ unit_owned.T, reach_km[r][:, None],
                                             cells.reach_km).any(axis=1)
    return rows[keep]


def _within_reach(cells: _Cells, c: np.ndarray, dots: np.ndarray, radius_km: np.ndarray,
                  cell_radius_km: np.ndarray) -> np.ndarray:
    """Whether users (their unit-vector ``dots`` with the centres of cells ``c``, broadcast together)
    are within a cell's reach: the distance to its centre, less its span, within the smaller of the
    user's radius and the cell's largest (``cell_radius_km`` per cell). Any user within both radii of
    a member of the cell passes; the halo and the first pass's work estimate both rest on it."""
    return _lower_bound_km(dots) - cells.span_km[c] <= np.minimum(radius_km, cell_radius_km[c])


# ------------------------------------------------------------------------------- worker side
def pack(frame: PopulationFrame, vecs: np.ndarray, rules: PairRules, part: Partition) -> dict[str, Any]:
    """The compact arrays a worker needs for ``part`` (no ORM objects, no strings)."""
    rows = part.members
    ids = frame.ids[rows]
    excluded = rules.excluded
    if excluded.size:  # only the exclusions between two members can matter
        a, b = excluded >> 32, excluded & 0xFFFFFFFF
        excluded = excluded[np.isin(a, ids) & np.isin(b, ids)]
    return {
        "rows": rows,
        "owned": np.isin(rows, part.owned),
        "skip": np.isin(rows, part.skip),
        "frame": {c: getattr(frame, c)[rows] for c in _FRAME_COLUMNS},
        "rules": {**{c: getattr(rules, c)[rows] for c in _RULE_COLUMNS}, "excluded": excluded, "day": rules.day},
        "vecs": grid_vectors(vecs, rows).astype(np.int16),  # whole numbers below 4,096
    }


def _unpack(payload: dict[str, Any]) -> tuple[PopulationFrame, np.ndarray, PairRules]:
    cols = payload["frame"]
    m = cols["ids"].shape[0]
    zeros_i8, blank = np.zeros(m, np.int8), np.full(m, None, dtype=object)
    frame = PopulationFrame(
        **cols,
        tier=zeros_i8,
        status=zeros_i8,
        created_at=np.zeros(m, np.int64),
        last_active_at=np.zeros(m, np.int64),
        display_name=blank,
        place=blank,
        source=blank,
        source_id=blank,
    )
    return frame, payload["vecs"], PairRules(**payload["rules"])


def owned_survivors(
    frame: PopulationFrame,
    vecs: np.ndarray,
    rules: PairRules,
    owned: np.ndarray,
    *,
    threshold: float,
    k: int,
    cell_km: float = 40.0,
    age_band: int = 6,
    min_query: int = 64,
    threads: int | None = 1,
    buffer_entries: int = _COMPACT_ENTRIES,
    skip: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Directed triples ``(row, partner, sim)``: the top ``k`` of every ``owned`` row among its pairs
    with the rows outside ``skip``, and of every other row among its pairs with owned rows.

    The blocked engine's units, restricted to owned blocks as queries: a pair of owned blocks is
    covered once and credited to both sides (as in the symmetric engine), a pair of an owned and a
    halo block once, from the owned side, and credited to both (unless the halo block is in
    ``skip``: another partition covers it). Owned and skipped rows must fill whole blocks (whole tiles).
    """
    return exact_survivors(frame, vecs, rules, threshold=threshold, k=k, cell_km=cell_km, age_band=age_band,
                           min_query=min_query, threads=threads, buffer_entries=buffer_entries, owned=owned,
                           skip=skip)


@dataclass(frozen=True)
class ExpansionSpec:
    """What a worker needs to run the radius-expansion pass right after its first pass: the local
    engine's ``min_pool``, ``max_radius_km`` and ``factors`` (:func:`candidates.expansion_plan`)."""

    min_pool: int
    max_radius_km: float
    factors: tuple[float, ...]


def partition_task(
    payload: dict[str, Any],
    *,
    k: int,
    threshold: float,
    tuning: dict[str, Any],
    expansion: ExpansionSpec | None = None,
) -> dict[str, Any]:
    """Run on a worker: the top-``k`` lists of the partition's owned users among the pairs it covers,
    and the top ``k`` of its other members among their pairs with owned users, in global rows (the
    client merges them: :func:`_placed`); then (with ``expansion``) the expansion pass of its owned
    users whose list here is short (:func:`expansion_pass`), with no round trip to the client in
    between: each worker goes on as soon as its own first pass is done."""
    t0, c0 = time.perf_counter(), time.thread_time()
    frame, vecs, rules = _unpack(payload)
    owned, rows = payload["owned"], payload["rows"]
    r, c, s = owned_survivors(frame, vecs, rules, owned, threshold=threshold, k=k, skip=payload["skip"], **tuning)
    r, c, s, rank = top_k_triples(r, c, s, k=k)  # as to_candidates ranks them
    mine = owned[r]
    out = {
        "rows": rows[r[mine]],
        "slots": rank[mine].astype(np.int16 if k < 2**15 else np.int64),
        "partners": rows[c[mine]].astype(np.int32),
        "sims": s[mine],  # float64: the values the lists are ranked on
        "halo": (rows[r[~mine]], rows[c[~mine]].astype(np.int32), s[~mine]),  # sorted by row, best first
        "seconds": time.perf_counter() - t0,
        "cpu_s": time.thread_time() - c0,
        "pid": os.getpid(),
    }
    if expansion is not None:
        t1, c1 = time.perf_counter(), time.thread_time()
        counts = _list_lengths(frame, vecs, rules, np.bincount(r[mine], minlength=rows.size), owned,
                               payload["skip"], k=k, min_pool=expansion.min_pool, threshold=threshold, tuning=tuning)
        out["widened"] = int(_needy(rules, owned, counts, expansion).sum())
        out["expansion"] = expansion_pass(frame, vecs, rules, owned, counts, spec=expansion, threshold=threshold,
                                          tuning=tuning, rows=rows)
        out["expansion_seconds"], out["expansion_cpu_s"] = time.perf_counter() - t1, time.thread_time() - c1
    return out


def _list_lengths(frame: PopulationFrame, vecs: np.ndarray, rules: PairRules, here: np.ndarray, owned: np.ndarray,
                  skip: np.ndarray, *, k: int, min_pool: int, threshold: float,
                  tuning: dict[str, Any]) -> np.ndarray:
    """The final list length of every owned row whose list here (``here``: lengths) is shorter than
    ``min_pool`` (the others: at least ``min_pool``), so that the expansion pass runs for the rows
    the client will widen and no others: those rows' pairs with the ``skip`` rows (covered by lower
    partitions) are counted here, at their own radii, which costs far less than widening a row
    whose partners are mostly across a border."""
    short = owned & (here < min_pool)
    if not (short.any() and skip.any()):
        return here
    r, _, _ = exact_survivors(frame, vecs, rules, threshold=threshold, k=min_pool, rows=np.flatnonzero(short),
                              skip=~skip, **tuning)  # targets: the skipped blocks only
    return np.minimum(here + np.bincount(r, minlength=here.size), k)


def _needy(rules: PairRules, owned: np.ndarray, counts: np.ndarray, spec: ExpansionSpec) -> np.ndarray:
    """The owned rows the expansion widens (as ``candidates.expansion_plan``), from their list lengths."""
    cap = np.maximum(rules.radius_km, spec.max_radius_km)
    return owned & (counts < spec.min_pool) & (rules.radius_km < cap) & bool(spec.factors)


def expansion_pass(
    frame: PopulationFrame,
    vecs: np.ndarray,
    rules: PairRules,
    owned: np.ndarray,
    counts: np.ndarray,
    *,
    spec: ExpansionSpec,
    threshold: float,
    tuning: dict[str, Any],
    rows: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every compatible partner of the partition's needy owned users (``counts``: their list lengths
    here, at most their final ones, so this is a superset of the rows the client widens)
    under the widest radii, as global-row triples in row-best-first order with their unit dots, ready
    for ``candidates.survivors_within``.

    Whether a halo user will be widened is not known here, so it gets the widest radius it could get
    (:func:`widest_possible`): a superset of the pairs, which each round narrows to its own radii."""
    start = rules.radius_km
    needy = _needy(rules, owned, counts, spec)
    widest = np.where(owned & ~needy, start, widest_possible(start, spec.max_radius_km, spec.factors))
    r, c, s = exact_survivors(frame, vecs, rules.with_radius(widest), threshold=threshold, k=None,
                              rows=np.flatnonzero(needy), **tuning)
    r, c, s, _ = top_k_triples(r, c, s, k=None)  # member order is global row order (members are sorted)
    return rows[r], rows[c], s, unit_dots(rules, r, c)


def widest_possible(radius_km: np.ndarray, max_radius_km: float, factors: tuple[float, ...]) -> np.ndarray:
    """The largest radius expansion can give each user: its own times the largest factor, capped at
    ``max_radius_km`` (never below its own), as ``candidates.expansion_plan`` widens a needy user."""
    cap = np.maximum(radius_km, max_radius_km)
    return np.minimum(radius_km * max(factors, default=1.0), cap)


# ------------------------------------------------------------------------------- client side
def dask_candidates(
    client: Any,
    frame: PopulationFrame,
    vecs: np.ndarray,
    rules: PairRules,
    *,
    k: int,
    threshold: float = 0.65,
    min_pool: int = 20,
    max_radius_km: float = 200.0,
    parts: int | None = None,
    timings: EngineTimings | None = None,
    **tuning: Any,
) -> tuple[Candidates, RadiusExpansion]:
    """:func:`candidates.generate_with_expansion`, the exact candidates computed on ``client``'s cluster.

    Parameters
    ----------
    client
        A connected ``distributed.Client``.
    frame, vecs, rules, k, threshold, min_pool, max_radius_km
        As for the local engine; the result is identical.
    parts
        Number of partitions (default: one per worker).
    timings
        Filled with where the time went (see :class:`EngineTimings`).
    tuning
        ``cell_km``, ``age_band``, ``min_query``, ``threads``, ``buffer_entries`` as for the local engine.
    """
    from perfectmatch.matching.candidates import EXPANSION_FACTORS, expand_candidates, survivors_within
    from perfectmatch.matching.pairs import _check

    _check(frame, vecs, rules, k)
    t = timings if timings is not None else EngineTimings()
    t0 = time.perf_counter()
    parts = parts or max(len(client.scheduler_info().get("workers", {})), 1)
    spec = ExpansionSpec(min_pool, max_radius_km, EXPANSION_FACTORS) if min_pool > 0 else None
    reach = np.maximum(rules.radius_km, max_radius_km) if spec else None  # expansion's largest radii
    split = partition_users(frame, rules, parts=parts, reach_km=reach, cell_km=tuning.get("cell_km", 40.0),
                            min_pool=min_pool)
    payloads = [pack(frame, vecs, rules, p) for p in split]
    t.owned_users = sum(p.owned.size for p in split)
    t.halo_users = sum(p.halo for p in split)
    t1 = time.perf_counter()
    t.partition_s += t1 - t0
    futures = client.scatter(payloads, hash=False) if payloads else []
    t2 = time.perf_counter()
    t.scatter_s += t2 - t1
    try:
        tasks = [client.submit(partition_task, f, k=k, threshold=threshold, tuning=tuning, expansion=spec, pure=False)
                 for f in futures]
        results = client.gather(tasks)
        client.cancel(tasks)
    finally:
        client.cancel(futures)
    t3 = time.perf_counter()
    t.compute_s += t3 - t2
    t.record(results)
    lists, sims64 = _placed(len(frame), k, results)
    got = [res["expansion"] for res in results if "expansion" in res]
    r, c, s, dots = (np.concatenate([g[i] for g in got]) if got else np.zeros(0) for i in range(4))
    t4 = time.perf_counter()
    t.merge_s += t4 - t3
    found = expand_candidates(
        frame, vecs, rules, lists, threshold=threshold, min_pool=min_pool, max_radius_km=max_radius_km,
        factors=EXPANSION_FACTORS, survivors=survivors_within(r.astype(np.int64), c.astype(np.int64), s, dots),
        sims64=sims64,
    )
    t.expansion_s += time.perf_counter() - t4
    return found


def _placed(n: int, k: int, results: list[dict[str, Any]]) -> tuple[Candidates, np.ndarray]:
    """The global lists and their float64 similarities (``nan`` where empty): each row's list from
    its owning partition, merged with its best entries from the partitions that covered some of its
    pairs (every pair is covered by exactly one partition, so the merged top ``k`` is the row's own)."""
    idx = np.full((n, k), -1, dtype=np.int32)
    sims64 = np.full((n, k), np.nan)
    for res in results:
        idx[res["rows"], res["slots"]] = res["partners"]
        sims64[res["rows"], res["slots"]] = res["sims"]
    hr, hc, hs = (np.concatenate([res["halo"][i] for res in results] or [np.zeros(0, np.int64)]) for i in range(3))
    if hr.size:
        rows = np.unique(hr)
        have = idx[rows] >= 0
        r, c, s, rank = top_k_triples(
            np.concatenate([np.repeat(rows, k)[have.ravel()], hr]),
            np.concatenate([idx[rows][have], hc]),
            np.concatenate([sims64[rows][have], hs]),
            k=k,
        )
        idx[rows], sims64[rows] = -1, np.nan
        idx[r, rank], sims64[r, rank] = c, s
    return Candidates(idx=idx, sims=sims64.astype(np.float32)), sims64


# ---------------------------------------------------------------------------------- cluster
@contextmanager
def dask_client(scheduler: str | None = None, *, workers: int = 2, timeout_s: float = 10.0) -> Iterator[Any]:
    """A ``distributed.Client``: connected to ``scheduler`` (e.g. ``tcp://host:8786``), or to a local
    cluster of ``workers`` single-threaded worker processes started for the block and shut down after.

    Raises
    ------
    ConfigError
        Dask is not installed (``pip install 'perfectmatch[dask]'``), the scheduler is unreachable
        or it has no workers.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ConfigError("the dask engine needs Dask: pip install 'perfectmatch[dask]'") from exc
    if scheduler:
        try:
            client = Client(scheduler, timeout=timeout_s)
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
        try:
            try:
                client.wait_for_workers(1, timeout=timeout_s)
            except TimeoutError as exc:
                raise ConfigError(f"the Dask scheduler at {scheduler} has no workers (waited {timeout_s:g} s)") from exc
            yield client
        finally:
            client.close()
        return
    if workers < 1:
        raise ConfigError(f"dask workers must be >= 1, got {workers}")
    import dask

    # Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in its workers (to hand memory back to the OS
    # sooner); that turns off glibc's adaptive mmap threshold, so every large temporary array is
    # mapped and faulted in afresh: measured 40 % more CPU for the same candidates. Not for ours.
    with (
        dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}),
        LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        yield client

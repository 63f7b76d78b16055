"""The blocked exact engine: one matrix product per unit of prefilter-compatible blocks.

Active users are sorted into blocks (``blocks.partition``); each unit of work (consecutive blocks
of one class, at least ``min_query`` rows) is multiplied with the rows of every block that may
hold a compatible partner (``blocks.block_pairs``), in row slices that each multiply only the
targets they can pair with (``_SortedSide.chunk_targets``). Over the full population each unordered
block pair is covered once and entries are credited to both sides. The products are of whole-number
grid vectors (:func:`pairs.grid_vectors`), so each entry already is the exact, path-independent
similarity; the entries above the threshold get the exact pairwise checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, as_completed, wait
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from perfectmatch.errors import InvalidInputError
from perfectmatch.frame import PopulationFrame
from perfectmatch.matching.blocks import Blocks, block_pairs, partition
from perfectmatch.matching.pairs import (
    _check,
    _concat,
    _query_rows,
    concat_ranges,
    grid_vectors,
    min_grid_dot,
    similarity_of,
    top_k_threaded,
    top_k_triples,
)
from perfectmatch.matching.prefilter import EARTH_RADIUS_KM, PairRules, is_excluded, within_radii

_GEO_MARGIN = 2e-6
_ANGLE_MARGIN = 1e-5  # radians (64 m): keeps chunk_targets' distance bound generous despite rounding
T = TypeVar("T")
R = TypeVar("R")
_COMPACT_ENTRIES = 20_000_000
_PRODUCT_ENTRIES = 1 << 24  # entries of one matrix product at most (64 MiB of float32), see _query_chunks
_MIN_CHUNK_ROWS = 128  # query rows of one product at least, so that BLAS stays efficient
_DOT_SPAN = 1 << 25  # grid products lie in (-2**24, 2**24)
_IN_FLIGHT = 32  # units queued or running per thread (_map_as_done)


def exact_survivors(
    frame: PopulationFrame,
    vecs: np.ndarray,
    rules: PairRules,
    *,
    threshold: float,
    k: int | None,
    rows: np.ndarray | None = None,
    cell_km: float = 40.0,
    age_band: int = 6,
    min_query: int = 64,
    threads: int | None = 1,
    buffer_entries: int = _COMPACT_ENTRIES,
    workers: int = 1,
    owned: np.ndarray | None = None,
    skip: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Directed triples ``(row, partner, sim)``: the top ``k`` (all when ``None``) mutually compatible
    partners with similarity >= ``threshold`` of every query row, by blocked matrix products.

    ``owned`` (``(n,)`` bool, whole blocks only; the Dask engine's partitions): the top ``k`` of the
    owned rows in the symmetric scheme, the other rows serving as partners only (a halo). A pair of
    an owned and a halo row is covered once and credited to both: a halo row gets its top ``k``
    among its pairs with owned rows, to be merged with its other partitions' entries. ``skip``
    (``(n,)`` bool, whole blocks of halo rows): blocks whose pairs with owned rows another partition
    covers, so they are no first-pass targets here.

    Query blocks are merged with their neighbours in sort order until they hold ``min_query``
    rows, so that each matrix product is large enough for BLAS to be efficient. ``threads`` limits
    BLAS threads during the products (:func:`blas_threads`). Collected entries are reduced to each
    row's best ``k`` whenever ``buffer_entries`` more have arrived since the last reduction.
    ``workers`` > 1 processes units in that many threads (numpy and BLAS release the GIL), taking
    each unit's entries as soon as it is done. The output does not depend on that order: every
    reduction keeps each row's best ``k`` by similarity, then partner row, which hold the row's
    final best ``k`` whatever else has arrived, and floors only drop entries below a final ``k``-th.
    """
    _check(frame, vecs, rules, k)
    symmetric = rows is None
    # symmetric units run last to first: a unit's entries credited to rows of later blocks then meet
    # the floors those rows' own units already set
    blocks, units = _work_units(frame, rules, rows, cell_km, age_band, min_query, symmetric=symmetric,
                                reverse=symmetric, owned=owned, skip=skip)
    side = _SortedSide.of(frame, vecs, rules, blocks.rows)
    halo = None if owned is None else ~np.asarray(owned, dtype=bool)[blocks.rows]  # by sorted position
    min_dot = min_grid_dot(threshold, vecs.shape[1])
    out_r, out_c, out_s = [], [], []
    buffered, kept, compact_at = 0, 0, buffer_entries
    # each row's k-th best similarity so far (raised at every reduction): later entries below it drop early
    floor = np.full(len(frame), -np.inf) if symmetric and k is not None else None

    def one(unit: tuple[np.ndarray, np.ndarray, int]) -> tuple[list, list, list]:
        pos, tpos, unit_stop = unit
        out: tuple[list, list, list] = ([], [], [])
        for part in _query_chunks(pos, tpos.size):
            near = tpos[side.chunk_targets(part, tpos)]
            if near.size:
                _unit_survivors(rules, side, part, near, unit_stop, min_dot=min_dot, k=k, symmetric=symmetric,
                                out=out, floor=floor, halo=halo)
        return out

    with blas_threads(threads):
        for got_r, got_c, got_s in _map_as_done(one, units, workers):
            out_r += got_r
            out_c += got_c
            out_s += got_s
            buffered += sum(x.size for x in got_r)
            if symmetric and k is not None and buffered > kept + compact_at:
                # keep memory bounded: reduce what has been collected to each row's best k so far
                # (triggered by what arrived since the last reduction, so each costs O(n k + buffer))
                r, c, s, rank = top_k_triples(*_drain(out_r, out_c, out_s), k=k)
                out_r[:], out_c[:], out_s[:] = [r], [c], [s]
                buffered = kept = r.size
                if floor is not None:
                    full = rank == k - 1
                    floor[r[full]] = s[full]
    side = None  # the grid copy (1 GB at a million 323-d users) is not needed for the last reduction
    if symmetric:  # the threads are idle now: the last reduction (seconds at a million users) uses them
        r, c, s, _ = top_k_threaded(*_drain(out_r, out_c, out_s), k=k, threads=workers)
    else:
        r, c, s = _drain(out_r, out_c, out_s)
    return r.astype(np.int64), c.astype(np.int64), s


def _drain(rs: list, cs: list, ss: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The collected entries in one piece, emptying the lists (no second copy of them is kept)."""
    got = _concat(rs, cs, ss)
    rs.clear()
    cs.clear()
    ss.clear()
    return got


def _query_chunks(pos: np.ndarray, targets: int) -> Iterator[np.ndarray]:
    """``pos`` in slices of at most ``_PRODUCT_ENTRIES / targets`` rows (never fewer than ``_MIN_CHUNK_ROWS``):
    a unit's product, comparison mask and survivors are then bounded in memory (the largest unit of a
    million users is 9,355 x 72,480 entries, 2.7 GB of float32 products in one piece). Rows are
    independent, so the slices give the same entries; a target's k-th within a slice is still a
    valid lower bound of its final k-th, so pruning stays exact."""
    step = max(_MIN_CHUNK_ROWS, _PRODUCT_ENTRIES // max(targets, 1))
    for lo in range(0, pos.size, step):
        yield pos[lo : lo + step]


def _map_as_done(fn: Callable[[T], R], items: Iterable[T], workers: int) -> Iterator[R]:
    """``map(fn, items)`` on ``workers`` threads with at most ``_IN_FLIGHT * workers`` in flight, each
    result as soon as it is done (in order with one worker). Not in submission order: units differ in
    size by orders of magnitude (a metro core's against a suburb's), and waiting for the head of the
    queue left the other threads idle while one worked through a large unit. The window is deep
    because the consumer pauses to reduce what it collected (seconds at a million users) and submits
    nothing meanwhile: with two units per thread queued the threads ran dry within a fraction of that."""
    if workers <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        running: set[Future[R]] = set()
        for item in items:
            running.add(pool.submit(fn, item))
            if len(running) >= _IN_FLIGHT * workers:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for f in done:
                    yield f.result()
        for f in as_completed(running):
            yield f.result()


def _unit_survivors(
    rules: PairRules, side: _SortedSide, pos: np.ndarray, tpos: np.ndarray, unit_stop: int, *,
    min_dot: float, k: int | None, symmetric: bool, out: tuple[list, list, list], floor: np.ndarray | None = None,
    halo: np.ndarray | None = None,
) -> int:
    """Append the surviving directed entries of rows ``pos`` against the targets ``tpos`` (of their unit,
    :meth:`_SortedSide.chunk_targets`) to ``out``; return their number.

    ``floor`` (optional, ``(n,)`` float64 by frame row): a similarity each row's final ``k``-th
    partner is known to reach; entries below it are dropped early (they cannot make the top ``k``).
    ``halo`` (optional, by sorted position): targets credited wherever they stand (never queries).
    """
    out_r, out_c, out_s = out
    # similarity first (one product, one comparison): few entries survive it, and the remaining
    # checks run on those entries only; they work on sorted positions (mostly sequential memory),
    # shrink the entries as they go and compute exactly what prefilter.mutual_mask computes
    r, c, f = side.similar(pos, tpos, min_dot)
    pq, pt = pos[r], tpos[c]
    ok = side.ages_fit(pq, pt)
    pq, pt, c, f = pq[ok], pt[ok], c[ok], f[ok]
    ok = (pq != pt) & side.within_radii(pq, pt)
    if rules.excluded.size:
        ok &= ~is_excluded(rules.excluded, side.ids[pq], side.ids[pt])
    pq, pt, c, f = pq[ok], pt[ok], c[ok], f[ok]
    s = similarity_of(f, side.dim)
    # directed entries as indices into the forward ones: with ``symmetric``, targets outside the unit
    # also get the entry (their unit skipped this block pair); targets inside it are queries here too
    src = np.arange(pq.size)
    if symmetric:
        credit = tpos[c] >= unit_stop
        if halo is not None:
            credit |= halo[tpos[c]]
        src = np.concatenate([src, np.flatnonzero(credit)])
    forward = np.arange(src.size) < pq.size
    qd = np.where(forward, pq[src], pt[src])
    if k is not None:
        # an entry below its row's k-th best here cannot rank; the k-th best here is also a lower
        # bound of the row's final k-th best (every entry here is a valid pair), kept in ``floor``
        kth, full_rows, full_kth = _row_kth(qd, f[src].astype(np.int64), k)
        keep = f[src] >= kth
        if floor is not None:
            at = side.rows32[full_rows]
            floor[at] = np.maximum(floor[at], similarity_of(full_kth, side.dim))
            keep &= s[src] >= floor[side.rows32[qd]]
        src, qd, forward = src[keep], qd[keep], forward[keep]
    td = np.where(forward, pt[src], pq[src])
    qi, tj, s = side.rows32[qd], side.rows32[td], s[src]
    if not symmetric:
        qi, tj, s, _ = top_k_triples(qi, tj, s, k=k)
    out_r.append(qi)
    out_c.append(tj)
    out_s.append(s)
    return int(qi.size)


def blas_threads(limit: int | None) -> AbstractContextManager[object]:
    """Limit BLAS to ``limit`` threads inside the block (``None``: leave as is).

    The blocked products are many and mid-sized (tens to hundreds of rows by thousands): threaded
    BLAS spends more on waking and syncing threads than it gains, badly so on a loaded machine
    (measured here: 1.3 ns per entry single-threaded against 6-15 ns with two threads).
    """
    if limit is None:
        return nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency; keep working without it
        return nullcontext()
    return threadpool_limits(limits=limit, user_api="blas")


def _exact_rest(frame: PopulationFrame, rules: PairRules, qi: np.ndarray, tj: np.ndarray) -> np.ndarray:
    """The checks the block-level preselection leaves open: self pairs, exact distance, exclusions
    (class, activity and ages are exact already; distance was bounded generously)."""
    ok = (qi != tj) & within_radii(rules, qi, tj)
    if rules.excluded.size:
        ok &= ~is_excluded(rules.excluded, frame.ids[qi], frame.ids[tj])
    return ok


def _work_units(
    frame: PopulationFrame, rules: PairRules, rows: np.ndarray | None, cell_km: float, age_band: int,
    min_query: int, *, symmetric: bool = False, reverse: bool = False, owned: np.ndarray | None = None,
    skip: np.ndarray | None = None,
) -> tuple[Blocks, Iterator[tuple[np.ndarray, np.ndarray, int]]]:
    """The partition and, per unit of work, the sorted positions of its query rows, those of the rows
    of every block compatible with one of its blocks, and where the unit's own positions end.

    With ``symmetric`` every query row is in some unit and only target blocks from the unit's first
    block on are listed: each unordered compatible block pair is then covered once (or twice inside
    one unit), and the caller credits entries to both sides. ``owned`` limits the queries to those
    (whole) blocks; blocks without a query row are then listed as targets wherever they stand, so a
    pair of an owned and an other block is covered once, from the owned side; blocks of ``skip`` rows
    are no targets."""
    n = len(frame)
    blocks = partition(frame, rules, cell_km=cell_km, age_band=age_band)
    if owned is not None:
        is_query = np.asarray(owned, dtype=bool)
    else:
        is_query = np.ones(n, dtype=bool) if rows is None else np.isin(np.arange(n), _query_rows(n, rows))
    if len(blocks) == 0:
        return blocks, iter(())
    q_in_block = np.add.reduceat(is_query[blocks.rows].astype(np.int64), blocks.start)
    if owned is not None and np.any((q_in_block > 0) & (q_in_block < blocks.sizes)):
        raise ValueError("owned rows must fill whole blocks (partition by the blocks' geo cells)")
    no_query = q_in_block == 0
    qb, tb = block_pairs(blocks, np.flatnonzero(q_in_block > 0))
    if skip is not None:
        keep = ~np.asarray(skip, dtype=bool)[blocks.rows[blocks.start[tb]]]
        qb, tb = qb[keep], tb[keep]
    first = np.searchsorted(qb, np.arange(len(blocks) + 1))

    def units() -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
        spans = _units(blocks, q_in_block, min_query)
        for lo, hi in reversed(spans) if reverse else spans:
            pos = np.arange(blocks.start[lo], blocks.stop[hi - 1])
            if rows is not None or owned is not None:
                pos = pos[is_query[blocks.rows[pos]]]
            targets = np.unique(tb[first[lo] : first[hi]])
            if symmetric:
                targets = targets[(targets >= lo) | no_query[targets]]
            if pos.size and targets.size:
                yield pos, concat_ranges(blocks.start[targets], blocks.stop[targets]), int(blocks.stop[hi - 1])

    return blocks, units()


def pool_sizes(
    frame: PopulationFrame,
    rules: PairRules,
    *,
    rows: np.ndarray | None = None,
    cell_km: float = 40.0,
    age_band: int = 6,
    min_query: int = 64,
) -> np.ndarray:
    """``(n,)`` number of mutually compatible partners of each query row (others 0), similarity
    ignored: the size of each user's pool, by the same blocked scheme."""
    n = len(frame)
    if rules.ages.shape != (n,):
        raise InvalidInputError(f"rules were built for {rules.ages.shape[0]} users, the frame has {n}")
    symmetric = rows is None
    blocks, units = _work_units(frame, rules, rows, cell_km, age_band, min_query, symmetric=symmetric)
    side = _SortedSide.of(frame, None, rules, blocks.rows)
    counts = np.zeros(n, dtype=np.int64)
    for unit_pos, tpos, unit_stop in units:
        for pos in _query_chunks(unit_pos, tpos.size):
            r, c = side.preselect(pos, tpos)
            qi, tj = blocks.rows[pos[r]], blocks.rows[tpos[c]]
            ok = _exact_rest(frame, rules, qi, tj)
            counts += np.bincount(qi[ok], minlength=n)
            if symmetric:
                counts += np.bincount(tj[ok & (tpos[c] >= unit_stop)], minlength=n)
    return counts


@dataclass(frozen=True)
class _SortedSide:
    """Per-row inputs of the matrix-level preselection, in block order."""

    grid: np.ndarray  # (m, d) float32 grid vectors (a gather of rows copies contiguous memory)
    ids: np.ndarray  # (m,) user ids
    rows32: np.ndarray  # (m,) frame rows as int32 (collected entries take half the memory)
    ages: np.ndarray  # (m,) int16
    want_lo: np.ndarray
    want_hi: np.ndarray
    unit: np.ndarray  # (m, 3) float32 positions on the unit sphere
    min_dot: np.ndarray  # (m,) float32: cos(radius / R) minus a margin
    unit64: np.ndarray  # (m, 3) float64, as rules.unit
    cos_radius: np.ndarray  # (m,) float64, as rules.cos_radius
    angle: np.ndarray  # (m,) float64: the radius as an angle (radians)

    @classmethod
    def of(cls, frame: PopulationFrame, vecs: np.ndarray | None, rules: PairRules, rows: np.ndarray) -> _SortedSide:
        """``vecs``: the frame's vectors (``None`` when no product is needed)."""
        return cls(
            grid=np.zeros((rows.size, 0), np.float32) if vecs is None else _grid_rows(vecs, rows),
            ids=frame.ids[rows],
            rows32=rows.astype(np.int32),
            ages=rules.ages[rows].astype(np.int16),
            want_lo=frame.age_min[rows].astype(np.int16),
            want_hi=frame.age_max[rows].astype(np.int16),
            unit=rules.unit[rows].astype(np.float32),
            min_dot=(rules.cos_radius[rows] - _GEO_MARGIN).astype(np.float32),
            unit64=rules.unit[rows],
            cos_radius=rules.cos_radius[rows],
            angle=rules.radius_km[rows].astype(np.float64) / EARTH_RADIUS_KM,
        )

    def ages_fit(self, p: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Each side's age within the other's wanted range (positions ``p``, ``q``)."""
        ap, aq = self.ages[p], self.ages[q]
        return (aq >= self.want_lo[p]) & (aq <= self.want_hi[p]) & (ap >= self.want_lo[q]) & (ap <= self.want_hi[q])

    def within_radii(self, p: np.ndarray, q: np.ndarray) -> np.ndarray:
        """``prefilter.within_radii`` on positions: the same float64 expression, bit for bit."""
        u = self.unit64
        dot = u[p, 0] * u[q, 0] + u[p, 1] * u[q, 1] + u[p, 2] * u[q, 2]
        return dot >= np.maximum(self.cos_radius[p], self.cos_radius[q])

    @property
    def dim(self) -> int:
        return int(self.grid.shape[1])

    def chunk_targets(self, pos: np.ndarray, tpos: np.ndarray) -> np.ndarray:
        """Indices into ``tpos`` of the targets that may pair with at least one of the rows ``pos``:
        ages fit (each side's age within the union of the other side's wanted ranges) and the target
        lies within its own radius, or the rows' largest, of the rows' bounding cap. Necessary
        conditions only (the pairs get the exact checks), but on consecutive, age-sorted rows they
        drop about half of a unit's targets before the product."""
        ages, ta = self.ages[pos], self.ages[tpos]
        ok = (ta >= self.want_lo[pos].min()) & (ta <= self.want_hi[pos].max())
        ok &= (self.want_lo[tpos] <= ages.max()) & (self.want_hi[tpos] >= ages.min())
        u = self.unit64[pos]
        centre = u.sum(axis=0)
        norm = float(np.sqrt(centre @ centre))
        if norm > 1e-6 * pos.size:
            centre /= norm
            span = float(np.arccos(np.clip((u @ centre).min(), -1.0, 1.0)))
            reach = span + np.minimum(self.angle[tpos], self.angle[pos].max()) + _ANGLE_MARGIN
            ok &= (reach >= np.pi) | (self.unit64[tpos] @ centre >= np.cos(np.minimum(reach, np.pi)))
        return np.flatnonzero(ok)

    def similar(self, pos: np.ndarray, tpos: np.ndarray, min_dot: float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Entries ``(r, c, grid product)`` of the rows ``pos`` times the rows ``tpos`` whose exact grid
        product (a whole number, :func:`pairs.grid_vectors`) is at least ``min_dot``."""
        dots = self.grid[pos] @ self.grid[tpos].T
        # one flat scan and a divmod: 2-D np.nonzero cost 45 % of the product itself (231 x 72,000 block)
        flat = np.flatnonzero(dots >= min_dot)
        r, c = np.divmod(flat, dots.shape[1])
        return r, c, dots.ravel()[flat]

    def preselect(self, pos: np.ndarray, tpos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Entries ``(r, c)`` of the ``pos x tpos`` block that pass ages both ways and a (slightly
        generous) distance bound."""
        qa, ta = self.ages[pos][:, None], self.ages[tpos][None, :]
        mask = ta >= self.want_lo[pos][:, None]
        mask &= ta <= self.want_hi[pos][:, None]
        mask &= qa >= self.want_lo[tpos][None, :]
        mask &= qa <= self.want_hi[tpos][None, :]
        dots = self.unit[pos] @ np.ascontiguousarray(self.unit[tpos].T)
        mask &= dots >= self.min_dot[pos][:, None]
        mask &= dots >= self.min_dot[tpos][None, :]
        r, c = np.nonzero(mask)
        return r, c


def _grid_rows(vecs: np.ndarray, rows: np.ndarray, chunk: int = 65_536) -> np.ndarray:
    """``(len(rows), d)`` float32: the grid vectors of ``rows``, built in chunks so that no second
    full-size copy exists at any time (1 GB per copy at a million 323-d users)."""
    out = np.empty((rows.size, vecs.shape[1]), dtype=np.float32)
    for lo in range(0, rows.size, chunk):
        out[lo : lo + chunk] = grid_vectors(vecs, rows[lo : lo + chunk])
    return out


def _row_kth(rows: np.ndarray, dots: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per entry, the ``k``-th largest grid product of its row (``dots``: int64 whole numbers of
    magnitude below ``2**24``; ``-2**25`` where the row has fewer than ``k`` entries), and the rows
    that have ``k`` entries with their ``k``-th product. Only those rows' entries are sorted, on one
    int64 key: row, then product descending."""
    per_entry = np.full(rows.size, -_DOT_SPAN, np.int64)
    if rows.size < k:
        return per_entry, np.zeros(0, rows.dtype), np.zeros(0, np.int64)
    crowded = np.flatnonzero(np.bincount(rows)[rows] >= k)
    if crowded.size == 0:
        return per_entry, np.zeros(0, rows.dtype), np.zeros(0, np.int64)
    order = crowded[np.argsort(rows[crowded].astype(np.int64) * _DOT_SPAN - dots[crowded])]
    ranked = rows[order]
    start = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    kth = dots[order[start + k - 1]]
    per_entry[order] = np.repeat(kth, np.diff(np.append(start, order.size)))
    return per_entry, ranked[start], kth


def _units(blocks: Blocks, q_in_block: np.ndarray, min_query: int) -> list[tuple[int, int]]:
    """Runs ``[lo, hi)`` of consecutive blocks of one class, each holding >= ``min_query`` query rows
    (or reaching the end of its class)."""
    units: list[tuple[int, int]] = []
    klass = blocks.klass.tolist()
    counts = q_in_block.tolist()
    lo, acc = 0, 0
    for b in range(len(blocks)):
        if b > lo and klass[b] != klass[lo]:
            if acc:
                units.append((lo, b))
            lo, acc = b, 0
        acc += counts[b]
        if acc >= min_query:
            units.append((lo, b + 1))
            lo, acc = b + 1, 0
    if lo < len(blocks) and acc:
        units.append((lo, len(blocks)))
    return units

"""Mutual prefilters: who may be matched with whom at all, before any similarity is computed.

A pair ``(i, j)`` of frame rows passes when *both* sides accept each other:

* gender: ``j``'s gender is in ``i``'s ``seeks`` mask and ``i``'s gender in ``j``'s;
* age: ``j``'s age on the batch day is in ``[age_min_i, age_max_i]`` and vice versa;
* distance: the haversine distance is within ``i``'s radius **and** within ``j``'s radius
  (radii may have been widened by :func:`expand_radii`, never beyond what the other side allows);
* relationship goal: the two goals are compatible in :data:`GOAL_COMPATIBLE`;
* both users are active: status ``active`` and seen in the last ``window_days`` days;
* the pair is not excluded (blocks, existing or past matches), given as ``frame.pair_keys`` of ids;
* ``i != j``.

:func:`mutual_mask` checks many pairs at once (numpy broadcasting), :func:`is_compatible` checks
one pair in plain Python and is the reference the tests compare against.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from typing import NamedTuple

import numpy as np

from perfectmatch.errors import InvalidInputError
from perfectmatch.frame import GOALS, STATUSES, PopulationFrame, day_number, pair_keys
from perfectmatch.models import RelationshipGoal, UserStatus, age_on

EARTH_RADIUS_KM = 6371.0088
DAY_S = 86_400
ACTIVE_WINDOW_DAYS = 30
_ACTIVE = STATUSES.index(UserStatus.ACTIVE)

_G = RelationshipGoal
#: Which relationship goals may meet, as unordered pairs. The rule: people looking for something
#: committed (marriage, long-term) meet each other; casual meets casual; friendship meets
#: friendship; "unsure" people meet everyone except those set on marriage, whose goal is too
#: specific to be served by someone undecided. The table is symmetric by construction.
GOAL_PAIRS: frozenset[frozenset[RelationshipGoal]] = frozenset(
    frozenset(p)
    for p in (
        (_G.MARRIAGE, _G.MARRIAGE),
        (_G.MARRIAGE, _G.LONG_TERM),
        (_G.LONG_TERM, _G.LONG_TERM),
        (_G.LONG_TERM, _G.UNSURE),
        (_G.CASUAL, _G.CASUAL),
        (_G.CASUAL, _G.UNSURE),
        (_G.FRIENDSHIP, _G.FRIENDSHIP),
        (_G.FRIENDSHIP, _G.UNSURE),
        (_G.UNSURE, _G.UNSURE),
    )
)
#: ``GOAL_COMPATIBLE[a, b]`` for goal codes (indices into ``frame.GOALS``).
GOAL_COMPATIBLE: np.ndarray = np.array(
    [[frozenset((a, b)) in GOAL_PAIRS for b in GOALS] for a in GOALS], dtype=bool
)
GOAL_COMPATIBLE.setflags(write=False)


def goals_compatible(a: RelationshipGoal, b: RelationshipGoal) -> bool:
    """Whether users with goals ``a`` and ``b`` may be matched (symmetric)."""
    return frozenset((a, b)) in GOAL_PAIRS


def haversine_km(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Great-circle distance in km between points given in degrees (broadcasting)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(np.asarray(lon2) - np.asarray(lon1))
    h = np.sin(dp * 0.5) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl * 0.5) ** 2
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def active_mask(frame: PopulationFrame, day: date, *, window_days: int = ACTIVE_WINDOW_DAYS) -> np.ndarray:
    """Rows that are active on ``day``: status active and last seen at most ``window_days`` before.

    Same rule as ``User.is_active_on``: whole UTC days between the last-seen date and ``day``.
    """
    seen_day = np.floor_divide(frame.last_active_at, DAY_S)
    return (frame.status == _ACTIVE) & (day_number(day) - seen_day <= window_days)


@dataclass(frozen=True)
class PairRules:
    """Everything the pairwise prefilter needs besides the frame, precomputed for one batch day.

    Attributes
    ----------
    day
        The batch day; ages are taken on it.
    ages
        ``(n,)`` int16 ages on ``day``.
    active
        ``(n,)`` bool, see :func:`active_mask`.
    radius_km
        ``(n,)`` float64 effective search radius (the user's own, or widened by expansion).
    excluded
        Sorted unique int64 ``pair_keys`` of user ids that must never be paired.
    """

    day: date
    ages: np.ndarray
    active: np.ndarray
    radius_km: np.ndarray
    excluded: np.ndarray
    unit: np.ndarray
    cos_radius: np.ndarray

    def with_radius(self, radius_km: np.ndarray) -> PairRules:
        """The same rules with another effective radius per user."""
        radius = np.asarray(radius_km, dtype=np.float64)
        return replace(self, radius_km=radius, cos_radius=cos_of_radius(radius))


def unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """``(n, 3)`` float64 points on the unit sphere for latitudes/longitudes in degrees."""
    p, la = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(p) * np.cos(la), np.cos(p) * np.sin(la), np.sin(p)], axis=-1)


def cos_of_radius(radius_km: np.ndarray) -> np.ndarray:
    """Cosine of the central angle of each radius: ``dist <= r`` iff ``dot(unit_i, unit_j) >= cos``."""
    return np.cos(np.minimum(np.asarray(radius_km, dtype=np.float64) / EARTH_RADIUS_KM, np.pi))


def within_radii(rules: PairRules, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Great-circle distance of ``(i, j)`` within both users' radii (broadcasting), via the dot
    product of unit vectors: exact up to float64 rounding (centimetres) and far cheaper than
    haversine."""
    u = rules.unit
    dot = u[i, 0] * u[j, 0] + u[i, 1] * u[j, 1] + u[i, 2] * u[j, 2]
    return dot >= np.maximum(rules.cos_radius[i], rules.cos_radius[j])


def build_rules(
    frame: PopulationFrame,
    *,
    day: date,
    excluded: np.ndarray | Iterable[int] | None = None,
    radius_km: np.ndarray | None = None,
    window_days: int = ACTIVE_WINDOW_DAYS,
) -> PairRules:
    """Precompute the prefilter inputs for ``frame`` on ``day``.

    Parameters
    ----------
    frame
        The population, ``n`` rows.
    day
        The batch day (ages and activity are evaluated on it).
    excluded
        ``frame.pair_keys`` of user-id pairs never to pair (blocks, existing and past matches).
    radius_km
        ``(n,)`` effective radii; default the users' own ``frame.radius_km``.
    window_days
        Activity window (30 in the spec).

    Raises
    ------
    InvalidInputError
        ``radius_km`` does not have one value per row.
    """
    n = len(frame)
    radius = frame.radius_km if radius_km is None else np.asarray(radius_km, dtype=np.float64)
    if radius.shape != (n,):
        raise InvalidInputError(f"radius_km has shape {radius.shape}, expected ({n},)")
    keys = np.zeros(0, np.int64) if excluded is None else np.asarray(list(excluded) if not isinstance(
        excluded, np.ndarray) else excluded, dtype=np.int64)
    return PairRules(
        day=day,
        ages=frame.ages_on(day),
        active=active_mask(frame, day, window_days=window_days),
        radius_km=radius.astype(np.float64, copy=False),
        excluded=np.unique(keys),
        unit=unit_vectors(frame.lat, frame.lon),
        cos_radius=cos_of_radius(radius),
    )


def is_excluded(excluded: np.ndarray, ids_a: np.ndarray, ids_b: np.ndarray) -> np.ndarray:
    """Whether each id pair's key is in the sorted ``excluded`` key array (broadcasting)."""
    keys = pair_keys(ids_a, ids_b)
    if excluded.size == 0:
        return np.zeros(keys.shape, dtype=bool)
    pos = np.minimum(np.searchsorted(excluded, keys), excluded.size - 1)
    return excluded[pos] == keys


def mutual_mask(frame: PopulationFrame, rules: PairRules, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Whether each pair of rows ``(i, j)`` passes every mutual prefilter.

    Parameters
    ----------
    frame, rules
        The population and its :class:`PairRules`.
    i, j
        Integer row indices of equal (or broadcastable) shapes, e.g. ``i[:, None]``, ``j[None, :]``.

    Returns
    -------
    numpy.ndarray
        Bool array of the broadcast shape; symmetric: ``mutual_mask(i, j) == mutual_mask(j, i)``.
    """
    i = np.asarray(i)
    j = np.asarray(j)
    g, s = frame.gender, frame.seeks
    ok = (i != j) & rules.active[i] & rules.active[j]
    ok &= ((s[i] >> g[j]) & 1).astype(bool) & ((s[j] >> g[i]) & 1).astype(bool)
    ok &= GOAL_COMPATIBLE[frame.goal[i], frame.goal[j]]
    ai, aj = rules.ages[i], rules.ages[j]
    ok &= (aj >= frame.age_min[i]) & (aj <= frame.age_max[i]) & (ai >= frame.age_min[j]) & (ai <= frame.age_max[j])
    ok &= within_radii(rules, i, j)
    if rules.excluded.size:
        ok &= ~is_excluded(rules.excluded, frame.ids[i], frame.ids[j])
    return ok


def is_compatible(
    frame: PopulationFrame,
    i: int,
    j: int,
    day: date,
    *,
    excluded: Iterable[int] = (),
    radius_km: np.ndarray | None = None,
    window_days: int = ACTIVE_WINDOW_DAYS,
) -> bool:
    """Reference check of one pair in plain Python through the domain models (slow, for tests).

    Parameters
    ----------
    frame
        The population.
    i, j
        Row indices.
    day
        The batch day.
    excluded
        Pair keys (``frame.pair_keys``) of excluded id pairs.
    radius_km
        Optional effective radii, as in :func:`build_rules`.
    """
    if i == j:
        return False
    a, b = frame.member(i), frame.member(j)
    if not (a.user.is_active_on(day, window_days=window_days) and b.user.is_active_on(day, window_days=window_days)):
        return False
    if b.profile.gender not in a.preferences.genders_sought or a.profile.gender not in b.preferences.genders_sought:
        return False
    age_a, age_b = age_on(a.profile.birth_date, day), age_on(b.profile.birth_date, day)
    if not (a.preferences.age_min <= age_b <= a.preferences.age_max):
        return False
    if not (b.preferences.age_min <= age_a <= b.preferences.age_max):
        return False
    if not goals_compatible(a.preferences.goal, b.preferences.goal):
        return False
    ra = a.preferences.radius_km if radius_km is None else float(radius_km[i])
    rb = b.preferences.radius_km if radius_km is None else float(radius_km[j])
    la, lb = a.profile.location, b.profile.location
    p1, p2 = math.radians(la.lat), math.radians(lb.lat)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lb.lon - la.lon) / 2) ** 2
    dist = 2.0 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(max(h, 0.0), 1.0)))
    if dist > min(ra, rb):
        return False
    key = (min(a.user.id or 0, b.user.id or 0) << 32) | max(a.user.id or 0, b.user.id or 0)
    return key not in set(excluded)


class RadiusExpansion(NamedTuple):
    """Result of :func:`expand_radii`: ``radius_km`` ``(n,)`` effective radii and ``added_km``
    ``(n,)`` how far each user's radius was widened (0 = not expanded)."""

    radius_km: np.ndarray
    added_km: np.ndarray


def expand_radii(
    frame: PopulationFrame,
    rules: PairRules,
    *,
    min_pool: int,
    max_radius_km: float,
    factors: tuple[float, ...] = (1.5, 2.0, 3.0, 4.0),
) -> RadiusExpansion:
    """Progressively widen the radius of users whose pool is too small.

    A user's pool is the number of partners passing every mutual prefilter
    (``candidates.pool_sizes``). Active users with fewer than ``min_pool`` get their own radius
    times the next factor, capped at ``max_radius_km`` (never below their own radius), until
    their pool is large enough or the cap is reached. Only the user's *own* radius widens: the
    other side's radius still applies, so nobody is shown someone farther away than they asked for.

    Parameters
    ----------
    frame, rules
        The population and its prefilter inputs (``rules.radius_km`` is the starting point).
    min_pool
        Pool size below which a user is expanded.
    max_radius_km
        Largest radius expansion may reach.
    factors
        Increasing multiples of the starting radius tried in turn.

    Returns
    -------
    RadiusExpansion
        Pass ``radius_km`` to ``rules.with_radius``; ``added_km`` records the expansion per user.
    """
    from perfectmatch.matching.candidates import pool_sizes

    start = rules.radius_km.copy()
    cap = np.maximum(start, max_radius_km)
    radius = start.copy()
    current = rules
    needy = rules.active & (pool_sizes(frame, rules) < min_pool) if min_pool > 0 else np.zeros(len(frame), bool)
    for factor in sorted(factors):
        needy &= radius < cap
        if not needy.any():
            break
        radius[needy] = np.minimum(start[needy] * factor, cap[needy])
        current = current.with_radius(radius)
        needy &= pool_sizes(frame, current, rows=np.flatnonzero(needy)) < min_pool
    return RadiusExpansion(radius_km=radius, added_km=radius - start)

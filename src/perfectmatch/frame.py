"""``PopulationFrame``: users, profiles and preferences as columns, for set-based batch paths.

A frame holds one numpy array per field so that a million users load, validate and filter without
building a million pydantic objects. ``from_members``/``members`` convert to and from the domain
models; ``validate`` applies the same rules as the models, vectorised.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime, timedelta

import numpy as np

from perfectmatch.models import (
    MAX_AGE,
    MIN_AGE,
    Gender,
    GeoPoint,
    Member,
    Preferences,
    Profile,
    RelationshipGoal,
    Tier,
    User,
    UserStatus,
)

GENDERS: tuple[Gender, ...] = tuple(Gender)
GOALS: tuple[RelationshipGoal, ...] = tuple(RelationshipGoal)
TIERS: tuple[Tier, ...] = tuple(Tier)
STATUSES: tuple[UserStatus, ...] = tuple(UserStatus)
EPOCH = date(1970, 1, 1)


def seeks_mask(genders: Sequence[Gender]) -> int:
    """Bit mask with bit ``GENDERS.index(g)`` set for every gender sought."""
    mask = 0
    for g in genders:
        mask |= 1 << GENDERS.index(g)
    return mask


def day_number(d: date) -> int:
    return (d - EPOCH).days


def ages_on(birth_day: np.ndarray, day: date) -> np.ndarray:
    """Whole-year ages on ``day`` for birth dates given as day numbers, exact to the calendar."""
    births = birth_day.astype("datetime64[D]")
    years = births.astype("datetime64[Y]").astype(np.int64) + 1970
    b_month = births.astype("datetime64[M]").astype(np.int64) % 12 + 1
    b_dom = (births - births.astype("datetime64[M]")).astype(np.int64) + 1
    before = (day.month < b_month) | ((day.month == b_month) & (day.day < b_dom))
    return (day.year - years - before.astype(np.int64)).astype(np.int16)


@dataclass
class PopulationFrame:
    """Columnar users; every array has length ``n``. Codes index ``GENDERS``, ``GOALS``, ``TIERS``,
    ``STATUSES``; ``seeks`` is a bit mask over ``GENDERS``; times are unix seconds (UTC)."""

    ids: np.ndarray  # int64
    gender: np.ndarray  # int8
    seeks: np.ndarray  # uint8
    birth_day: np.ndarray  # int32, days since 1970-01-01
    lat: np.ndarray  # float64 degrees
    lon: np.ndarray  # float64 degrees
    radius_km: np.ndarray  # float64 km
    age_min: np.ndarray  # int16
    age_max: np.ndarray  # int16
    goal: np.ndarray  # int8
    tier: np.ndarray  # int8
    status: np.ndarray  # int8
    created_at: np.ndarray  # int64
    last_active_at: np.ndarray  # int64
    display_name: np.ndarray  # object (str)
    place: np.ndarray  # object (str)
    source: np.ndarray  # object (str or None)
    source_id: np.ndarray  # object (str or None)

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @classmethod
    def empty(cls) -> PopulationFrame:
        return cls.from_members([])

    def take(self, idx: np.ndarray) -> PopulationFrame:
        """Rows ``idx`` (indices or boolean mask) as a new frame."""
        return PopulationFrame(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    def with_ids(self, ids: np.ndarray) -> PopulationFrame:
        return replace(self, ids=np.asarray(ids, dtype=np.int64))

    def ages_on(self, day: date) -> np.ndarray:
        return ages_on(self.birth_day, day)

    def validate(self, *, today: date) -> list[str]:
        """Every row that breaks a domain rule, as ``"row i (field=value): reason"`` strings."""
        n = len(self)
        problems: list[str] = []

        def flag(mask: np.ndarray, name: str, values: np.ndarray, reason: str) -> None:
            for i in np.flatnonzero(mask)[:20]:
                problems.append(f"row {i} ({name}={values[i]!r}): {reason}")

        for f in fields(self):
            if getattr(self, f.name).shape[0] != n:
                problems.append(f"column {f.name} has {getattr(self, f.name).shape[0]} rows, expected {n}")
        if problems:
            return problems
        ages = self.ages_on(today)
        flag(ages < MIN_AGE, "age", ages, f"under {MIN_AGE}")
        flag(ages > MAX_AGE, "age", ages, "implausible age")
        flag((self.lat < -90) | (self.lat > 90) | ~np.isfinite(self.lat), "lat", self.lat, "latitude out of range")
        flag((self.lon < -180) | (self.lon > 180) | ~np.isfinite(self.lon), "lon", self.lon, "longitude out of range")
        flag(~(self.radius_km > 0), "radius_km", self.radius_km, "radius must be > 0")
        flag(self.age_min > self.age_max, "age_min", self.age_min, "age range is inverted")
        flag(self.age_min < MIN_AGE, "age_min", self.age_min, f"under {MIN_AGE}")
        flag((self.gender < 0) | (self.gender >= len(GENDERS)), "gender", self.gender, "unknown gender code")
        flag(self.seeks == 0, "seeks", self.seeks, "seeks no gender")
        flag((self.goal < 0) | (self.goal >= len(GOALS)), "goal", self.goal, "unknown goal code")
        return problems

    # ----------------------------------------------------------- conversions
    @classmethod
    def from_members(cls, members: Sequence[Member]) -> PopulationFrame:
        def col(values: list, dtype: object) -> np.ndarray:
            return np.array(values, dtype=dtype) if values else np.zeros(0, dtype=dtype)

        ms = list(members)
        return cls(
            ids=col([m.user.id or 0 for m in ms], np.int64),
            gender=col([GENDERS.index(m.profile.gender) for m in ms], np.int8),
            seeks=col([seeks_mask(sorted(m.preferences.genders_sought)) for m in ms], np.uint8),
            birth_day=col([day_number(m.profile.birth_date) for m in ms], np.int32),
            lat=col([m.profile.location.lat for m in ms], np.float64),
            lon=col([m.profile.location.lon for m in ms], np.float64),
            radius_km=col([m.preferences.radius_km for m in ms], np.float64),
            age_min=col([m.preferences.age_min for m in ms], np.int16),
            age_max=col([m.preferences.age_max for m in ms], np.int16),
            goal=col([GOALS.index(m.preferences.goal) for m in ms], np.int8),
            tier=col([TIERS.index(m.user.tier) for m in ms], np.int8),
            status=col([STATUSES.index(m.user.status) for m in ms], np.int8),
            created_at=col([int(m.user.created_at.timestamp()) for m in ms], np.int64),
            last_active_at=col([int(m.user.last_active_at.timestamp()) for m in ms], np.int64),
            display_name=col([m.profile.display_name for m in ms], object),
            place=col([m.profile.location.place for m in ms], object),
            source=col([m.user.source for m in ms], object),
            source_id=col([m.user.source_id for m in ms], object),
        )

    def member(self, i: int) -> Member:
        """Row ``i`` as validated domain models (without a questionnaire response)."""
        uid = int(self.ids[i])
        user = User(
            id=uid,
            status=STATUSES[self.status[i]],
            tier=TIERS[self.tier[i]],
            created_at=datetime.fromtimestamp(int(self.created_at[i]), UTC),
            last_active_at=datetime.fromtimestamp(int(self.last_active_at[i]), UTC),
            source=self.source[i],
            source_id=self.source_id[i],
        )
        profile = Profile(
            user_id=uid,
            display_name=self.display_name[i],
            birth_date=EPOCH + timedelta(days=int(self.birth_day[i])),
            gender=GENDERS[self.gender[i]],
            location=GeoPoint(lat=float(self.lat[i]), lon=float(self.lon[i]), place=self.place[i]),
        )
        prefs = Preferences(
            user_id=uid,
            genders_sought=frozenset(g for k, g in enumerate(GENDERS) if int(self.seeks[i]) >> k & 1),
            age_min=int(self.age_min[i]),
            age_max=int(self.age_max[i]),
            radius_km=float(self.radius_km[i]),
            goal=GOALS[self.goal[i]],
        )
        return Member(user=user, profile=profile, preferences=prefs)

    def members(self) -> Iterator[Member]:
        for i in range(len(self)):
            yield self.member(i)


@dataclass(frozen=True)
class VectorSet:
    """Vectors of many users: ``ids`` ``(n,)``, ``vecs`` ``(n, d)`` float32 unit rows, ``importance``
    ``(n, 5)`` per-dimension importance 0.1-1.0, ``completeness`` ``(n,)`` factor 0.8-1.0."""

    version: str
    ids: np.ndarray
    vecs: np.ndarray
    importance: np.ndarray
    completeness: np.ndarray

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def take(self, idx: np.ndarray) -> VectorSet:
        return VectorSet(self.version, self.ids[idx], self.vecs[idx], self.importance[idx], self.completeness[idx])


@dataclass(frozen=True)
class MatchBatch:
    """One day's new matches as columns, for bulk stores (a pydantic ``Match`` per match cost ~3.5 us,
    2 M of them at a million users). Checked on construction by the rules ``Match`` applies to one
    match, vectorised; ``ai_score`` is ``nan`` where the pair was not analysed."""

    day: date
    user_a: Sequence[int]
    user_b: Sequence[int]
    vector_score: Sequence[float]
    ai_score: Sequence[float]
    final_score: Sequence[float]
    source: Sequence[str]
    insight_id: Sequence[str | None]

    def __post_init__(self) -> None:
        from perfectmatch.errors import InvalidInputError
        from perfectmatch.models import ScoreSource

        n = len(self.user_a)
        for f in fields(self)[2:]:
            if len(getattr(self, f.name)) != n:
                raise InvalidInputError(f"match column {f.name} has {len(getattr(self, f.name))} rows, expected {n}")
        a, b = np.asarray(self.user_a, dtype=np.int64), np.asarray(self.user_b, dtype=np.int64)
        vector, final = np.asarray(self.vector_score, np.float64), np.asarray(self.final_score, np.float64)
        ai = np.asarray(self.ai_score, np.float64)
        known = {s.value for s in ScoreSource}
        unknown = set(self.source) - known  # a handful of distinct values: cheaper than a per-row test
        checks = (
            (~((a > 0) & (a < b)), "user_a/user_b", "needs 0 < user_a < user_b"),
            (~((vector >= 0) & (vector <= 1)), "vector_score", "must be in [0, 1]"),
            (~((final >= 0) & (final <= 100)), "final_score", "must be in [0, 100]"),
            (~(np.isnan(ai) | ((ai >= 0) & (ai <= 100))), "ai_score", "must be in [0, 100] or nan"),
            (np.array([x in unknown for x in self.source]) if unknown else np.zeros(n, bool), "source",
             f"must be one of {sorted(known)}"),
        )
        for bad, name, rule in checks:
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise InvalidInputError(f"match row {i} (users {a[i]}, {b[i]}): {name} {rule}")

    def __len__(self) -> int:
        return len(self.user_a)


def pair_keys(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Order-independent int64 keys for user pairs: ``min << 32 | max`` (ids must be < 2**31)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    return (np.minimum(a, b) << 32) | np.maximum(a, b)


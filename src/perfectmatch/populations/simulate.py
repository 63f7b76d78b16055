"""Synthetic populations: realistic, seeded users over real US metro areas, with questionnaire answers.

Every column is drawn at once with ``np.random.default_rng(seed)``, so a million users take seconds
and the same seed always gives the same population. The model, step by step:

* **Where**: one of the ``k`` largest US metros (``metros.top_metros``), chosen with probability
  proportional to the metro's gazetteer population; within it, a real city by population plus a
  jitter (``metros.place_people``).
* **Who**: gender man 48.5 %, woman 48.5 %, nonbinary 3 %. Age ``18 + Gamma(2.0, 7.0)`` (median
  about 30, skewed young), redrawn uniformly in 18-70 above 70. Orientation: men 88 % straight,
  5 % gay, 7 % bisexual; women 83 % / 5 % / 12 %; nonbinary people seek several genders.
* **Whom**: genders sought follow orientation (straight man -> women, gay man -> men, bisexual ->
  men and women, 40 % of them also nonbinary people). Age range around the user's own age, lower
  gap ``|N(4 + 0.15 (age - 25), 2.5)|`` (+1 for men), upper gap ``|N(5 + 0.1 (age - 25), 3)|``
  (+2 for women), clipped to 18-99 and always containing the own age. Radius by density:
  with ``d = (log10 city population + log10 metro population) / 2``, a base of 50 km at
  ``d = 5.3`` (a small town of a smaller metro) falling linearly to 15 km at ``d = 7.2`` (New York
  City), times ``LogNormal(0, 0.35)``, clipped to 10-80 km.
* **Goals**: marriage, long-term, casual, friendship or unsure, by a softmax whose logits move with
  age (marriage up, casual down) and with the relationship-commitment trait.
* **Account**: premium tier about 15 % (more likely with age); 1.5 % suspended, 0.5 % deleted;
  created ``Exp(400 days)`` ago (at most 8 years); 75 % last active within 30 days (``Exp(4 days)``),
  the others at some older time after sign-up.
* **Questionnaire**: latent dimension scores drawn from a correlated normal
  (``answers.draw_traits``) answer the question bank (``answers.answer_bank``); the goal question
  ``rc_goal`` repeats the preference goal, so blocks entered on it are consistent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

import numpy as np

from perfectmatch.errors import InvalidInputError
from perfectmatch.frame import GENDERS, GOALS, STATUSES, TIERS, PopulationFrame, ages_on, day_number
from perfectmatch.models import Gender, QuestionnaireResponse, Tier, UserStatus
from perfectmatch.populations.answers import DIMENSIONS, AnswerMatrix, answer_bank, draw_traits
from perfectmatch.populations.metros import Region, place_people, top_metros
from perfectmatch.populations.names import display_names
from perfectmatch.populations.responses import ResponseSequence, score_dimensions

MIN_SIM_AGE, MAX_SIM_AGE = 18, 70
ORIENTATIONS = ("straight", "gay", "bisexual")
DAY_S = 86_400
GOAL_QUESTION = "rc_goal"  # answered consistently with the user's relationship goal
MAN, WOMAN, NONBINARY = (1 << GENDERS.index(g) for g in (Gender.MAN, Gender.WOMAN, Gender.NONBINARY))
_G_MAN, _G_WOMAN = GENDERS.index(Gender.MAN), GENDERS.index(Gender.WOMAN)
_SUSPENDED, _DELETED = STATUSES.index(UserStatus.SUSPENDED), STATUSES.index(UserStatus.DELETED)
_ACTIVE, _PREMIUM, _FREE = STATUSES.index(UserStatus.ACTIVE), TIERS.index(Tier.PREMIUM), TIERS.index(Tier.FREE)


@dataclass
class SimulatedPopulation:
    """A generated population: the frame, where and who people are, and their questionnaire.

    ``traits`` has shape ``(n, 5)`` in ``answers.DIMENSIONS`` order; ``metro`` indexes
    ``metro_names``; ``orientation`` indexes ``ORIENTATIONS``.
    """

    frame: PopulationFrame
    metro: np.ndarray
    metro_names: tuple[str, ...]
    orientation: np.ndarray
    traits: np.ndarray
    answers: AnswerMatrix | None

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def responses(self) -> Sequence[QuestionnaireResponse]:
        """One ``QuestionnaireResponse`` per row, built on access (empty without a bank)."""
        return ResponseSequence(self.answers) if self.answers is not None else ()

    def summary(self) -> dict[str, Any]:
        """Counts by metro, gender, orientation, goal, tier and status, plus the mean age."""
        f = self.frame
        return {
            "users": len(f),
            "by_metro": _counts(np.array(self.metro_names, dtype=object)[self.metro] if len(f) else []),
            "by_gender": _counts([GENDERS[c].value for c in f.gender]),
            "by_orientation": _counts([ORIENTATIONS[c] for c in self.orientation]),
            "by_goal": _counts([GOALS[c].value for c in f.goal]),
            "by_tier": _counts([TIERS[c].value for c in f.tier]),
            "by_status": _counts([STATUSES[c].value for c in f.status]),
            "questions_answered": int(self.answers.values.shape[1]) if self.answers is not None else 0,
        }


def _counts(values: Any) -> dict[str, int]:
    return dict(sorted(Counter(str(v) for v in values).items(), key=lambda kv: (-kv[1], kv[0])))


def _categorical(rng: np.random.Generator, logits: np.ndarray) -> np.ndarray:
    """One draw per row from softmax(``logits``) (Gumbel-max), shape ``(n,)``."""
    return np.argmax(logits + rng.gumbel(size=logits.shape), axis=1)


def _ages(rng: np.random.Generator, n: int) -> np.ndarray:
    ages = MIN_SIM_AGE + rng.gamma(2.0, 7.0, n)
    old = ages >= MAX_SIM_AGE + 1
    ages[old] = rng.uniform(MIN_SIM_AGE, MAX_SIM_AGE + 1, int(old.sum()))
    return np.floor(ages).astype(np.int64)


def birth_days(rng: np.random.Generator, ages: np.ndarray, today: date) -> np.ndarray:
    """Birth dates (day numbers) giving exactly ``ages`` on ``today``."""
    t = day_number(today)
    birth = (t - np.floor((ages + rng.uniform(0.01, 0.99, ages.shape[0])) * 365.2425)).astype(np.int32)
    for _ in range(3):  # calendar rounding at the edges: nudge by a few days
        got = ages_on(birth, today).astype(np.int64)
        if (got == ages).all():
            break
        birth = birth - 3 * (got < ages) + 3 * (got > ages)
    return birth


def _seeks(rng: np.random.Generator, gender: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(orientation, seeks)`` per user: orientation index and bit mask of genders sought."""
    n = gender.shape[0]
    u = rng.random(n)
    is_man, is_woman = gender == _G_MAN, gender == _G_WOMAN
    gay_cut = np.where(is_man, 0.88, 0.83)
    bi_cut = np.where(is_man, 0.93, 0.88)
    orientation = np.where(u < gay_cut, 0, np.where(u < bi_cut, 1, 2))
    opposite = np.where(is_man, WOMAN, MAN)
    same = np.where(is_man, MAN, WOMAN)
    also_nb = np.where(rng.random(n) < 0.4, NONBINARY, 0)
    seeks = np.select([orientation == 0, orientation == 1], [opposite, same], MAN | WOMAN | also_nb)
    nb = ~(is_man | is_woman)
    nb_options = np.array([MAN | WOMAN | NONBINARY, MAN | WOMAN, WOMAN | NONBINARY, MAN | NONBINARY])
    nb_pick = rng.choice(4, size=n, p=[0.5, 0.2, 0.15, 0.15])
    seeks = np.where(nb, nb_options[nb_pick], seeks)
    orientation = np.where(nb, 2, orientation)
    return orientation.astype(np.int8), seeks.astype(np.uint8)


def _radius(rng: np.random.Generator, city_pop: np.ndarray, metro_pop: np.ndarray) -> np.ndarray:
    """Search radius in km: smaller where people live densely (big city in a big metro)."""
    density = 0.5 * np.log10(np.maximum(city_pop, 1_000)) + 0.5 * np.log10(np.maximum(metro_pop, 1_000))
    base = np.interp(density, [5.3, 7.2], [50.0, 15.0])
    return np.clip(base * rng.lognormal(0.0, 0.35, city_pop.shape[0]), 10.0, 80.0).round(1).astype(np.float32)


def _age_range(rng: np.random.Generator, ages: np.ndarray, gender: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = ages.shape[0]
    lo_gap = np.abs(rng.normal(4 + 0.15 * (ages - 25), 2.5, n)) + (gender == _G_MAN)
    hi_gap = np.abs(rng.normal(5 + 0.1 * (ages - 25), 3.0, n)) + 2 * (gender == _G_WOMAN)
    age_min = np.clip(np.round(ages - lo_gap), MIN_SIM_AGE, ages)
    age_max = np.clip(np.round(ages + hi_gap), ages, 99)
    return age_min.astype(np.int16), age_max.astype(np.int16)


def _goals(rng: np.random.Generator, ages: np.ndarray, commitment: np.ndarray) -> np.ndarray:
    """Goal codes (``frame.GOALS``: marriage, long_term, casual, friendship, unsure)."""
    a = (ages - 30) / 10.0
    logits = np.stack(
        [
            -0.6 + 0.5 * a - 0.15 * a**2 + 0.8 * commitment,
            1.0 + 0.5 * commitment,
            0.2 - 0.4 * a - 0.7 * commitment,
            -1.4 + 0.1 * a,
            -0.4 - 0.2 * commitment,
        ],
        axis=1,
    )
    return _categorical(rng, logits).astype(np.int8)


def _account(rng: np.random.Generator, n: int, ages: np.ndarray, today: date) -> dict[str, np.ndarray]:
    now = int(datetime.combine(today, time(0), UTC).timestamp())
    premium = rng.random(n) < 1 / (1 + np.exp(-(-1.75 + 0.02 * (ages - 32))))
    u = rng.random(n)
    status = np.where(u < 0.015, _SUSPENDED, np.where(u < 0.02, _DELETED, _ACTIVE))
    created_age = np.minimum(rng.exponential(400 * DAY_S, n), 8 * 365 * DAY_S) + rng.uniform(600, DAY_S, n)
    recent = rng.random(n) < 0.75
    recency = np.where(
        recent,
        np.minimum(rng.exponential(4 * DAY_S, n), 30 * DAY_S - 60),
        rng.uniform(30 * DAY_S, np.maximum(created_age, 30 * DAY_S + 1)),
    )
    recency = np.minimum(recency, created_age)
    return {
        "tier": np.where(premium, _PREMIUM, _FREE).astype(np.int8),
        "status": status.astype(np.int8),
        "created_at": (now - created_age).astype(np.int64),
        "last_active_at": (now - recency).astype(np.int64),
    }


def _goal_answers(bank: Any, goal: np.ndarray) -> dict[str, np.ndarray]:
    """The bank's goal question (``GOAL_QUESTION``) answered with each user's preference goal."""
    if GOAL_QUESTION not in bank.question_ids:
        return {}
    option_ids = [o.id for o in bank.question(GOAL_QUESTION).options]
    index = np.array([option_ids.index(g.value) if g.value in option_ids else np.nan for g in GOALS])
    return {GOAL_QUESTION: index[goal]}


def simulate(
    n: int,
    seed: int,
    *,
    today: date,
    bank: Any | None = None,
    metros: Sequence[Region] | None = None,
) -> SimulatedPopulation:
    """Generate ``n`` realistic synthetic users, deterministic for ``seed``.

    Parameters
    ----------
    n
        Number of users (>= 1).
    seed
        Seed of ``np.random.default_rng``; the same seed and arguments give the same population.
    today
        The reference day: ages are exact on it and every time is before its midnight (UTC).
    bank
        The question bank to answer (``questionnaire.models.QuestionBank``); ``None`` means the
        default bank. Pass ``False`` to skip the questionnaire.
    metros
        Areas to live in; default the 12 largest US metros of the gazetteer.

    Returns
    -------
    SimulatedPopulation
        The frame (ids 0..n-1, to be replaced on storing), metro and orientation per user,
        latent traits ``(n, 5)`` and the answer matrix.

    Raises
    ------
    InvalidInputError
        ``n`` is not positive.
    """
    if n < 1:
        raise InvalidInputError(f"--users must be a positive number of users, got {n}")
    rng = np.random.default_rng(seed)
    regions = tuple(metros) if metros is not None else top_metros(12)
    pops = np.array([r.total_population for r in regions], dtype=np.float64)
    metro = rng.choice(len(regions), size=n, p=pops / pops.sum())
    lat, lon = np.zeros(n), np.zeros(n)
    place = np.empty(n, dtype=object)
    city_pop = np.zeros(n, dtype=np.int64)
    for k, region in enumerate(regions):
        rows = np.flatnonzero(metro == k)
        if rows.size:
            p = place_people(rng, region, rows.size)
            lat[rows], lon[rows], place[rows] = p.lat, p.lon, p.place
            city_pop[rows] = region.population[p.city_idx]

    gender = rng.choice(3, size=n, p=[0.485, 0.485, 0.03]).astype(np.int8)
    ages = _ages(rng, n)
    orientation, seeks = _seeks(rng, gender)
    age_min, age_max = _age_range(rng, ages, gender)
    traits = draw_traits(rng, ages=ages, gender=gender)
    goal = _goals(rng, ages, traits[:, DIMENSIONS.index("RC")])
    account = _account(rng, n, ages, today)
    frame = PopulationFrame(
        ids=np.arange(n, dtype=np.int64),
        gender=gender,
        seeks=seeks,
        birth_day=birth_days(rng, ages, today),
        lat=lat,
        lon=lon,
        radius_km=_radius(rng, city_pop, pops[metro]),
        age_min=age_min,
        age_max=age_max,
        goal=goal,
        display_name=display_names(rng, gender),
        place=place,
        source=np.full(n, None, dtype=object),
        source_id=np.full(n, None, dtype=object),
        **account,
    )
    answers = None
    if bank is not False:
        if bank is None:
            from perfectmatch.questionnaire import default_bank

            bank = default_bank()
        answers = answer_bank(rng, bank, traits, fixed=_goal_answers(bank, goal))
        answers.completed_at = frame.created_at + rng.integers(120, 600, n)
        answers.dimension_scores = score_dimensions(answers)
    return SimulatedPopulation(
        frame=frame,
        metro=metro.astype(np.int16),
        metro_names=tuple(r.name for r in regions),
        orientation=orientation,
        traits=traits,
        answers=answers,
    )

"""Population metrics on small exact examples: Lorenz curve, Gini, distributions, the mutual check."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from perfectmatch.config import MatchingSettings
from perfectmatch.errors import InvalidInputError
from perfectmatch.evaluation.population import describe, evaluate, lorenz_curve, parse_run_id
from perfectmatch.evaluation.report import PLOTS, render_report
from perfectmatch.frame import GENDERS, GOALS, TIERS, PopulationFrame, day_number, pair_keys
from perfectmatch.matching.distribution import gini
from perfectmatch.models import Gender, RelationshipGoal, Tier

DAY = date(2026, 11, 25)
DAY_S = 86_400


def test_lorenz_of_equal_values_is_the_diagonal() -> None:
    assert lorenz_curve(np.array([3, 3, 3, 3]), points=5) == [
        (0.0, 0.0),
        (0.25, 0.25),
        (0.5, 0.5),
        (0.75, 0.75),
        (1.0, 1.0),
    ]


def test_lorenz_and_gini_of_one_user_taking_everything() -> None:
    values = np.array([0, 0, 0, 4])
    assert lorenz_curve(values, points=5) == [(0.0, 0.0), (0.25, 0.0), (0.5, 0.0), (0.75, 0.0), (1.0, 1.0)]
    assert gini(values) == pytest.approx(0.75)  # (n - 1) / n


def test_lorenz_knots_and_interpolation() -> None:
    # values 1, 2, 3, 4 (total 10): cumulative shares 0.1, 0.3, 0.6, 1.0 at 1/4, 2/4, 3/4, 1
    curve = dict(lorenz_curve(np.array([4, 1, 3, 2]), points=9))
    assert curve[0.25] == pytest.approx(0.1) and curve[0.5] == pytest.approx(0.3)
    assert curve[0.75] == pytest.approx(0.6) and curve[1.0] == pytest.approx(1.0)
    assert curve[0.125] == pytest.approx(0.05)  # half way along the first segment
    # Gini = 1 - 2 * area under the exact curve = 0.25
    assert gini(np.array([4, 1, 3, 2])) == pytest.approx(0.25)


def test_lorenz_edge_cases() -> None:
    assert lorenz_curve(np.array([]), points=3) == [(0.0, 0.0), (0.5, 0.5), (1.0, 1.0)]
    assert lorenz_curve(np.zeros(4), points=3) == [(0.0, 0.0), (0.5, 0.5), (1.0, 1.0)]
    with pytest.raises(InvalidInputError, match="negative"):
        lorenz_curve(np.array([-1, 2]))
    with pytest.raises(InvalidInputError, match="at least 2"):
        lorenz_curve(np.array([1, 2]), points=1)


def test_describe_quantiles_and_histogram() -> None:
    d = describe(np.arange(11), np.array([0, 5, 10]))
    assert d.count == 11 and d.mean == 5.0
    assert d.quantiles["p0"] == 0 and d.quantiles["p50"] == 5 and d.quantiles["p100"] == 10 and d.quantiles["p10"] == 1
    assert d.edges == [0, 5, 10] and d.counts == [5, 6]
    empty = describe(np.array([]), 4)
    assert empty.count == 0 and empty.counts == [0, 0, 0, 0] and empty.quantiles == {}


def test_run_ids_are_days() -> None:
    assert parse_run_id("2026-11-25") == DAY and parse_run_id(None) is None
    with pytest.raises(InvalidInputError, match="not a batch day"):
        parse_run_id("yesterday")


def _frame() -> PopulationFrame:
    """Five users in Berlin; rows 0-3 are mutually compatible in pairs (0,1) and (2,3); user 4 is a
    man seeking men, 300 km away, whom nobody here fits."""
    man, woman = GENDERS.index(Gender.MAN), GENDERS.index(Gender.WOMAN)
    seeks_w, seeks_m = 1 << woman, 1 << man
    ages = np.array([30, 28, 40, 41, 30])
    birth = np.array([day_number(date(DAY.year - int(a), 1, 1)) for a in ages], dtype=np.int32)
    now = day_number(DAY) * DAY_S
    lt = GOALS.index(RelationshipGoal.LONG_TERM)
    return PopulationFrame(
        ids=np.array([10, 11, 12, 13, 14], dtype=np.int64),
        gender=np.array([man, woman, man, woman, man], dtype=np.int8),
        seeks=np.array([seeks_w, seeks_m, seeks_w, seeks_m, seeks_m], dtype=np.uint8),
        birth_day=birth,
        lat=np.array([52.52, 52.52, 52.52, 52.61, 55.2]),  # row 3 is 10 km north, row 4 ~300 km
        lon=np.array([13.40, 13.40, 13.40, 13.40, 13.4]),
        radius_km=np.array([50.0, 50.0, 20.0, 20.0, 50.0]),
        age_min=np.array([25, 25, 35, 35, 25], dtype=np.int16),
        age_max=np.array([35, 35, 45, 45, 35], dtype=np.int16),
        goal=np.full(5, lt, dtype=np.int8),
        tier=np.array([TIERS.index(Tier.FREE)] * 3 + [TIERS.index(Tier.PREMIUM)] * 2, dtype=np.int8),
        status=np.zeros(5, dtype=np.int8),
        created_at=np.array([now - 400 * DAY_S] * 4 + [now - 2 * DAY_S], dtype=np.int64),
        last_active_at=np.full(5, now - DAY_S, dtype=np.int64),
        display_name=np.array(["a", "b", "c", "d", "e"], dtype=object),
        place=np.array([""] * 5, dtype=object),
        source=np.array([None] * 5, dtype=object),
        source_id=np.array([None] * 5, dtype=object),
    )


def _run(summary: dict | None = None) -> dict:
    return {"day": DAY, "status": "done", "stages": {}, "summary": summary or {"mode": "exact", "ai": "test"}}


def _evaluate(a: list[int], b: list[int], sources: list[str], **settings: object) -> object:
    frame = _frame()
    return evaluate(
        frame,
        np.array(a),
        np.array(b),
        np.linspace(75, 85, len(a)),
        np.array(sources, dtype=object),
        with_vector=frame.ids,
        run=_run(),
        settings=MatchingSettings(**settings),
    )


def test_exact_metrics_of_a_known_day() -> None:
    r = _evaluate([10, 12], [11, 13], ["llm", "vector"])
    assert r.matchable_users == 5 and r.matched_users == 4 and r.matches == 2
    assert r.coverage == pytest.approx(0.8)
    assert r.exposure_gini == pytest.approx(gini(np.array([1, 1, 1, 1, 0]))) == pytest.approx(0.2)
    assert r.lorenz[0] == (0.0, 0.0) and r.lorenz[-1] == (1.0, 1.0) and dict(r.lorenz)[0.2] == pytest.approx(0.0)
    assert r.mutual.share == 1.0 and r.mutual.own_radius_share == 1.0 and r.mutual.violations == []
    free, premium = r.tiers
    assert (free.users, free.matched_users, free.deliveries, free.per_user_counts[:2]) == (3, 3, 3, [0, 3])
    assert (premium.users, premium.matched_users, premium.max, premium.over_cap) == (2, 1, 1, 0)
    assert r.age_gap_years.quantiles["p0"] == 1 and r.age_gap_years.quantiles["p100"] == 2
    assert r.distance_km.quantiles["p0"] == pytest.approx(0.0) and r.distance_km.quantiles["p100"] == pytest.approx(
        10.0, abs=0.05
    )
    # user 14 is new (created 2 days before) and unmatched
    assert r.new_users.users == 1 and r.new_users.coverage == 0.0 and r.new_users.share_of_matchable == 0.2
    assert r.sources.counts == {"llm": 1, "vector": 1}
    assert r.sources.ai_share == 0.5 and r.sources.fallback_share == 0.5


def test_a_pair_breaking_preferences_is_listed_with_its_reasons() -> None:
    # 10 (man seeking women, 25-35) with 14 (man seeking men, 300 km away, same age): gender and distance
    r = _evaluate([10, 12], [14, 13], ["llm", "llm"], min_pool=0)
    assert r.mutual.share == 0.5 and r.mutual.violation_count == 1
    assert r.mutual.violations[0].model_dump() == {"user_a": 10, "user_b": 14, "failed": ["gender", "distance"]}
    page = render_report(r)
    assert "Pairs breaking mutual preferences (1)" in page and "gender, distance" in page


def test_distance_allows_the_batch_radius_expansion_only() -> None:
    # 12 and 13 are 10 km apart; radius 5 km each -> within the expansion (4 x 5 = 20 km) but not their own
    frame = _frame()
    frame.radius_km[2:4] = 5.0
    args = (frame, np.array([12]), np.array([13]), np.array([80.0]), np.array(["llm"], dtype=object))
    r = evaluate(*args, with_vector=frame.ids, run=_run(), settings=MatchingSettings())
    assert r.mutual.share == 1.0 and r.mutual.own_radius_share == 0.0
    frame.radius_km[2:4] = 2.0  # 4 x 2 = 8 km < 10 km: no expansion reaches
    r = evaluate(*args, with_vector=frame.ids, run=_run(), settings=MatchingSettings())
    assert r.mutual.share == 0.0 and r.mutual.violations[0].failed == ["distance"]
    frame.radius_km[2:4] = 5.0
    r = evaluate(*args, with_vector=frame.ids, run=_run(), settings=MatchingSettings(min_pool=0))
    assert r.mutual.share == 0.0  # no expansion configured: own radii only


def test_over_cap_is_counted() -> None:
    r = _evaluate([10, 12], [11, 13], ["llm", "llm"], free_daily_cap=0)
    assert r.tiers[0].over_cap == 3


def test_report_escapes_text_and_embeds_every_plot() -> None:
    frame = _frame()
    r = evaluate(
        frame,
        np.array([10]),
        np.array([11]),
        np.array([80.0]),
        np.array(["llm"], dtype=object),
        with_vector=frame.ids,
        run=_run({"mode": "exact", "ai": "<script>alert(1)</script>"}),
        settings=MatchingSettings(),
    )
    page = render_report(r)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count('src="data:image/png;base64,iVBORw0KGgo') == len(PLOTS)  # PNG signature, base64
    assert "http://" not in page and "https://" not in page


def test_a_day_without_matches_still_renders_every_plot() -> None:
    frame = _frame()
    empty = np.zeros(0, dtype=np.int64)
    r = evaluate(
        frame,
        empty,
        empty,
        np.zeros(0),
        np.zeros(0, dtype=object),
        with_vector=frame.ids,
        run=_run(),
        settings=MatchingSettings(premium_daily_cap=0),
    )
    assert r.matches == 0 and r.coverage == 0.0 and r.mutual.share == 1.0 and r.score.count == 0
    assert r.sources.fallback_share == 0.0 and r.exposure_gini == 0.0
    page = render_report(r)
    assert page.count("data:image/png;base64,") == len(PLOTS) and "median nan" not in page


def test_a_block_from_before_the_run_is_a_violation() -> None:
    frame = _frame()
    args = (frame, np.array([10, 12]), np.array([11, 13]), np.array([80.0, 81.0]), np.array(["llm"] * 2, dtype=object))
    r = evaluate(
        *args,
        with_vector=frame.ids,
        run=_run(),
        settings=MatchingSettings(),
        blocked=pair_keys(np.array([13]), np.array([12])),
    )
    assert r.mutual.share == 0.5 and [v.failed for v in r.mutual.violations] == [["blocked"]]
    assert (r.mutual.violations[0].user_a, r.mutual.violations[0].user_b) == (12, 13)

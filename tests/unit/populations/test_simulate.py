"""Synthetic populations: deterministic, valid, and with plausible shares and correlations."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfectmatch.errors import InvalidInputError
from perfectmatch.frame import GENDERS, GOALS, STATUSES, TIERS, PopulationFrame
from perfectmatch.models import Dimension, Gender, QuestionnaireResponse, RelationshipGoal, Tier, UserStatus
from perfectmatch.populations.answers import DIMENSIONS
from perfectmatch.populations.metros import top_metros
from perfectmatch.populations.simulate import simulate
from perfectmatch.questionnaire import default_bank

TODAY = date(2026, 11, 25)
MAN, WOMAN, NB = (1 << GENDERS.index(g) for g in (Gender.MAN, Gender.WOMAN, Gender.NONBINARY))


@pytest.fixture(scope="module")
def pop():  # type: ignore[no-untyped-def]
    return simulate(20_000, 11, today=TODAY)


def _frames_equal(a: PopulationFrame, b: PopulationFrame) -> bool:
    return all(np.array_equal(getattr(a, k), getattr(b, k)) for k in vars(a))


def test_same_seed_same_population_other_seed_differs(small_bank) -> None:  # type: ignore[no-untyped-def]
    a = simulate(500, 5, today=TODAY, bank=small_bank)
    b = simulate(500, 5, today=TODAY, bank=small_bank)
    c = simulate(500, 6, today=TODAY, bank=small_bank)
    assert _frames_equal(a.frame, b.frame)
    assert np.array_equal(a.answers.values, b.answers.values, equal_nan=True)
    assert a.responses[17] == b.responses[17]
    assert not np.array_equal(a.frame.lat, c.frame.lat)


def test_frame_passes_validation_and_models(pop) -> None:  # type: ignore[no-untyped-def]
    assert pop.frame.validate(today=TODAY) == []
    for i in (0, 1, 999, 19_999):
        member = pop.frame.member(i)  # builds validated pydantic models
        assert member.profile.age_on(TODAY) >= 18


def test_shares_are_plausible(pop) -> None:  # type: ignore[no-untyped-def]
    f = pop.frame
    ages = f.ages_on(TODAY)
    assert ages.min() >= 18 and ages.max() <= 70
    assert 25 <= np.median(ages) <= 35
    assert np.mean(ages < 40) > 0.6
    gender_share = np.bincount(f.gender, minlength=3) / len(f)
    assert 0.45 < gender_share[GENDERS.index(Gender.MAN)] < 0.52
    assert 0.01 < gender_share[GENDERS.index(Gender.NONBINARY)] < 0.06
    straight = np.mean(pop.orientation == 0)
    assert 0.75 < straight < 0.92
    assert 0.12 < np.mean(f.tier == TIERS.index(Tier.PREMIUM)) < 0.18
    assert 0.005 < np.mean(f.status == STATUSES.index(UserStatus.SUSPENDED)) < 0.03
    assert ((f.radius_km >= 10) & (f.radius_km <= 80)).all()
    now = datetime.combine(TODAY, datetime.min.time(), UTC).timestamp()
    recent = np.mean(f.last_active_at >= now - 30 * 86_400)
    assert 0.65 < recent < 0.9
    assert (f.last_active_at >= f.created_at).all() and (f.last_active_at <= now).all()
    goals = np.bincount(f.goal, minlength=len(GOALS)) / len(f)
    assert goals.min() > 0.02 and goals[GOALS.index(RelationshipGoal.LONG_TERM)] == goals.max()


def test_metros_follow_population(pop) -> None:  # type: ignore[no-untyped-def]
    metros = top_metros(12)
    pops = np.array([m.total_population for m in metros], dtype=float)
    shares = np.bincount(pop.metro, minlength=len(metros)) / len(pop)
    assert np.abs(shares - pops / pops.sum()).max() < 0.02


def test_preferences_follow_orientation_and_age(pop) -> None:  # type: ignore[no-untyped-def]
    f = pop.frame
    man, woman = f.gender == GENDERS.index(Gender.MAN), f.gender == GENDERS.index(Gender.WOMAN)
    straight, gay, bi = pop.orientation == 0, pop.orientation == 1, pop.orientation == 2
    assert (f.seeks[man & straight] == WOMAN).all()
    assert (f.seeks[woman & straight] == MAN).all()
    assert (f.seeks[man & gay] == MAN).all()
    assert (f.seeks[woman & gay] == WOMAN).all()
    s = f.seeks[bi]
    n_sought = (s & MAN > 0).astype(int) + (s & WOMAN > 0) + (s & NB > 0)
    assert ((s & (MAN | WOMAN)) != 0).all() and (n_sought >= 2).all()
    ages = f.ages_on(TODAY)
    assert ((f.age_min <= ages) & (ages <= f.age_max)).all()
    assert np.median(f.age_max - f.age_min) < 20


def test_radius_shrinks_with_density(pop) -> None:  # type: ignore[no-untyped-def]
    big = pop.metro == 0  # New York
    small = pop.metro == len(pop.metro_names) - 1
    assert np.median(pop.frame.radius_km[big]) < np.median(pop.frame.radius_km[small])


def test_latent_traits_are_correlated_and_drive_answers(pop) -> None:  # type: ignore[no-untyped-def]
    corr = np.corrcoef(pop.traits.T)
    assert corr[DIMENSIONS.index("CS"), DIMENSIONS.index("EI")] > 0.3
    bank = default_bank()
    qids = bank.question_ids
    v = pop.answers.values

    def col(qid: str) -> np.ndarray:
        return v[:, qids.index(qid)]

    ok = ~np.isnan(col("cs_E1")) & ~np.isnan(col("cs_E2")) & ~np.isnan(col("ei_A4"))
    r_same = np.corrcoef(col("cs_E1")[ok], col("cs_E2")[ok])[0, 1]  # reverse-keyed pair
    assert r_same < -0.2
    r_cross = np.corrcoef(col("cs_E1")[ok], col("ei_A4")[ok])[0, 1]  # CS and EI correlate
    assert r_cross > 0.05
    cs = pop.traits[ok, DIMENSIONS.index("CS")]
    assert np.corrcoef(cs, col("cs_E1")[ok])[0, 1] > 0.3


def test_goal_question_matches_preferences_and_gates_the_family_block(pop) -> None:  # type: ignore[no-untyped-def]
    bank = default_bank()
    q = bank.question("rc_goal")
    answered = pop.answers.values[:, bank.question_ids.index("rc_goal")]
    goal_ids = np.array([GOALS[g].value for g in pop.frame.goal])
    assert (np.array(q.option_ids)[answered.astype(int)] == goal_ids).all()
    family = pop.answers.values[:, bank.question_ids.index("cv_children_upbringing")]
    wants_family = np.isin(goal_ids, ["marriage", "long_term"])
    assert np.isnan(family[~wants_family]).all()
    assert np.mean(~np.isnan(family[wants_family])) > 0.9


def test_responses_are_valid_models_with_texts(pop) -> None:  # type: ignore[no-untyped-def]
    bank = default_bank()
    rs = pop.responses
    assert len(rs) == len(pop)
    texts = 0
    for i in (0, 5, 123, len(rs) - 1):
        r = rs[i]
        again = QuestionnaireResponse.model_validate(r.model_dump())  # full validation
        assert again == r and r.bank_version == bank.version
        for a in r.answers:
            q = bank.question(a.question_id)
            if q.type.value == "single_choice":
                assert a.value in q.option_ids
            elif q.type.value == "multiple_choice":
                assert set(a.value) <= set(q.option_ids) and a.value
            else:
                lo, hi = q.bounds
                assert lo <= a.value <= hi
            assert 1 <= a.importance <= 10
        texts += len(r.open_texts)
        assert all(len(t) > 10 for t in r.open_texts.values())
    assert texts > 8


def test_open_texts_vary_with_the_trait() -> None:
    p = simulate(3000, 2, today=TODAY)
    text = p.answers.open_texts["open_values"]
    cv = p.traits[:, DIMENSIONS.index("CV")]
    faith = np.array(["faith" in t for t in text])
    assert cv[faith].mean() > 0.5 > cv[~faith].mean()


@pytest.mark.parametrize("n", [0, -3])
def test_non_positive_size_is_refused(n: int) -> None:
    with pytest.raises(InvalidInputError, match="positive"):
        simulate(n, 0, today=TODAY)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 60), seed=st.integers(0, 2**32 - 1))
def test_any_seed_gives_a_valid_frame(small_bank, n: int, seed: int) -> None:  # type: ignore[no-untyped-def]
    p = simulate(n, seed, today=TODAY, bank=small_bank)
    assert len(p.frame) == n == len(p.responses)
    assert p.frame.validate(today=TODAY) == []


def test_answer_matrix_encodes_like_the_per_user_responses(pop) -> None:  # type: ignore[no-untyped-def]
    from perfectmatch.questionnaire.encoding import FeatureLayout

    layout = FeatureLayout.from_bank(default_bank())
    sub = pop.answers.take(np.arange(40))
    values, importance = sub.for_layout(layout)
    feats, imp = layout.encode_matrix(values, importance)
    assert feats.shape == (40, layout.dim) and np.isfinite(feats).all()
    rs = pop.responses
    for i in (0, 13, 39):
        one_feats, one_imp = layout.encode(rs[i].answers)
        assert np.allclose(one_feats, feats[i], atol=1e-5)
        assert np.allclose(one_imp, imp[i], atol=1e-5)


def test_dimension_scores_match_the_questionnaire_model_and_recover_traits(pop) -> None:  # type: ignore[no-untyped-def]
    from perfectmatch.questionnaire.scoring import DimensionModel

    bank = default_bank()
    model = DimensionModel(bank)
    scores = pop.answers.dimension_scores
    for i in (0, 77, 4321):
        answers = pop.responses[i].answers
        obs = [(a.question_id, bank.question(a.question_id).response(a.value)) for a in answers]
        post = model.posterior((q, y) for q, y in obs if y is not None)
        expected = [s.score for s in post.scores().values()]
        assert np.allclose(scores[i], expected, atol=1e-6)
        assert pop.responses[i].dimension_scores[Dimension.RC] == pytest.approx(expected[0], abs=0.01)
    for k in range(5):
        assert np.corrcoef(scores[:, k], pop.traits[:, k])[0, 1] > 0.8

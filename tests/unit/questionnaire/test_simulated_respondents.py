"""Simulated respondents and ``simulate``: the engine recovers known true scores; fatigue shortens paths."""

import numpy as np

from perfectmatch.questionnaire import FeatureLayout, default_bank
from perfectmatch.questionnaire.respondents import make_respondents, simulate
from perfectmatch.questionnaire.session import Session


def test_engine_recovers_true_scores_without_fatigue():
    report = simulate(
        default_bank(), make_respondents(30, seed=3, fatigue=False), strategy="most_informative"
    )
    assert report.completion_rate == 1.0 and report.finished_rate == 1.0
    assert report.fatigue_detected_rate == 0.0 and report.mean_dropped == 0.0
    assert min(report.correlation.values()) > 0.8
    assert max(report.rmse.values()) < 0.6


def test_fatigue_is_detected_and_shortens_paths():
    bank = default_bank()
    rested = simulate(bank, make_respondents(30, seed=4, fatigue=False))
    tired = simulate(bank, make_respondents(30, seed=4, fatigue=True))
    assert tired.fatigue_detected_rate > 0.3 and tired.mean_dropped > 0
    assert tired.mean_path_length < rested.mean_path_length
    assert sum(tired.unmet.values()) > 0 and 0 <= tired.completion_rate < 1


def test_respondents_are_reproducible():
    a, b = make_respondents(3, seed=9), make_respondents(3, seed=9)
    assert all(np.array_equal(x.theta, y.theta) for x, y in zip(a, b, strict=True))
    q = default_bank().question("cs_direct")
    assert a[0].answer(q) == b[0].answer(q)


def test_session_answers_encode_for_matching():
    bank = default_bank()
    layout = FeatureLayout.from_bank(bank)
    r = make_respondents(1, seed=2, fatigue=False)[0]
    s = Session(bank)
    while (q := s.next_question()) is not None:
        value, importance, seconds = r.answer(q)
        s.answer(q.id, value, importance=importance, seconds=seconds)
    response = s.to_response(1)
    feats, imp = layout.encode(response.answers)
    assert feats.shape == (layout.dim,)
    singles = [a for a in response.answers if isinstance(a.value, str)]
    assert singles and all(
        feats[layout.feature_names.index(f"{a.question_id}={a.value}")] == 1.0 for a in singles
    )
    assert np.all((imp >= 0.1) & (imp <= 1.0))

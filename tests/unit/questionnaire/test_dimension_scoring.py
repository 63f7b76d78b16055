"""The Gaussian scoring model and the expected-reduction formula used by most-informative selection."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from perfectmatch.questionnaire import parse_bank
from perfectmatch.questionnaire.scoring import DimensionModel
from perfectmatch.questionnaire.selection import expected_reduction

loading = st.sampled_from([-0.8, -0.4, 0.0, 0.3, 0.6, 0.9])


@st.composite
def banks_and_answers(draw):
    n = draw(st.integers(1, 8))
    qs = [
        {
            "id": f"q{i}",
            "text": "?",
            "type": "likert",
            "intercept": draw(st.sampled_from([0.0, 0.3, -0.2])),
            "noise": draw(st.sampled_from([0.1, 0.25, 1.0])),
            "dimensions": {d: draw(loading) for d in ["RC", "CS", "EI", "LC", "CV"]},
        }
        for i in range(n)
    ]
    bank = parse_bank({"version": "s", "blocks": [{"id": "b", "questions": qs}]})
    ys = draw(st.lists(st.sampled_from([-1.0, -0.5, 0.0, 0.5, 1.0]), min_size=n, max_size=n))
    return bank, ys


@settings(max_examples=50, deadline=None)
@given(banks_and_answers())
def test_sequential_updates_equal_the_information_form(case):
    bank, ys = case
    model = DimensionModel(bank)
    post = model.prior()
    for qid, y in zip(model.ids, ys, strict=True):
        i = model.index[qid]
        post.update(model.loadings[i], float(model.noise[i]), y - float(model.intercept[i]))
    batch = model.posterior(zip(model.ids, ys, strict=True))
    np.testing.assert_allclose(post.mean, batch.mean, atol=1e-9)
    np.testing.assert_allclose(post.cov, batch.cov, atol=1e-9)
    assert np.all(post.sd <= 1.0 + 1e-12)


@settings(max_examples=50, deadline=None)
@given(banks_and_answers(), st.lists(st.sampled_from([0.5, 1.0, 2.0]), min_size=5, max_size=5))
def test_expected_reduction_is_the_actual_weighted_variance_drop(case, weights):
    bank, ys = case
    model = DimensionModel(bank)
    w = np.array(weights)
    post = model.posterior([(model.ids[0], ys[0])])
    gains = expected_reduction(model.loadings, model.noise, post.cov, w)
    for i in range(len(model.ids)):
        after = post.copy()
        after.update(model.loadings[i], float(model.noise[i]), 0.3)
        actual = float(np.diag(post.cov) @ w - np.diag(after.cov) @ w)
        assert abs(gains[i] - actual) < 1e-9


def test_intercept_centres_the_average_respondent():
    bank = parse_bank(
        {
            "version": "s",
            "blocks": [
                {
                    "id": "b",
                    "questions": [
                        {
                            "id": "q",
                            "text": "?",
                            "type": "likert",
                            "intercept": 0.5,
                            "dimensions": {"EI": 0.5},
                        }
                    ],
                }
            ],
        }
    )
    model = DimensionModel(bank)
    assert abs(model.posterior([("q", 0.5)]).mean[2]) < 1e-12  # answering like the average person → 0
    assert model.posterior([("q", 1.0)]).mean[2] > 0

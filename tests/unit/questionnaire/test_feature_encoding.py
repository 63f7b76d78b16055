"""FeatureLayout: slices per dimension, one-hot / scaled features, importance means, matrix == per-user."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfectmatch.errors import InvalidAnswerError, UnknownQuestionError
from perfectmatch.models import Answer, Dimension
from perfectmatch.questionnaire import FeatureLayout, QuestionType, default_bank, parse_bank

BANK = parse_bank(
    {
        "version": "t1",
        "blocks": [
            {
                "id": "b",
                "questions": [
                    {
                        "id": "goal",
                        "text": "g",
                        "options": [{"id": "a", "text": "A"}, {"id": "b", "text": "B"}],
                        "dimensions": {"RC": 0.5},
                    },
                    {"id": "lik", "text": "l", "type": "likert", "dimensions": {"CS": 0.5}},
                    {
                        "id": "pets",
                        "text": "p",
                        "type": "multiple_choice",
                        "dimensions": {"LC": 0.2},
                        "options": [
                            {"id": "x", "text": "X"},
                            {"id": "y", "text": "Y"},
                            {"id": "z", "text": "Z"},
                        ],
                    },
                    {
                        "id": "num",
                        "text": "n",
                        "type": "numeric",
                        "minValue": 0,
                        "maxValue": 80,
                        "dimensions": {"RC": 0.1},
                    },
                    {"id": "txt", "text": "t", "type": "open_text", "dimensions": {"CV": 1.0}},
                ],
            }
        ],
    }
)


def test_layout_groups_features_by_dimension_in_dimension_order():
    layout = FeatureLayout.from_bank(BANK)
    assert layout.question_ids == ("goal", "num", "lik", "pets")
    assert layout.dim == 2 + 1 + 1 + 3
    assert layout.slices[Dimension.RC] == slice(0, 3)
    assert layout.slices[Dimension.CS] == slice(3, 4)
    assert layout.slices[Dimension.EI] == slice(4, 4)
    assert layout.slices[Dimension.LC] == slice(4, 7)
    assert layout.slices[Dimension.CV] == slice(7, 7)
    assert layout.feature_names[:3] == ("goal=a", "goal=b", "num")


def test_encode_one_user():
    layout = FeatureLayout.from_bank(BANK)
    feats, imp = layout.encode(
        [
            Answer(question_id="goal", value="b", importance=9),
            Answer(question_id="lik", value=5, importance=3),
            Answer(question_id="pets", value=("x", "z"), importance=5),
            Answer(question_id="num", value=20, importance=1),
            Answer(question_id="txt", value="some words", importance=5),
        ]
    )
    assert feats.dtype == np.float32 and imp.dtype == np.float32
    np.testing.assert_allclose(feats, [0, 1, -0.5, 1, 1, 0, 1])
    np.testing.assert_allclose(imp, [0.5, 0.3, 0.5, 0.5, 0.5])  # RC = mean(9, 1)/10; no data → 0.5


def test_unanswered_questions_encode_to_zero_and_neutral_importance():
    layout = FeatureLayout.from_bank(BANK)
    feats, imp = layout.encode([])
    assert not feats.any()
    np.testing.assert_allclose(imp, 0.5)


def test_bad_answers_are_typed_errors():
    layout = FeatureLayout.from_bank(BANK)
    with pytest.raises(InvalidAnswerError, match="no option 'c'"):
        layout.encode([Answer(question_id="goal", value="c")])
    with pytest.raises(UnknownQuestionError, match="nope"):
        layout.encode([Answer(question_id="nope", value="c")])
    with pytest.raises(InvalidAnswerError, match="row 1"):
        layout.encode_matrix(np.array([[0, 1, 3, 1], [2, 1, 3, 1]], dtype=float))
    with pytest.raises(InvalidAnswerError, match="bitmask"):
        layout.encode_matrix(np.array([[0, 1, 3, 8]], dtype=float))
    with pytest.raises(InvalidAnswerError, match="shape"):
        layout.encode_matrix(np.zeros((2, 3)))


@st.composite
def answer_sets(draw):
    bank = default_bank()
    layout = FeatureLayout.from_bank(bank)
    answers = []
    for qid in draw(st.lists(st.sampled_from(layout.question_ids), unique=True, max_size=25)):
        q = bank.question(qid)
        if q.type is QuestionType.SINGLE:
            value = draw(st.sampled_from(q.option_ids))
        elif q.type is QuestionType.MULTIPLE:
            value = tuple(draw(st.lists(st.sampled_from(q.option_ids), unique=True, min_size=1)))
        else:
            lo, hi = q.bounds
            value = draw(st.integers(int(lo), int(hi)))
        answers.append(Answer(question_id=qid, value=value, importance=draw(st.integers(1, 10))))
    return answers


@settings(max_examples=40, deadline=None)
@given(st.lists(answer_sets(), min_size=1, max_size=4))
def test_matrix_encoding_equals_per_user_encoding(users):
    layout = FeatureLayout.from_bank(default_bank())
    rows = [layout.to_row(a) for a in users]
    values = np.stack([r[0] for r in rows])
    importance = np.stack([r[1] for r in rows])
    feats, imp = layout.encode_matrix(values, importance)
    for i, answers in enumerate(users):
        f1, i1 = layout.encode(answers)
        np.testing.assert_array_equal(feats[i], f1)
        np.testing.assert_array_equal(imp[i], i1)
        assert np.all((imp[i] >= 0.1) & (imp[i] <= 1.0))
        assert np.all(np.abs(f1) <= 1.0)
        # every answered choice question lights exactly the chosen options in its dimension slice
        for a in answers:
            q = default_bank().question(a.question_id)
            if q.type is QuestionType.SINGLE:
                j = layout.feature_names.index(f"{q.id}={a.value}")
                assert f1[j] == 1.0
                assert j in range(
                    layout.slices[q.primary_dimension].start, layout.slices[q.primary_dimension].stop
                )


def test_default_bank_encodes_many_users_quickly():
    layout = FeatureLayout.from_bank(default_bank())
    rng = np.random.default_rng(1)
    n = 20_000
    values = np.full((n, len(layout.question_ids)), np.nan)
    for j, qid in enumerate(layout.question_ids):
        q = default_bank().question(qid)
        if q.type is QuestionType.SINGLE:
            values[:, j] = rng.integers(0, len(q.options), n)
        elif q.type is QuestionType.MULTIPLE:
            values[:, j] = rng.integers(0, 2 ** len(q.options), n)
        else:
            lo, hi = q.bounds
            values[:, j] = rng.integers(int(lo), int(hi) + 1, n)
    values[rng.random(values.shape) < 0.3] = np.nan
    feats, imp = layout.encode_matrix(values, np.where(np.isnan(values), np.nan, 7.0))
    assert feats.shape == (n, layout.dim) and imp.shape == (n, 5)
    # each answered single-choice question contributes exactly one 1 in its slot range
    assert np.isclose(imp, 0.7).all()

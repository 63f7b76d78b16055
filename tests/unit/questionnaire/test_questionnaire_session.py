"""Sessions on the default bank: typed errors leave the session unchanged, changing answers, fatigue,
completion criteria, scores, selection and the domain response."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest

from perfectmatch.errors import InvalidAnswerError, InvalidInputError, UnknownQuestionError
from perfectmatch.models import Dimension, QuestionnaireResponse
from perfectmatch.questionnaire import default_bank, parse_bank
from perfectmatch.questionnaire.fatigue import Step, assess
from perfectmatch.questionnaire.models import QuestionType
from perfectmatch.questionnaire.session import Session
from perfectmatch.questionnaire.validation import validate


def _value(q, step=0):
    if q.type is QuestionType.SINGLE:
        return q.option_ids[step % len(q.option_ids)]
    if q.type is QuestionType.MULTIPLE:
        return [q.option_ids[0]]
    if q.type is QuestionType.LIKERT:
        return 1 + step % 5
    if q.type is QuestionType.NUMERIC:
        return 40
    return "I like long walks and honest conversations."


def _answer_until(s: Session, stop: str | None = None, *, seconds=6.0) -> list[str]:
    asked = []
    while (q := s.next_question()) is not None and q.id != stop:
        s.answer(
            q.id, "marriage" if q.id == "rc_goal" else _value(q, len(asked)), importance=8, seconds=seconds
        )
        asked.append(q.id)
    return asked


def test_default_bank_passes_validation():
    assert validate(default_bank()) == []


@pytest.mark.parametrize(
    ("qid", "value", "kwargs", "error", "match"),
    [
        ("rc_goal", "polyamory", {}, InvalidAnswerError, "no option 'polyamory'"),
        ("rc_goal", "marriage", {"importance": 11}, InvalidAnswerError, "importance"),
        ("rc_goal", "marriage", {"importance": 0}, InvalidAnswerError, "importance"),
        ("rc_goal", "marriage", {"seconds": -1.0}, InvalidAnswerError, "seconds"),
        ("lc_work_hours", "forty", {}, InvalidAnswerError, "not presented|expects a number"),
        ("cs_direct", 3, {}, InvalidAnswerError, "was not presented"),
        ("no_such_question", 1, {}, UnknownQuestionError, "no_such_question"),
    ],
)
def test_bad_answers_are_typed_and_leave_the_session_unchanged(qid, value, kwargs, error, match):
    s = Session(default_bank())
    s.next_question()
    before = json.dumps(s.to_dict())
    with pytest.raises(error, match=match):
        s.answer(qid, value, **kwargs)
    assert json.dumps(s.to_dict()) == before
    assert s.presented == ("rc_goal",)


def test_type_errors_for_each_question_type():
    bank = default_bank()
    s = Session(bank)
    for qid, bad in [
        ("lc_work_hours", "forty"),
        ("lc_work_hours", 81),
        ("cs_direct", 2.5),
        ("cs_direct", 6),
        ("lc_pets", ["has_dogs", "has_dogs"]),
        ("lc_pets", []),
        ("open_values", "   "),
        ("cs_direct", True),
    ]:
        with pytest.raises(InvalidAnswerError, match=qid):
            s.change_answer(qid, bad)  # value checks come first, whatever the method


def test_changing_an_answer_re_evaluates_the_path():
    s = Session(default_bank(), strategy="fixed")
    _answer_until(s, stop="cs_direct")
    answered = {a.question_id for a in s.answers}
    assert {
        "rc_commit_timeline",
        "rc_marriage_view",
        "rc_household",
    } <= answered  # marriage path and family block
    p_before = s.progress().fraction
    discarded = s.change_answer("rc_goal", "casual", importance=9)
    assert {"rc_commit_timeline", "rc_marriage_view", "rc_household"} <= set(discarded)
    assert "rc_marriage_view" in s.skipped and s.fired_rules["rc_goal"] == 2
    assert s.dimension_weights[Dimension.LC] == 1.5
    shown = [q.id for q in s.present(2)]
    assert shown == ["rc_casual_openness", "rc_casual_frequency"]  # the casual rule's nextQuestions come next
    assert s.progress().fraction < p_before  # allowed to drop after a change
    with pytest.raises(InvalidAnswerError, match="has not been answered"):
        s.change_answer("cv_politics", "moderate")


def test_resume_from_json_continues_identically():
    bank = default_bank()
    a, b = Session(bank, strategy="random", seed=5), Session(bank, strategy="random", seed=5)
    _answer_until(a, stop="cs_direct")
    _answer_until(b, stop="cs_direct")
    b = Session.from_dict(bank, json.loads(json.dumps(b.to_dict())))
    assert _answer_until(a) == _answer_until(b)
    assert a.to_dict() == b.to_dict()
    with pytest.raises(InvalidInputError, match="bank"):
        Session.from_dict(parse_bank({**bank.model_dump(by_alias=True), "version": "other"}), a.to_dict())


def test_fatigue_shortens_the_path_but_keeps_critical_and_high_importance_questions():
    bank = default_bank()
    s = Session(bank, strategy="fixed")
    n = 0
    while (q := s.next_question()) is not None and not s.dropped:
        fast = n >= 12
        value = 3 if fast and q.type is QuestionType.LIKERT else _value(q, n)
        s.answer(q.id, value, seconds=0.6 if fast else 7.0)
        n += 1
    assert s.dropped, "fatigue was never detected"
    assert s.engagement.fatigued and s.engagement.engagement < 0.6
    assert s.engagement.signals["speeding"] > 0.5
    for qid in s.dropped:
        q = bank.question(qid)
        assert not q.critical and not q.high_importance
    flags = [q.critical or q.high_importance for q in s.present(50)]
    assert any(flags) and flags == sorted(flags, reverse=True)  # while tired, priority questions come first
    remaining = set(s.remaining_path())
    keep = {q.id for q in bank.questions.values() if (q.critical or q.high_importance) and not q.conditional}
    assert keep - {a.question_id for a in s.answers} - s.skipped <= remaining


def test_fatigue_signals():
    calm = [Step(6.0, float(v)) for v in [1, 4, 2, 5, 3, 2, 4, 1, 5, 2]]
    assert not assess(calm).fatigued and assess(calm).engagement == 1.0
    straight = calm + [Step(6.0, 3.0)] * 8
    assert assess(straight).signals["straight_lining"] == 1.0
    rushed = calm + [Step(0.5, float(v)) for v in [1, 4, 2, 5, 3, 2, 4, 1]]
    assert assess(rushed).fatigued
    changing = calm + [Step(6.0, None, changed=True)] * 4
    assert assess(changing).signals["answer_changes"] == 1.0
    assert not assess(rushed[:5]).fatigued  # too few answers to judge


def test_completion_reports_each_criterion():
    s = Session(default_bank(), strategy="fixed")
    report = s.completion()
    assert [c.name for c in report.criteria] == [
        "adaptive_path",
        "critical_dimensions",
        "open_answers",
        "engagement",
    ]
    assert not report.complete
    assert not report["adaptive_path"].met and not report["open_answers"].met
    assert set(report["critical_dimensions"].missing) == {f"{d.value} (0/3)" for d in Dimension}
    assert report["engagement"].met
    _answer_until(s)
    report = s.completion()
    assert report.complete and s.finished and s.progress().fraction == 1.0
    result = s.result(7, now=datetime(2026, 11, 25, tzinfo=UTC))
    assert result.complete and result.response.completed_at is not None
    assert isinstance(result.response, QuestionnaireResponse)
    assert len(result.response.open_texts) >= 3
    assert all(0 <= v <= 100 for v in result.response.dimension_scores.values())


def test_most_informative_asks_the_strongest_item_first_and_adapts():
    qs = [
        {"id": f"q{i}", "text": "?", "type": "likert", "dimensions": dims}
        for i, dims in enumerate([{"RC": 0.2}, {"RC": 0.8}, {"CS": 0.5}, {"RC": 0.79}, {"CV": 0.1}])
    ]
    bank = parse_bank(
        {"version": "t", "minQuestionsPerDimension": 1, "blocks": [{"id": "b", "questions": qs}]}
    )
    s = Session(bank)
    assert [q.id for q in s.present(5)] == ["q1", "q3", "q2", "q0", "q4"]
    s.answer("q1", 5)
    # RC is now better known, so the CS item beats the second RC item
    assert s.next_question().id == "q2"
    assert [q.id for q in Session(bank, strategy="fixed").present(5)] == ["q0", "q1", "q2", "q3", "q4"]


def test_scores_move_toward_the_answers_and_uncertainty_shrinks():
    bank = default_bank()
    s = Session(bank, strategy="fixed")
    prior = s.scores()[Dimension.CS]
    assert prior.score == 50.0 and prior.sd == 1.0
    while (q := s.next_question()) is not None:
        if q.type is QuestionType.LIKERT and q.dimensions.get(Dimension.CS):
            s.answer(q.id, 5 if q.dimensions[Dimension.CS] > 0 else 1)  # maximally expressive communicator
        else:
            s.answer(q.id, "marriage" if q.id == "rc_goal" else _value(q))
    cs = s.scores()[Dimension.CS]
    assert cs.score > 90 and cs.sd < 0.35 and cs.low < cs.score < cs.high and cs.n_answers >= 10


def test_target_sd_skips_redundant_questions():
    bank = default_bank()
    full, short = Session(bank), Session(bank, target_sd=0.45)
    n_full, n_short = len(_answer_until(full)), len(_answer_until(short))
    assert short.redundant and n_short < n_full
    assert all(not (bank.question(q).critical or bank.question(q).high_importance) for q in short.redundant)
    assert np.all([s.sd <= 0.45 + 1e-9 for s in short.scores().values()])


@pytest.mark.parametrize(
    ("goal", "importance", "asked", "not_asked"),
    [
        ("marriage", 9, {"rc_commit_timeline", "rc_marriage_view", "rc_household"}, {"rc_casual_openness"}),
        (
            "long_term",
            4,
            {"rc_commit_timeline", "rc_household"},
            {"rc_casual_openness", "rc_friend_activities"},
        ),
        ("casual", 6, {"rc_casual_openness", "rc_casual_frequency"}, {"rc_marriage_view", "rc_household"}),
        (
            "friendship",
            5,
            {"rc_friend_activities"},
            {"rc_marriage_view", "rc_commit_timeline", "rc_household"},
        ),
        ("unsure", 5, {"rc_unsure_explore"}, {"rc_commit_timeline", "rc_household", "rc_casual_openness"}),
    ],
)
def test_default_bank_branches_for_each_relationship_goal(goal, importance, asked, not_asked):
    s = Session(default_bank(), strategy="fixed")
    s.next_question()
    s.answer("rc_goal", goal, importance=importance)
    while (q := s.next_question()) is not None:
        s.answer(q.id, _value(q))
    answered = {a.question_id for a in s.answers}
    assert asked <= answered
    assert not (not_asked & answered)
    assert s.completion().complete

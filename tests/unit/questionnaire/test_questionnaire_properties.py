"""Hypothesis properties over random banks and random answer sequences (the issue's acceptance list)."""

from __future__ import annotations

import copy
import json
import os
from typing import Any

import pytest
from _qbank_strategies import answer_value, valid_banks
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perfectmatch.errors import InvalidAnswerError, UnknownQuestionError
from perfectmatch.questionnaire import QuestionType, parse_bank
from perfectmatch.questionnaire.fatigue import FatigueConfig
from perfectmatch.questionnaire.session import Session
from perfectmatch.questionnaire.validation import validate

FATIGUE = FatigueConfig(window=4, baseline_answers=3, min_answers=4)  # small banks: detect fatigue early
# More examples for a deeper run: QUESTIONNAIRE_EXAMPLES=1000 pytest tests/unit/questionnaire
SETTINGS = settings(
    max_examples=int(os.environ.get("QUESTIONNAIRE_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

actions = st.lists(
    st.tuples(
        st.integers(1, 3),  # how many questions to present
        st.integers(0, 10**6),  # which presented question to answer / which answer to change
        st.integers(0, 10**6),  # the answer
        st.integers(1, 10),  # importance
        st.sampled_from([None, 0.4, 2.0, 5.0, 9.0]),  # seconds
        st.integers(0, 9),  # 0 = change an earlier answer instead
    ),
    max_size=40,
)


def run(
    bank, acts, *, strategy: str, resume_at: int | None = None, target_sd: float | None = None
) -> tuple[list[Any], Session]:
    """Play ``acts`` through a session, checking the step invariants; optionally save/resume at one step."""
    s = Session(bank, strategy=strategy, seed=11, fatigue=FATIGUE, target_sd=target_sd)
    trace: list[Any] = []
    last = s.progress().fraction
    for i, (k, pick, r, imp, secs, change) in enumerate(acts):
        if i == resume_at:
            s = Session.from_dict(bank, json.loads(json.dumps(s.to_dict())))
        if change == 0 and s.answers:
            qid = s.answers[pick % len(s.answers)].question_id
            discarded = s.change_answer(
                qid, answer_value(bank.question(qid), r + 1), importance=imp, seconds=secs
            )
            trace.append(("change", qid, tuple(sorted(discarded))))
            last = s.progress().fraction  # may drop after a change; that is allowed
            continue
        shown = s.present(k)
        if not shown:
            assert s.finished
            break
        answered = {a.question_id for a in s.answers}
        for q in shown:  # never a skipped, dropped or already answered question
            assert q.id not in s.skipped | s.dropped | s.redundant and q.id not in answered
        q = shown[pick % len(shown)]
        s.answer(q.id, answer_value(q, r), importance=imp, seconds=secs)
        now = s.progress().fraction
        assert now >= last - 1e-12, (q.id, last, now)
        last = now
        trace.append(("answer", [x.id for x in shown], q.id, round(now, 12)))
    return trace, s


@SETTINGS
@given(
    valid_banks(max_blocks=4, max_block_size=6),
    actions,
    st.sampled_from(["most_informative", "fixed", "random"]),
    st.data(),
)
def test_sessions_respect_skips_keep_progress_monotone_and_terminate(data, acts, strategy, draw):
    bank = parse_bank(data)
    target_sd = draw.draw(st.sampled_from([None, 0.6]))
    _, s = run(bank, acts, strategy=strategy, target_sd=target_sd)
    for _ in range(len(bank.questions) + 1):  # then answer straight through: must terminate
        q = s.next_question()
        if q is None:
            break
        assert q.id not in s.skipped | s.dropped | s.redundant
        before = s.progress().fraction
        s.answer(q.id, answer_value(q, 3), seconds=5.0)
        assert s.progress().fraction >= before - 1e-12
    assert s.finished and s.next_question() is None
    assert s.progress().fraction == 1.0 and s.remaining_path() == []
    assert len({a.question_id for a in s.answers}) == len(s.answers)


@SETTINGS
@given(
    valid_banks(max_blocks=4, max_block_size=6),
    actions,
    st.sampled_from(["most_informative", "fixed", "random"]),
    st.data(),
)
def test_save_resume_continue_equals_never_stopping(data, acts, strategy, draw):
    bank = parse_bank(data)
    resume_at = draw.draw(st.integers(0, max(0, len(acts))))
    target_sd = draw.draw(st.sampled_from([None, 0.6]))
    straight_trace, straight = run(bank, acts, strategy=strategy, target_sd=target_sd)
    resumed_trace, resumed = run(bank, acts, strategy=strategy, resume_at=resume_at, target_sd=target_sd)
    assert resumed_trace == straight_trace
    assert resumed.to_dict() == straight.to_dict()
    assert resumed.scores() == straight.scores()
    assert resumed.completion() == straight.completion()


@SETTINGS
@given(valid_banks())
def test_validation_accepts_every_generated_bank(data):
    problems = validate(parse_bank(data))
    assert [p for p in problems if p.severity == "error"] == []


def _break(data: dict[str, Any], defect: str, r: int) -> tuple[str, str | None]:
    """Introduce one defect into a valid bank dict; return the expected problem code and question id."""
    qs = [q for b in data["blocks"] for q in b["questions"]]
    a, b = qs[r % len(qs)], qs[(r // 7 + 1 + r % len(qs)) % len(qs)]
    if a is b:
        b = qs[(qs.index(a) + 1) % len(qs)]
    if defect == "duplicate_id":
        b["id"] = a["id"]
        return "duplicate_id", a["id"]
    if defect == "unknown_question":
        a.setdefault("branchingRules", []).insert(
            0, {"condition": {"answered": True}, "nextQuestions": ["nowhere"]}
        )
        return "unknown_question", a["id"]
    if defect == "unknown_option":
        a["type"], a["options"] = "single_choice", [{"id": "yes", "text": "Yes"}, {"id": "no", "text": "No"}]
        a.pop("minValue", None), a.pop("maxValue", None)
        a.setdefault("dimensions", {"RC": 0.5})
        a["branchingRules"] = [{"condition": {"answer": "maybe"}, "skipQuestions": []}]
        return "unknown_option", a["id"]
    if defect == "cycle":
        a.setdefault("branchingRules", []).insert(
            0, {"condition": {"answered": True}, "nextQuestions": [b["id"]]}
        )
        b.setdefault("branchingRules", []).insert(
            0, {"condition": {"answered": True}, "nextQuestions": [a["id"]]}
        )
        return "cycle", None
    if defect == "unreachable":
        data["blocks"][-1]["questions"].append(
            {
                "id": "orphan",
                "text": "Never requested",
                "type": "likert",
                "conditional": True,
                "dimensions": {"CV": 0.4},
            }
        )
        return "unreachable", "orphan"
    if defect == "exit_never_holds":
        block = data["blocks"][r % len(data["blocks"])]
        block["exit"] = {"answered_count": f">= {len(block['questions']) + 1}"}
        return "exit_never_holds", None
    if defect == "too_few_questions":
        data["minQuestionsPerDimension"] = 10_000
        return "too_few_questions", None
    raise AssertionError(defect)


DEFECTS = [
    "duplicate_id",
    "unknown_question",
    "unknown_option",
    "cycle",
    "unreachable",
    "exit_never_holds",
    "too_few_questions",
]


@SETTINGS
@given(valid_banks(), st.sampled_from(DEFECTS), st.integers(0, 10**6))
def test_validation_names_the_defect_in_every_broken_bank(data, defect, r):
    broken = copy.deepcopy(data)
    code, qid = _break(broken, defect, r)
    problems = validate(parse_bank(broken))
    hits = [p for p in problems if p.code == code and p.severity == "error"]
    assert hits, (defect, [str(p) for p in problems])
    if qid is not None:
        assert any(p.question == qid for p in hits), [str(p) for p in hits]


BAD = [
    "unknown_option",
    "importance_11",
    "text_for_number",
    "not_presented",
    "unknown_question",
    "bad_seconds",
]


@SETTINGS
@given(valid_banks(), actions, st.sampled_from(BAD), st.data())
def test_bad_answers_raise_typed_errors_and_leave_the_session_unchanged(data, acts, bad, draw):
    bank = parse_bank(data)
    _, s = run(bank, acts, strategy="fixed")
    shown = s.present(2)
    if not shown:
        return
    q = shown[0]
    before = json.dumps(s.to_dict())
    progress, scores = s.progress(), s.scores()
    value: Any = answer_value(q, 1)
    kwargs: dict[str, Any] = {}
    qid = q.id
    expected: type[Exception] = InvalidAnswerError
    if bad == "unknown_option":
        if not q.type.is_choice:
            return
        value = "no-such-option" if q.type is QuestionType.SINGLE else ["no-such-option"]
    elif bad == "importance_11":
        kwargs["importance"] = 11
    elif bad == "text_for_number":
        if q.type not in (QuestionType.LIKERT, QuestionType.NUMERIC):
            return
        value = "seven"
    elif bad == "not_presented":
        others = [x for x in bank.questions if x not in s.presented]
        if not others:
            return
        qid = draw.draw(st.sampled_from(others))
        value = answer_value(bank.question(qid), 1)
    elif bad == "unknown_question":
        qid, expected = "no-such-question", UnknownQuestionError
    else:
        kwargs["seconds"] = -3.0
    with pytest.raises(expected):
        s.answer(qid, value, **kwargs)
    assert json.dumps(s.to_dict()) == before
    assert s.progress() == progress and s.scores() == scores

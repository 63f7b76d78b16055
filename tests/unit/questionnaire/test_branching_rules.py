"""Branching rules: the spec's q1 example verbatim (with // comments), condition semantics, three-valued logic."""

import pytest

from perfectmatch.models import Answer, Dimension
from perfectmatch.questionnaire import parse_bank, parse_question
from perfectmatch.questionnaire.models import Condition, parse_comparison
from perfectmatch.questionnaire.rules import Facts, evaluate, fire
from perfectmatch.questionnaire.session import Session
from perfectmatch.questionnaire.validation import validate

# Copied character for character from spec/workflows.md, "Branching Rule Example".
SPEC_Q1 = """\
{
  "questionId": "q1",
  "text": "What are you looking for right now?",
  "branchingRules": [
    {
      "condition": {
        "answer": "option3", // Serious Relationship
        "importance": ">= 7"
      },
      "nextQuestions": ["q5", "q8", "q12"],
      "skipQuestions": ["q4", "q7"],
      "dimensionAdjustments": {
        "RC": 2.0
      }
    },
    {
      "condition": {
        "answer": "option2", // Casual Dating
        "importance": ">= 5"
      },
      "nextQuestions": ["q4", "q7", "q9"],
      "skipQuestions": ["q5", "q12"],
      "dimensionAdjustments": {
        "RC": 0.5
      }
    },
    {
      "default": true,
      "nextQuestions": ["q3", "q6", "q10"]
    }
  ]
}
"""


def _facts(answers):
    return Facts({a.question_id: a for a in answers}, {}, lambda b: 0)


def test_spec_example_loads_verbatim():
    q1 = parse_question(SPEC_Q1, source="spec q1")
    assert q1.id == "q1" and len(q1.branching_rules) == 3
    r0, r1, r2 = q1.branching_rules
    assert r0.next_questions == ["q5", "q8", "q12"] and r0.skip_questions == ["q4", "q7"]
    assert r0.dimension_adjustments == {Dimension.RC: 2.0}
    assert r1.condition is not None and r1.condition.answer == "option2" and r1.condition.importance == ">= 5"
    assert r2.default and r2.next_questions == ["q3", "q6", "q10"]


@pytest.mark.parametrize(
    ("value", "importance", "expected"),
    [
        ("option3", 7, 0),  # serious relationship, important enough
        ("option2", 5, 1),  # casual dating
        ("option3", 6, 2),  # serious but importance below 7: falls through to the default
        ("option1", 10, 2),
    ],
)
def test_each_spec_rule_fires(value, importance, expected):
    q1 = parse_question(SPEC_Q1)
    fired = fire(q1, _facts([Answer(question_id="q1", value=value, importance=importance)]))
    assert fired is not None and fired.index == expected


def _spec_bank():
    """The spec's q1 in a bank: three options and the questions q3..q12 its rules name."""
    import json5

    q1 = json5.loads(SPEC_Q1)
    q1["options"] = [
        {"id": f"option{i}", "text": t}
        for i, t in enumerate(["Friends", "Casual Dating", "Serious Relationship"], 1)
    ]
    q1["dimensions"] = {"RC": 0.5}
    others = [
        {
            "id": f"q{i}",
            "text": f"Question {i}",
            "type": "likert",
            "dimensions": {d: 0.5 for d in ["RC", "CS", "EI", "LC", "CV"]},
            "conditional": i in (4, 5, 7, 12),
        }
        for i in range(2, 13)
    ]
    return parse_bank({"version": "spec", "blocks": [{"id": "start", "questions": [q1, *others]}]})


def _walk(bank, value, importance):
    s = Session(bank, strategy="fixed")
    q = s.next_question()
    s.answer(q.id, value, importance=importance)
    return s, s.present(3)


def test_spec_rules_drive_a_session():
    bank = _spec_bank()
    assert [p for p in validate(bank) if p.severity == "error"] == []

    s, shown = _walk(bank, "option3", 8)
    assert [q.id for q in shown] == ["q5", "q8", "q12"]
    assert {"q4", "q7"} <= s.skipped and s.dimension_weights[Dimension.RC] == 2.0

    s, shown = _walk(bank, "option2", 5)
    assert [q.id for q in shown] == ["q4", "q7", "q9"]
    assert {"q5", "q12"} <= s.skipped and s.dimension_weights[Dimension.RC] == 0.5

    s, shown = _walk(bank, "option1", 9)
    assert [q.id for q in shown] == ["q3", "q6", "q10"]
    assert s.fired_rules == {"q1": 2} and not s.skipped
    asked = []
    while (q := s.next_question()) is not None:
        s.answer(q.id, 3)
        asked.append(q.id)
    assert {"q4", "q5", "q7", "q12"}.isdisjoint(asked)  # conditional, never requested


def test_comparisons_parse():
    assert parse_comparison(">= 7")(7) and not parse_comparison(">= 7")(6)
    assert parse_comparison("<3")(2) and parse_comparison(4)(4) and parse_comparison("!= 2")(3)
    with pytest.raises(ValueError, match="not a comparison"):
        parse_comparison("about 7")


def test_sets_comparisons_multiple_choice_and_combinators():
    a = {
        "g": Answer(question_id="g", value="b", importance=8),
        "l": Answer(question_id="l", value=4),
        "m": Answer(question_id="m", value=("x", "y")),
    }
    facts = Facts(a, {}, lambda b: 2)

    def ev(spec, final=True):
        return evaluate(Condition.model_validate(spec), facts, block="blk", final=final)

    assert ev({"question": "g", "answer": ["a", "b"]})
    assert not ev({"question": "g", "answer": ["a", "c"]})
    assert ev({"question": "l", "answer": ">= 4"}) and not ev({"question": "l", "answer": "> 4"})
    assert ev({"question": "m", "answer": "y"}) and not ev({"question": "m", "answer": "z"})
    assert ev({"all": [{"question": "g", "importance": ">= 7"}, {"question": "l", "answer": 4}]})
    assert ev({"any": [{"question": "g", "answer": "z"}, {"answered_count": ">= 2"}]})
    assert ev({"not": {"question": "g", "answer": "a"}})
    assert ev({"question": "zz", "answered": False}) and not ev({"question": "zz", "answer": "a"})
    # open mode: an unanswered question is unknown, and unknown propagates by Kleene's rules
    assert ev({"question": "zz", "answer": "a"}, final=False) is None
    assert (
        ev({"any": [{"question": "zz", "answer": "a"}, {"question": "g", "answer": "b"}]}, final=False)
        is True
    )
    assert (
        ev({"all": [{"question": "zz", "answer": "a"}, {"question": "g", "answer": "c"}]}, final=False)
        is False
    )
    assert ev({"not": {"question": "zz", "answer": "a"}}, final=False) is None

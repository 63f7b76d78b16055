"""Bank validation: each defect is named with its location, all at once; usable banks pass."""

import pytest

from perfectmatch.errors import BankValidationError, InvalidInputError
from perfectmatch.questionnaire import check_bank, parse_bank, validate


def likert(qid, dim="RC", **kw):
    return {"id": qid, "text": f"{qid}?", "type": "likert", "dimensions": {dim: 0.5}, **kw}


def choice(qid, options=("a", "b"), **kw):
    return {
        "id": qid,
        "text": f"{qid}?",
        "options": [{"id": o, "text": o.upper(), "score": 0.0} for o in options],
        "dimensions": {"RC": 0.5},
        **kw,
    }


CORE = [likert(f"core_{d}", d) for d in ["RC", "CS", "EI", "LC", "CV"]]


def bank(*blocks, **extra):
    return parse_bank(
        {
            "version": "t",
            "minQuestionsPerDimension": 1,
            "blocks": [*blocks, {"id": "core", "questions": CORE}],
            **extra,
        }
    )


def codes(b):
    return {(p.code, p.block, p.question, p.rule, p.severity) for p in validate(b)}


def test_every_problem_is_reported_at_once_with_its_location():
    b = bank(
        {
            "id": "one",
            "questions": [
                choice(
                    "goal",
                    branchingRules=[
                        {"condition": {"answer": "c"}, "nextQuestions": ["ghost"]},
                        {"default": True, "nextQuestions": ["loop_a"]},
                        {"default": True, "skipQuestions": ["phantom"]},
                    ],
                ),
                likert(
                    "loop_a",
                    conditional=True,
                    branchingRules=[{"condition": {"answered": True}, "nextQuestions": ["loop_b"]}],
                ),
                likert(
                    "loop_b",
                    conditional=True,
                    branchingRules=[{"condition": {"answer": ">= 6"}, "nextQuestions": ["loop_a"]}],
                ),
                likert("orphan", conditional=True),
                {"id": "n", "text": "n?", "type": "numeric", "dimensions": {"LC": 0.2}},
                {"id": "c0", "text": "c0?", "type": "multiple_choice", "dimensions": {"LC": 0.2}},
            ],
        },
    )
    found = codes(b)
    assert ("unknown_option", "one", "goal", 0, "error") in found
    assert ("unknown_question", "one", "goal", 0, "error") in found
    assert ("unknown_question", "one", "goal", 2, "error") in found
    assert ("multiple_defaults", "one", "goal", 2, "error") in found
    assert ("rule_never_fires", "one", "goal", 0, "warning") in found
    assert ("unknown_option", "one", "loop_b", 0, "error") in found  # ">= 6" on a 1-5 scale
    assert ("unreachable", "one", "orphan", None, "error") in found
    assert ("missing_bounds", "one", "n", None, "error") in found
    assert ("no_options", "one", "c0", None, "error") in found
    cycles = [p.message for p in validate(b) if p.code == "cycle"]
    assert len(cycles) == 1
    assert "loop_a -> loop_b -> loop_a" in cycles[0] or "loop_b -> loop_a -> loop_b" in cycles[0]
    assert ("few_open_questions", None, None, None, "warning") in found
    with pytest.raises(BankValidationError) as info:
        check_bank(b)
    assert len(info.value.problems) == sum(1 for p in validate(b) if p.severity == "error")


def test_block_conditions():
    b = bank(
        {"id": "first", "questions": [choice("goal")]},
        {
            "id": "never",
            "entry": {"all": [{"question": "goal", "answer": "a"}, {"question": "goal", "answer": "b"}]},
            "questions": [likert("inside")],
        },
        {
            "id": "ahead",
            "entry": {"question": "later", "answer": 3},
            "exit": {"question": "later2", "answered": True},
            "questions": [likert("later"), likert("later2")],
        },
        {"id": "stuck", "exit": {"answered_count": ">= 3"}, "questions": [likert("s1"), likert("s2")]},
        {
            "id": "fine",
            "exit": {"question": "f1", "answer": "<= 2"},
            "questions": [likert("f1"), likert("f2")],
        },
    )
    found = codes(b)
    assert ("entry_never_holds", "never", None, None, "error") in found
    assert ("unreachable", "never", "inside", None, "error") in found
    assert ("forward_reference", "ahead", None, None, "error") in found  # entry on its own question
    assert not any(c[0] == "forward_reference" and c[1] == "fine" for c in found)  # exit on own block: fine
    assert ("exit_never_holds", "stuck", None, None, "error") in found
    assert not any(c[1] == "fine" for c in found)


def test_duplicates_and_too_few_questions():
    b = parse_bank(
        {
            "version": "t",
            "blocks": [
                {"id": "x", "questions": [likert("q"), choice("q", options=("a", "a"))]},
                {
                    "id": "x",
                    "questions": [
                        {"id": "t", "text": "t?", "type": "open_text"},
                        likert("cs_item", dim="CS"),
                    ],
                },
            ],
        }
    )
    found = codes(b)
    assert ("duplicate_id", "x", "q", None, "error") in found
    assert any(c[0] == "duplicate_id" and c[2] is None and c[1] == "x" for c in found)  # block id
    too_few = [p for p in validate(b) if p.code == "too_few_questions"]
    assert {p.message.split()[1] for p in too_few} == {"RC", "CS", "EI", "LC", "CV"}


def test_shape_errors_are_refused_at_load():
    with pytest.raises(InvalidInputError, match="condition"):
        parse_bank(
            {
                "version": "t",
                "blocks": [
                    {"id": "b", "questions": [likert("q", branchingRules=[{"condition": {"question": "q"}}])]}
                ],
            }
        )
    with pytest.raises(InvalidInputError, match="importance"):
        parse_bank(
            {
                "version": "t",
                "blocks": [
                    {
                        "id": "b",
                        "questions": [likert("q", branchingRules=[{"condition": {"importance": "very"}}])],
                    }
                ],
            }
        )

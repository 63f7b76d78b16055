"""Loading banks: the shipped default bank, JSON with comments, YAML, and errors that name file and place."""

import json

import pytest
import yaml

from perfectmatch.errors import InvalidInputError, UnknownQuestionError
from perfectmatch.models import Dimension, RelationshipGoal
from perfectmatch.questionnaire import QuestionType, default_bank, load_bank

SMALL = {
    "version": "v1",
    "blocks": [
        {"id": "b1", "questions": [{"id": "q1", "text": "Q?", "type": "likert", "dimensions": {"RC": 0.5}}]}
    ],
}


def test_default_bank_has_the_importer_questions_with_stable_ids():
    bank = default_bank()
    assert bank.version and isinstance(bank.version, str)
    single = [
        "lc_drinks",
        "lc_smokes",
        "lc_drugs",
        "lc_diet",
        "cv_religion",
        "rc_children",
        "cv_education",
        "lc_body_type",
        "rc_goal",
    ]
    for qid in single:
        assert bank.question(qid).type is QuestionType.SINGLE, qid
    assert bank.question("lc_pets").type is QuestionType.MULTIPLE
    assert bank.question("cv_religion_importance").type is QuestionType.LIKERT
    goal = bank.question("rc_goal")
    assert goal.option_ids == tuple(g.value for g in RelationshipGoal)
    assert bank.block_of["rc_goal"] == bank.blocks[0].id
    assert len(goal.branching_rules) >= 3 and goal.branching_rules[-1].default


def test_default_bank_size_and_coverage():
    bank = default_bank()
    qs = list(bank.questions.values())
    assert len(qs) >= 80
    assert sum(q.type is QuestionType.TEXT for q in qs) >= 6
    for d in Dimension:
        assert sum(1 for q in qs if q.dimensions.get(d)) >= 10, d
    assert len({q.id for b in bank.blocks for q in b.questions}) == len(qs)  # no duplicate ids


def test_json_with_comments_and_yaml_load_the_same_bank(tmp_path):
    text = json.dumps(SMALL, indent=2).replace(
        '"version": "v1",', '"version": "v1", // a comment\n /* block */'
    )
    (tmp_path / "b.json").write_text(text)
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(SMALL))
    assert load_bank(tmp_path / "b.json") == load_bank(tmp_path / "b.yaml")


def test_syntax_error_names_file_and_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{\n  "version": "v1",\n  "blocks": [ }\n')
    with pytest.raises(InvalidInputError, match=r"broken\.json.*invalid JSON.*3"):
        load_bank(path)
    ypath = tmp_path / "broken.yaml"
    ypath.write_text("version: v1\nblocks: [\n  - a\n")
    with pytest.raises(InvalidInputError, match=r"broken\.yaml, line \d+ column \d+"):
        load_bank(ypath)


def test_shape_errors_name_block_and_question(tmp_path):
    bad = json.loads(json.dumps(SMALL))
    bad["blocks"][0]["questions"][0]["noise"] = -1
    bad["blocks"][0]["questions"][0]["branchingRules"] = [{"condition": {"importance": ">> 7"}}]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(InvalidInputError) as info:
        load_bank(path)
    msg = str(info.value)
    assert "bad.json" in msg
    assert "blocks[0](b1).questions[0](q1).noise" in msg
    assert "branchingRules[0].condition.importance" in msg and "not a comparison" in msg


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InvalidInputError, match="cannot read"):
        load_bank(tmp_path / "nope.json")


def test_unknown_question_lookup_is_typed():
    with pytest.raises(UnknownQuestionError, match="zzz"):
        default_bank().question("zzz")

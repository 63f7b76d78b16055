"""``perfectmatch questionnaire``: validate, simulate and take (with save and --resume)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import perfectmatch.cli

runner = CliRunner()


def _json_out(result):
    """The JSON result (CliRunner echoes typed input on stdout before it)."""
    return json.loads(result.stdout[result.stdout.index("{") :])


def _invoke(args, **kw):
    return runner.invoke(perfectmatch.cli.app, args, catch_exceptions=False, **kw)


@pytest.fixture
def default_path():
    from importlib import resources

    return str(resources.files("perfectmatch.questionnaire") / "banks" / "default.json")


@pytest.mark.parametrize("cmd", ["validate", "simulate", "take"])
def test_every_command_has_help(cmd):
    result = _invoke(["questionnaire", cmd, "--help"])
    assert result.exit_code == 0 and "Usage" in result.stdout


def test_validate_default_bank(default_path):
    result = _invoke(["--json", "questionnaire", "validate", default_path])
    assert result.exit_code == 0
    out = json.loads(result.stdout)
    assert out["usable"] and out["problems"] == [] and out["questions"] >= 80


def test_validate_reports_every_problem_with_location_and_fails(tmp_path):
    bank = {
        "version": "bad",
        "minQuestionsPerDimension": 1,
        "blocks": [
            {
                "id": "b1",
                "exit": {"answered_count": ">= 9"},
                "questions": [
                    {
                        "id": "q1",
                        "text": "?",
                        "options": [{"id": "a", "text": "A"}],
                        "dimensions": {"RC": 1},
                        "branchingRules": [{"condition": {"answer": "zz"}, "nextQuestions": ["ghost"]}],
                    },
                    {"id": "q1", "text": "again", "type": "likert", "dimensions": {"CS": 1}},
                ],
            },
        ],
    }
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bank))
    result = _invoke(["--json", "questionnaire", "validate", str(path)])
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    codes = {(p["code"], p["question"], p["rule"]) for p in out["problems"]}
    assert ("unknown_question", "q1", 0) in codes
    assert ("unknown_option", "q1", 0) in codes
    assert ("duplicate_id", "q1", None) in codes
    assert any(p["code"] == "exit_never_holds" and p["block"] == "b1" for p in out["problems"])
    assert any(p["code"] == "too_few_questions" for p in out["problems"])
    human = _invoke(["questionnaire", "validate", str(path)])
    assert human.exit_code == 1 and "NOT usable" in human.stdout and "question 'q1', rule 0" in human.stdout


def test_unreadable_bank_is_one_error_line(tmp_path, capsys):
    path = tmp_path / "broken.json"
    path.write_text("{ version: ")
    assert perfectmatch.cli.main(["questionnaire", "validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and "broken.json" in err and err.count("\n") == 1


def test_simulate_json():
    result = _invoke(["--json", "questionnaire", "simulate", "--respondents", "4", "--strategy", "all"])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [r["strategy"] for r in rows] == ["most_informative", "fixed", "random"]
    for r in rows:
        assert (
            r["respondents"] == 4
            and 0 <= r["completion_rate"] <= 1
            and set(r["rmse"]) == {"RC", "CS", "EI", "LC", "CV"}
        )


def test_take_saves_and_resumes(tmp_path):
    session_file = tmp_path / "s.json"
    # rc_goal: option 1 (marriage) with importance 9, then an invalid answer that is re-asked, then quit
    first = _invoke(
        ["--json", "questionnaire", "take", "--save", str(session_file)],
        input="1\n9\n",
    )
    assert first.exit_code == 0, first.stderr
    saved = json.loads(session_file.read_text())
    assert [e["question_id"] for e in saved["events"]] == ["rc_goal"]
    assert saved["events"][0]["value"] == "marriage" and saved["events"][0]["importance"] == 9
    out = _json_out(first)
    assert not out["complete"] and out["criteria"]["open_answers"]["met"] is False

    # resume: the next question is the marriage rule's first nextQuestion (single choice); answer "7" is not
    # an option, so it is re-asked; then option 2, importance 5, then quit
    second = _invoke(
        ["--json", "questionnaire", "take", "--resume", str(session_file)],
        input="7\n5\n2\n5\n:q\n",
    )
    assert second.exit_code == 0
    assert "has no option" in second.stderr
    saved = json.loads(session_file.read_text())
    assert [e["question_id"] for e in saved["events"]] == ["rc_goal", "rc_commit_timeline"]
    assert saved["events"][1]["value"] == "within_year"
    assert _json_out(second)["stopped"] is True


def test_simulate_refuses_an_unusable_bank(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "version: v\nblocks:\n  - id: b\n    questions:\n      - {id: q, text: '?', type: likert}\n"
    )
    assert perfectmatch.cli.main(["questionnaire", "simulate", "-n", "2", "--bank", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: question bank has") and "no_dimension" in err


def test_take_can_change_the_previous_answer(tmp_path):
    session_file = tmp_path / "s.json"
    # marriage (importance 9), then ":b" to change it to casual (option 3, importance 6), then quit
    result = _invoke(
        ["--json", "questionnaire", "take", "--save", str(session_file)], input="1\n9\n:b\n3\n6\n:q\n"
    )
    assert result.exit_code == 0
    saved = json.loads(session_file.read_text())
    assert [(e["op"], e["value"]) for e in saved["events"]] == [("answer", "marriage"), ("change", "casual")]

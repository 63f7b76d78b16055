"""CLI shape: every command has --help; bad input gives one ``Error:`` line and exit 1, no traceback;
the README's main flow works on SQLite and ``--json`` output parses."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
import typer

from perfectmatch.cli import app, main


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix]
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            out += _commands(cmd, (*prefix, name))
        else:
            out.append((*prefix, name))
    return out


ALL = _commands(typer.main.get_command(app))  # type: ignore[arg-type]


@pytest.mark.parametrize("path", ALL, ids=lambda p: " ".join(p) or "(root)")
def test_every_command_has_help(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*path, "--help"]) == 0
    assert "Usage" in capsys.readouterr().out


def test_top_level_help_lists_groups(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--help"])
    out = capsys.readouterr().out
    for group in ("simulate", "import", "db", "batch", "matches", "questionnaire", "ai"):
        assert group in out


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_bad_inputs_give_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    code, _, err = run(["--db", db, "simulate", "--users", "-5"], capsys)
    assert code == 1 and "--users" in one_line_error(err)
    code, _, err = run(["--db", db, "import", "okcupid", str(tmp_path / "missing.csv.gz")], capsys)
    assert code == 1 and "missing.csv.gz" in one_line_error(err)
    code, _, err = run(["--db", "postgresql://nobody@127.0.0.1:1/none", "batch", "run"], capsys)
    assert code == 1 and "cannot connect" in one_line_error(err) and "127.0.0.1:1" in err
    code, _, err = run(["--db", f"sqlite:///{tmp_path / 'no' / 'dir.db'}", "db", "status"], capsys)
    assert code == 1 and "does not exist" in one_line_error(err)
    code, _, err = run(["--db", db, "matches", "list", "424242"], capsys)
    assert code == 1 and "424242" in one_line_error(err)
    code, _, err = run(["--db", db, "batch", "run", "--mode", "fastest"], capsys)
    assert code == 1 and "fastest" in one_line_error(err)


def test_malformed_csv_row_names_the_line_and_keeps_stored_rows(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    assert run(["--db", db, "simulate", "--users", "50", "--seed", "1"], capsys)[0] == 0
    header = ("row_id,age,body_type,diet,drinks,drugs,education,ethnicity,height,income,job,offspring,"
              "orientation,pets,religion,sex,sign,smokes,speaks,status")
    good = ("0,30,fit,anything,socially,never,graduated from college/university,white,70,-1,other,,straight,,,m,,"
            "no,english,single")
    path = tmp_path / "bad.csv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join([header, good, "1,31,fit"]) + "\n")
    code, _, err = run(["--db", db, "import", "okcupid", str(path)], capsys)
    assert code == 1 and "line 3" in one_line_error(err)
    code, out, _ = run(["--db", db, "--json", "db", "status"], capsys)
    assert code == 0 and json.loads(out)["rows"]["users"] == 50  # nothing lost, nothing half-written


def test_main_flow_on_sqlite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path / 'flow.db'}"
    code, out, _ = run(["--db", db, "--json", "simulate", "--users", "1500", "--seed", "7"], capsys)
    assert code == 0 and json.loads(out)["users"] == 1500
    code, out, _ = run(["--db", db, "--json", "batch", "run"], capsys)
    report = json.loads(out)
    assert code == 0 and report["status"] == "done" and report["matches"] > 0
    code, out, _ = run(["--db", db, "--json", "matches", "top", "--limit", "1"], capsys)
    best = json.loads(out)[0]
    code, out, _ = run(["--db", db, "--json", "matches", "list", str(best["user_a"])], capsys)
    assert code == 0 and best["user_b"] in [m["user_id"] for m in json.loads(out)]
    code, out, _ = run(["--db", db, "--json", "matches", "show", str(best["user_a"]), str(best["user_b"])], capsys)
    assert code == 0 and json.loads(out)["insight"]["score"] > 0
    code, out, _ = run(["--db", db, "batch", "run", "--json"], capsys)  # the spec's spelling: --json after
    assert code == 0 and json.loads(out)["status"] == "already_done"
    code, out, _ = run(["--db", db, "matches", "list", str(best["user_a"]), "--json"], capsys)
    assert code == 0 and best["user_b"] in [m["user_id"] for m in json.loads(out)]
    code, out, _ = run(["--db", db, "batch", "status", "--json"], capsys)
    assert code == 0 and json.loads(out)[0]["status"] == "done"


def test_python_dash_m_runs_the_cli() -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "perfectmatch", "--help"], capture_output=True, text=True,
                         timeout=60, check=True)
    assert "batch" in out.stdout


def test_typer_exit_codes_reach_the_process(tmp_path: Path) -> None:
    """``questionnaire validate`` ends with ``typer.Exit(1)`` on an unusable bank: the process sees 1."""
    import subprocess
    import sys

    bank = tmp_path / "bad.json"
    bank.write_text(json.dumps({"version": "t", "blocks": [{"id": "b", "questions": [
        {"id": "q1", "text": "x", "type": "likert", "minValue": 1, "maxValue": 5, "dimensions": {"RC": 1},
         "branchingRules": [{"default": True, "nextQuestions": ["nope"]}]}]}]}))
    out = subprocess.run([sys.executable, "-m", "perfectmatch", "questionnaire", "validate", str(bank)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "nope" in out.stdout


def test_plan_prices_come_from_settings(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PERFECTMATCH_BILLING__MONTHLY_PRICE_MINOR", "2499")
    monkeypatch.setenv("PERFECTMATCH_BILLING__ANNUAL_PLAN_ID", "price_annual_2027")
    code, out, _ = run(["--json", "billing", "plans"], capsys)
    plans = {p["id"]: p for p in json.loads(out)}
    assert code == 0 and plans["premium_monthly"]["price_minor"] == 2499 and "price_annual_2027" in plans

"""``perfectmatch simulate`` and ``perfectmatch import okcupid`` end to end on a SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from perfectmatch.cli import app, main

HEADER = ("row_id,age,body_type,diet,drinks,drugs,education,ethnicity,height,income,job,offspring,"
          "orientation,pets,religion,sex,sign,smokes,speaks,status")
ROWS = [
    "0,30,fit,anything,socially,never,,,70,-1,,,straight,,,m,,no,english,single",
    "1,19,,,,,,,,-1,,,bisexual,,,f,,,english,single",
    "2,17,,,,,,,,-1,,,straight,,,f,,,english,single",
    "3,50,,,,,,,,-1,,,straight,,,m,,,english,married",
]


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)  # no stray .env, cache directory inside tmp
    monkeypatch.setenv("PERFECTMATCH_CACHE__BACKEND", "none")
    return f"sqlite:///{tmp_path / 'pm.db'}"


def _invoke(*args: str) -> dict:  # type: ignore[type-arg]
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _csv(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "okc.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def test_simulate_reports_counts_and_speed(db: str) -> None:
    out = _invoke("--db", db, "--json", "simulate", "--users", "120", "--seed", "4")
    assert out["users"] == 120 and out["seed"] == 4 and out["rows_per_s"] > 0
    assert sum(out["summary"]["by_gender"].values()) == 120
    assert sum(out["summary"]["by_metro"].values()) == 120
    assert set(out["summary"]["by_tier"]) <= {"free", "premium"}
    assert out["user_ids"] == [1, 120]


def test_simulate_human_output_lists_groups(db: str) -> None:
    result = CliRunner().invoke(app, ["--db", db, "simulate", "--users", "30"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "by metro" in result.stdout and "rows_per_s" in result.stdout


@pytest.mark.parametrize("users", ["0", "-5"])
def test_non_positive_users_is_a_one_line_error(db: str, users: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", db, "simulate", "--users", users]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: --users must be a positive number") and err.count("\n") == 1
    assert not Path(db.removeprefix("sqlite:///")).exists()  # nothing created


def test_import_okcupid_twice_adds_nothing(db: str, tmp_path: Path) -> None:
    path = _csv(tmp_path, ROWS)
    first = _invoke("--db", db, "--json", "import", "okcupid", str(path))
    assert first["imported"] == 2
    assert first["skipped"] == {"status married": 1, "under 18": 1}
    second = _invoke("--db", db, "--json", "import", "okcupid", str(path))
    assert (second["imported"], second["already_imported"]) == (0, 2)
    assert second["rows_per_s"] > 0


def test_import_missing_file_is_a_one_line_error(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", db, "import", "okcupid", str(tmp_path / "absent.csv.gz")]) == 1
    err = capsys.readouterr().err
    assert "no such file" in err and err.count("\n") == 1


def test_import_malformed_row_fails_and_stores_nothing(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _invoke("--db", db, "--json", "simulate", "--users", "10")
    path = _csv(tmp_path, [*ROWS, "4,33,,straight"])
    assert main(["--db", db, "import", "okcupid", str(path)]) == 1
    err = capsys.readouterr().err
    assert "line 6" in err and "--skip-malformed" in err and err.count("\n") == 1
    status = _invoke("--db", db, "--json", "db", "status")
    assert status["rows"]["users"] == 10  # the earlier population is intact, nothing half-written
    out = _invoke("--db", db, "--json", "import", "okcupid", "--skip-malformed", str(path))
    assert out["imported"] == 2 and out["malformed_lines"] == ["line 6: expected 20 fields, got 4"]


@pytest.mark.parametrize("command", [["simulate"], ["import"], ["import", "okcupid"]])
def test_help(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.stdout

"""``perfectmatch eval speed-dating`` on a small synthetic file: table, JSON, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import speed_dating_data as sdd
from perfectmatch.cli import app, main


@pytest.fixture
def csv_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env
    return sdd.write(tmp_path / "sd.csv.gz", sdd.rows(waves=(1, 2, 3), per_side=4), gz=True)


def test_json_report(csv_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["eval", "speed-dating", str(csv_path), "--json", "--bootstrap", "20"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["participants"], report["pairs"], report["waves"]) == (24, 48, [1, 2, 3])
    rows = {r["name"]: r for r in report["results"]}
    assert {
        "perfectmatch",
        "calibrated (frozen)",
        "random",
        "interest cosine",
        "OkCupid-style mutual",
        "supervised logistic (leave-wave-out)",
    } <= set(rows)
    est = rows["perfectmatch"]["auc"]["match"]
    assert est["lo"] <= est["value"] <= est["hi"]
    assert set(rows["perfectmatch"]["per_wave"]) == {"1", "2", "3"}
    assert "dec" not in report["inputs"] and "like" not in report["inputs"]


def test_table(csv_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["eval", "speed-dating", str(csv_path), "--bootstrap", "10", "--seed", "3"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    for text in ("AUC match", "AUC dec (men)", "OkCupid-style mutual", "match AUC per wave", "24 participants"):
        assert text in result.stdout


def test_single_wave_marks_leave_wave_out_rows_not_available(tmp_path: Path) -> None:
    path = sdd.write(tmp_path / "one.csv", sdd.rows(waves=(3,), per_side=4))
    result = CliRunner().invoke(
        app, ["eval", "speed-dating", str(path), "--json", "--bootstrap", "5"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)["results"]}
    assert rows["supervised logistic (leave-wave-out)"]["auc"]["match"]["value"] is None  # NaN -> null
    assert rows["perfectmatch"]["auc"]["match"]["value"] is not None


def test_bad_file_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("iid,pid\n1,2\n")
    assert main(["eval", "speed-dating", str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("Error: ") and "header lacks column" in err and "\n" not in err


def test_missing_scikit_learn_says_what_to_install(
    csv_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn now raises ImportError
    assert main(["eval", "speed-dating", str(csv_path), "--bootstrap", "0"]) == 1
    assert "pip install 'perfectmatch[eval]'" in capsys.readouterr().err

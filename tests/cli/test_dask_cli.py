"""``perfectmatch batch run --engine dask``: a local cluster by default, one-line errors otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import distributed  # noqa: F401  (the 'dask' extra is part of 'test': missing it must fail, not skip)
import pytest

from perfectmatch.cli import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in err, err
    return lines[0]


def test_batch_run_on_a_local_dask_cluster(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path / 'd.db'}"
    assert run(["--db", db, "simulate", "--users", "400", "--seed", "2"], capsys)[0] == 0
    code, out, _ = run(["--db", db, "--json", "batch", "run", "--engine", "dask", "--workers", "2"], capsys)
    report = json.loads(out)
    assert code == 0 and report["status"] == "done" and report["engine"] == "dask"
    assert len(report["dask"]["worker_s"]) >= 1 and report["dask"]["overhead_s"] >= 0


def test_bad_engine_and_unreachable_scheduler_give_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = f"sqlite:///{tmp_path / 'e.db'}"
    assert run(["--db", db, "simulate", "--users", "60", "--seed", "2"], capsys)[0] == 0
    code, _, err = run(["--db", db, "batch", "run", "--engine", "spark"], capsys)
    assert code == 1 and "spark" in one_line_error(err)
    monkeypatch.setenv("PERFECTMATCH_DASK__CONNECT_TIMEOUT_S", "1")
    code, _, err = run(["--db", db, "batch", "run", "--scheduler", "tcp://127.0.0.1:9", "--takeover"], capsys)
    assert code == 1 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in one_line_error(err)

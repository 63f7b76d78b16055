"""``--log-json`` / ``PERFECTMATCH_LOG_FORMAT=json``: the CLI's logs become redacted JSON lines on stderr."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from perfectmatch.cli import main


@pytest.fixture
def db(tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    for var in ("OPENAI_API_KEY", "DEEPSEEK_API_KEY", "PERFECTMATCH_LOG_FORMAT", "PERFECTMATCH_LOG_LEVEL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PERFECTMATCH_CACHE__BACKEND", "none")
    shutil.copy(sqlite_template, tmp_path / "pm.db")
    return ["--db", f"sqlite:///{tmp_path / 'pm.db'}"]


def json_lines(err: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


def test_log_json_option_and_env(
    db: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    handlers = list(logging.getLogger().handlers)
    assert main([*db, "simulate", "--users", "150", "--seed", "2"]) == 0
    capsys.readouterr()
    assert main(["--log-json", "--log-level", "INFO", *db, "batch", "run", "--date", "2026-11-25"]) == 0
    records = json_lines(capsys.readouterr().err)
    assert records, "no JSON log line on stderr"
    assert all({"ts", "level", "logger", "msg", "run_id"} <= set(r) for r in records)
    assert any(r["logger"] == "alembic.runtime.migration" and r["level"] == "INFO" for r in records)
    assert not any("@" in str(r["msg"]) for r in records)
    assert logging.getLogger().handlers == handlers  # removed again when the command ends

    monkeypatch.setenv("PERFECTMATCH_LOG_FORMAT", "json")
    monkeypatch.setenv("PERFECTMATCH_LOG_LEVEL", "INFO")
    assert main([*db, "batch", "run", "--date", "2026-11-26"]) == 0
    assert json_lines(capsys.readouterr().err)
    monkeypatch.delenv("PERFECTMATCH_LOG_FORMAT")
    assert main([*db, "batch", "run", "--date", "2026-11-27"]) == 0
    assert not json_lines(capsys.readouterr().err)  # text logs by default


def test_unknown_log_level_is_one_line(db: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--log-level", "LOUD", *db, "db", "status"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "Error: --log-level: unknown level 'LOUD' (DEBUG, INFO, WARNING, ERROR)"

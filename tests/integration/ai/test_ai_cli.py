"""``perfectmatch ai``: status, drain-queue and the fake server as a real process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime

import httpx
from typer.testing import CliRunner

from perfectmatch.cli import app


def test_status_names_the_provider(monkeypatch) -> None:
    for var in ("OPENAI_API_KEY", "DEEPSEEK_API_KEY", "PERFECTMATCH_AI__OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    res = CliRunner().invoke(app, ["--json", "ai", "status"], catch_exceptions=False)
    assert res.exit_code == 0 and "local fallback" in json.loads(res.stdout)["provider"]
    monkeypatch.setenv("OPENAI_API_KEY", "x")
    monkeypatch.setenv("DEEPSEEK_API_KEY", "y")
    res = CliRunner().invoke(app, ["--json", "ai", "status"], catch_exceptions=False)
    assert json.loads(res.stdout)["provider"].startswith("openai (gpt-4o-mini) with deepseek")


def test_drain_queue_against_the_fake_server(monkeypatch, tmp_path, fake_openai) -> None:
    from perfectmatch.bootstrap import build_app
    from perfectmatch.config import Settings
    from perfectmatch.models import User

    srv = fake_openai()
    db = f"sqlite:///{tmp_path / 'pm.db'}"
    monkeypatch.setenv("PERFECTMATCH_CACHE__BACKEND", "none")
    monkeypatch.delenv("DEEPSEEK_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    app_ = build_app(Settings(_env_file=None, db_url=db))
    now = datetime.now(UTC)
    with app_.uow as uow:
        uid = uow.users.add(User(created_at=now, last_active_at=now)).id
        uow.commit()
    app_.analysis_queue.enqueue(uid, {"goal": "serious", "hobbies": ["chess"]})
    app_.close()
    res = CliRunner().invoke(app, ["--json", "--db", db, "ai", "drain-queue"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert (out["analysed"], out["released"], out["remaining"]) == (0, 1, 1) and "local" in out["provider"]
    monkeypatch.setenv("OPENAI_API_KEY", "fake")
    monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
    res = CliRunner().invoke(app, ["--json", "--db", db, "ai", "drain-queue"], catch_exceptions=False)
    out = json.loads(res.stdout)
    assert (out["analysed"], out["remaining"]) == (1, 0) and out["provider"].startswith("openai")


def test_bad_fault_kind_is_one_error_line(tmp_path) -> None:
    res = subprocess.run([sys.executable, "-m", "perfectmatch", "ai", "fake-server", "--port", "0", "--faults",
                          "boom"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and res.stderr.startswith("Error: --faults") and "boom" in res.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_fake_server_command_serves_until_interrupted() -> None:
    port = _free_port()
    cmd = [sys.executable, "-m", "perfectmatch", "--json", "ai", "fake-server", "--port", str(port)]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                          env=os.environ.copy()) as proc:
        try:
            assert proc.stdout is not None
            out = ""
            while "}" not in out:
                line = proc.stdout.readline()
                assert line, "the server exited before printing its address"
                out += line
            assert json.loads(out)["port"] == port
            body = {"model": "x", "input": ["hello"], "dimensions": 8}
            r = httpx.post(f"http://127.0.0.1:{port}/v1/embeddings", json=body, timeout=5)
            assert r.status_code == 200 and len(r.json()["data"][0]["embedding"]) == 8
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=10)

"""``doctor``'s payment check: green against a live Stripe-compatible server (localstripe), red against
a dead port or a refused key, and simply "not configured" without STRIPE_API_KEY."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from perfectmatch.adapters.cache.memory import MemoryCache
from perfectmatch.cli import main
from perfectmatch.config import Settings
from perfectmatch.ops.health import check_settings


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"  # closed when the block ends: nothing listens


def payments(tmp_path: Path) -> tuple[bool, str]:
    settings = Settings(_env_file=None, db_url=f"sqlite:///{tmp_path / 'pm.db'}", cache={"backend": "none"},
                        ai={"provider": "local"})
    report = check_settings(lambda: settings, cache=MemoryCache(), ai_timeout_s=2.0)
    check = next(c for c in report.checks if c.name == "payments")
    assert report.ok == all(c.ok for c in report.checks)
    return check.ok, check.detail


def test_payment_endpoint_green_then_red(localstripe_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    assert payments(tmp_path) == (True, "not configured (no STRIPE_API_KEY)")
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_doctor")
    monkeypatch.setenv("STRIPE_API_BASE", localstripe_url)
    ok, detail = payments(tmp_path)
    assert ok and detail == f"GET {localstripe_url}/v1/customers answered 200"
    monkeypatch.setenv("STRIPE_API_BASE", dead_url())
    ok, detail = payments(tmp_path)
    assert not ok and detail.startswith("ConnectError")
    assert "sk_test_doctor" not in detail
    # the CLI exits 1 and names the failing check
    monkeypatch.setenv("PERFECTMATCH_AI__PROVIDER", "local")
    monkeypatch.setenv("PERFECTMATCH_CACHE__BACKEND", "none")
    db = ["--db", f"sqlite:///{tmp_path / 'pm.db'}"]
    assert main([*db, "db", "upgrade"]) == 0
    capsys.readouterr()
    code = main([*db, "doctor"])
    err = capsys.readouterr().err
    assert code == 1 and err.strip() == "Error: unhealthy: payments"

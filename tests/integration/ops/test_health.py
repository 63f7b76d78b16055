"""Health checks against the real databases and the fake AI server: red when a dependency is down."""

from __future__ import annotations

import json
import socket

import pytest
from typer.testing import CliRunner

from perfectmatch.adapters.cache.memory import MemoryCache
from perfectmatch.ai.fake_server import FakeOpenAIServer
from perfectmatch.bootstrap import build_app
from perfectmatch.cli import app as cli_app
from perfectmatch.config import Settings
from perfectmatch.ops.health import check_health, check_settings


@pytest.fixture(autouse=True)
def _no_ambient_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "DEEPSEEK_API_KEY", "DEEPSEEK_BASE_URL", "STRIPE_API_KEY",
                "STRIPE_API_BASE"):
        monkeypatch.delenv(var, raising=False)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nothing listens there


def settings_for(db_url: str, base_url: str | None = None) -> Settings:
    ai = {"openai_api_key": "sk-health-test", "openai_base_url": base_url} if base_url else {"provider": "local"}
    return Settings(_env_file=None, db_url=db_url, cache={"backend": "none"}, ai=ai)


def test_green_on_live_database_and_fake_ai_then_red_when_ai_dies(db_url: str) -> None:
    fake = FakeOpenAIServer().start()
    try:
        report = check_settings(lambda: settings_for(db_url, fake.base_url), deep=True, cache=MemoryCache())
        assert report.ok, report.as_dict()
        assert [c.name for c in report.checks] == ["settings", "database", "cache", "read_only", "photos",
                                                   "ai:openai", "payments", "synthetic_transaction"]
        assert report.ai.startswith("openai")
    finally:
        fake.stop()
    down = check_settings(lambda: settings_for(db_url, fake.base_url), cache=MemoryCache(), ai_timeout_s=1.0)
    assert not down.ok
    assert [c.name for c in down.checks if not c.ok] == ["ai:openai"]
    back = FakeOpenAIServer(port=fake.port).start()  # the endpoint comes back: green again
    try:
        assert check_settings(lambda: settings_for(db_url, back.base_url), cache=MemoryCache()).ok
    finally:
        back.stop()


def test_deep_check_leaves_nothing_behind(db_url: str) -> None:
    app = build_app(settings_for(db_url), cache=MemoryCache())
    try:
        report = check_health(app, deep=True)
        assert report.ok, report.as_dict()
        with app.uow as uow:
            assert uow.users.count() == 0 and uow.responses.count() == 0 and uow.vectors.count() == 0
    finally:
        app.close()


def test_red_when_postgres_is_unreachable() -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/nothing"
    report = check_settings(lambda: settings_for(url))
    assert not report.ok
    assert [c.name for c in report.checks if not c.ok] == ["database"]
    assert "cannot connect" in report.checks[1].detail


def test_red_when_redis_is_unreachable_and_green_when_it_answers(db_url: str, redis_url: str) -> None:
    def with_redis(url: str) -> Settings:
        return Settings(_env_file=None, db_url=db_url, cache={"backend": "redis", "redis_url": url},
                        ai={"provider": "local"})

    down = check_settings(lambda: with_redis(f"redis://127.0.0.1:{closed_port()}/15"))
    assert [c.name for c in down.checks if not c.ok] == ["cache"]
    up = check_settings(lambda: with_redis(redis_url))
    assert up.ok, up.as_dict()
    assert up.checks[2].detail == "RedisCache round trip ok"


def test_red_when_migrations_are_behind(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from perfectmatch.adapters.storage.engine import make_engine, upgrade

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    upgrade(engine, "0001")
    engine.dispose()
    report = check_settings(lambda: settings_for(url), cache=MemoryCache())
    assert [c.name for c in report.checks if not c.ok] == ["database"]
    assert "db upgrade" in report.checks[1].detail


def test_doctor_cli_exit_codes(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PERFECTMATCH_CACHE__DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PERFECTMATCH_AI__PROVIDER", "local")
    runner = CliRunner()
    ok = runner.invoke(cli_app, ["--db", db_url, "doctor", "--json"])
    assert ok.exit_code == 0, ok.output
    data = json.loads(ok.stdout)
    assert data["ok"] is True and data["ai"].startswith("local")
    bad_url = f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/nothing"
    bad = runner.invoke(cli_app, ["--db", bad_url, "doctor", "--json"])
    assert bad.exit_code == 1
    assert json.loads(bad.stdout)["ok"] is False


def test_doctor_exit_code_of_the_real_command() -> None:
    import os
    import subprocess
    import sys

    url = f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/nothing"
    env = {**os.environ, "PERFECTMATCH_AI__PROVIDER": "local", "PERFECTMATCH_CACHE__BACKEND": "none"}
    run = subprocess.run([sys.executable, "-m", "perfectmatch", "--db", url, "doctor"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert "UNHEALTHY" in run.stdout and "Error: unhealthy: database" in run.stderr

"""``db maintain`` on SQLite and PostgreSQL: retention purges, vacuum/analyze, size and index report."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from perfectmatch.adapters.cache.disk import DiskCache
from perfectmatch.adapters.clock import FakeClock
from perfectmatch.bootstrap import build_app
from perfectmatch.cli import app as cli_app
from perfectmatch.config import Settings
from perfectmatch.models import Notification, NotificationType
from perfectmatch.ops.maintenance import maintain
from perfectmatch.populations.store import simulate_and_store

NOW = datetime(2026, 11, 25, 3, tzinfo=UTC)


def test_maintain_purges_and_reports(db_url: str, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    disk = DiskCache(cache_dir)
    disk.set("long", {"v": 2}, ttl_s=3600)
    disk.set("short", {"v": 1}, ttl_s=0.2)  # written last: diskcache culls expired entries on every set
    disk.close()
    time.sleep(0.3)
    settings = Settings(_env_file=None, db_url=db_url, cache={"backend": "disk", "dir": cache_dir})
    app = build_app(settings, clock=FakeClock(NOW), cache=None)
    try:
        if db_url.startswith("postgresql"):  # index scans of earlier tests in this session's database
            with app.uow as uow:  # (a user's delete cascading to likes scans ix_likes_likee) do not count
                uow.connection.exec_driver_sql("SELECT pg_stat_reset()")
        simulate_and_store(app.uow, 20, 1, today=date(2026, 11, 25))
        with app.uow as uow:
            uid = uow.population.load().ids[0]
            for i, age in enumerate((31, 30.5, 29, 1)):
                uow.notifications.add(Notification(id=f"n{i}", user_id=int(uid), type=NotificationType.LIKE,
                                                   created_at=NOW - timedelta(days=age)))
            uow.commit()
        report = maintain(app)
        assert report.purged == {"notifications": 2, "cache_entries": 1, "login_throttle": 0, "email_tokens": 0}
        with app.uow as uow:
            assert sorted(n.id for n in uow.notifications.where(user_id=int(uid))) == ["n2", "n3"]
        assert report.rows["users"] == 20 and report.rows["notifications"] == 2
        if report.backend == "postgresql":
            assert "VACUUM ANALYZE" in report.actions
            assert report.table_bytes["users"] > 0
            names = {ix["index"] for ix in report.unused_indexes}
            assert "ix_likes_likee" in names  # never scanned by anything in this test
            assert all(ix["enforces_constraint"] for ix in report.unused_indexes if ix["index"] == "pk_users")
        else:
            assert report.actions[-3:] == ["ANALYZE", "VACUUM", "PRAGMA integrity_check"]
            assert report.integrity == "ok"
            assert report.table_bytes["(database file)"] > 0
        assert maintain(app).purged == {  # idempotent
            "notifications": 0, "cache_entries": 0, "login_throttle": 0, "email_tokens": 0}
    finally:
        app.close()
    still = DiskCache(cache_dir)
    assert still.get("long") == {"v": 2} and still.get("short") is None
    still.close()


def test_maintain_cli_json(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERFECTMATCH_CACHE__BACKEND", "none")
    res = CliRunner().invoke(cli_app, ["--db", db_url, "db", "maintain", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["purged"] == {"notifications": 0, "cache_entries": 0, "login_throttle": 0, "email_tokens": 0}
    assert data["backend"] in ("sqlite", "postgresql")

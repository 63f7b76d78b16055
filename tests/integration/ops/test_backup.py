"""Snapshots: round trips between SQLite and PostgreSQL, verified refusals, and crash safety."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import textwrap
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, insert
from typer.testing import CliRunner

from perfectmatch.adapters.cache.memory import MemoryCache
from perfectmatch.adapters.clock import FakeClock
from perfectmatch.adapters.notify.basic import RecordingNotifier
from perfectmatch.adapters.storage import schema as s
from perfectmatch.adapters.storage.engine import make_engine
from perfectmatch.bootstrap import build_app
from perfectmatch.cli import app as cli_app
from perfectmatch.config import Settings
from perfectmatch.ops.backup import (
    SnapshotError,
    TargetNotEmptyError,
    dump_tables,
    export_snapshot,
    read_snapshot,
    restore_snapshot,
)
from perfectmatch.pipeline import run_daily_batch
from perfectmatch.populations.store import simulate_and_store

DAY = date(2026, 11, 25)
NOW = datetime(2026, 11, 25, 3, 0, 0, 123456, tzinfo=UTC)


def populate(url: str, n: int = 150, seed: int = 4, batch: bool = True) -> None:
    """A simulated population, a batch run, and a row in every table the batch does not fill."""
    clock = FakeClock(NOW)
    settings = Settings(_env_file=None, db_url=url, cache={"backend": "none"}, ai={"provider": "local"}, seed=seed)
    app = build_app(settings, clock=clock, cache=MemoryCache(clock), notifier=RecordingNotifier())
    try:
        simulate_and_store(app.uow, n, seed, today=DAY)
        if batch:
            run_daily_batch(app, day=DAY)
        with app.uow as uow:
            ids = [int(x) for x in uow.population.load().ids[:3]]
            if len(ids) >= 2:
                a, b = ids[0], ids[1]
                c = uow.connection
                c.execute(insert(s.users).values(email="x@example.org", status="active", tier="premium",
                                                 created_at=NOW, last_active_at=NOW, source="test", source_id="1"))
                c.execute(insert(s.likes).values(liker=a, likee=b, created_at=NOW))
                c.execute(insert(s.blocks).values(blocker=b, blocked=a, created_at=NOW))
                conv = c.execute(insert(s.conversations).values(user_a=a, user_b=b, created_at=NOW, active=True)
                                 .returning(s.conversations.c.id)).scalar_one()
                c.execute(insert(s.messages).values(conversation_id=conv, sender_id=a, kind="text",
                                                    body="héllo 👋 \"quoted\"\nline", created_at=NOW,
                                                    delivery="sent"))
                c.execute(insert(s.subscriptions).values(user_id=a, plan_id="premium_monthly", state="active",
                                                         period_start=NOW, period_end=datetime(2026, 12, 25,
                                                                                               tzinfo=UTC),
                                                         card_last4="4242", card_brand="visa", provider_ref=None))
                c.execute(insert(s.notification_prefs).values(user_id=b, data={"quiet": [22, 7], "x": 0.1}))
                uow.commit()
    finally:
        app.close()


def fresh_sqlite(tmp: Path, name: str) -> str:
    return f"sqlite:///{tmp / name}"


def _truncate(url: str) -> None:
    engine = create_engine(url)
    names = ", ".join(f'"{t.name}"' for t in s.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    engine.dispose()


def _roundtrip(src_url: str, dst_url: str, snap: Path) -> tuple[Engine, Engine]:
    src, dst = make_engine(src_url), make_engine(dst_url)
    info = export_snapshot(src, snap)
    assert info.bytes == snap.stat().st_size
    restored = restore_snapshot(snap, dst)
    assert restored.rows == info.rows
    return src, dst


def test_sqlite_to_postgres_and_back_preserves_everything(tmp_path: Path, pg_server_url: str) -> None:
    _truncate(pg_server_url)
    sqlite_url = fresh_sqlite(tmp_path, "src.db")
    populate(sqlite_url)
    src, pg = _roundtrip(sqlite_url, pg_server_url, tmp_path / "a.snap")
    original = dump_tables(src)
    assert dump_tables(pg) == original
    assert all(original[t] for t in ("users", "matches", "insights", "batch_runs", "notifications", "messages",
                                     "subscriptions", "profile_vectors", "responses"))
    back = make_engine(fresh_sqlite(tmp_path, "back.db"))
    export_snapshot(pg, tmp_path / "b.snap")
    restore_snapshot(tmp_path / "b.snap", back)
    assert dump_tables(back) == original
    # sequences moved past restored ids: new rows get fresh ids on PostgreSQL
    with pg.begin() as conn:
        new_id = conn.execute(insert(s.users).values(status="active", tier="free", created_at=NOW,
                                                     last_active_at=NOW).returning(s.users.c.id)).scalar_one()
    assert new_id > max(int(r[0]) for r in original["users"])
    for e in (src, pg, back):
        e.dispose()


def test_postgres_to_sqlite_with_the_cli(tmp_path: Path, pg_server_url: str) -> None:
    _truncate(pg_server_url)
    populate(pg_server_url, n=120, seed=8)
    snap = tmp_path / "pg.snap"
    runner = CliRunner()
    res = runner.invoke(cli_app, ["--db", pg_server_url, "db", "export", "--out", str(snap), "--json"])
    assert res.exit_code == 0, res.output
    target = fresh_sqlite(tmp_path, "t.db")
    res = runner.invoke(cli_app, ["db", "restore", str(snap), "--db", target, "--json"])
    assert res.exit_code == 0, res.output
    pg, lite = make_engine(pg_server_url), make_engine(target)
    assert dump_tables(lite) == dump_tables(pg)
    # a second restore into the now non-empty target is refused and changes nothing
    before = dump_tables(lite)
    with pytest.raises(TargetNotEmptyError):
        restore_snapshot(snap, lite)
    assert dump_tables(lite) == before
    pg.dispose()
    lite.dispose()


def _is_empty(engine: Engine) -> bool:
    """No rows anywhere (a target that verification refused before migrating has no tables at all)."""
    from perfectmatch.adapters.storage.engine import table_names

    if "users" not in table_names(engine):
        return True
    return all(not rows for rows in dump_tables(engine).values())


def _rewrite_member(src: Path, dst: Path, member: str, mutate) -> None:  # type: ignore[no-untyped-def]
    with tarfile.open(src) as tin, tarfile.open(dst, "w") as tout:
        for m in tin.getmembers():
            data = tin.extractfile(m).read()  # type: ignore[union-attr]
            if m.name == member:
                data = mutate(data)
                m.size = len(data)
            import io

            tout.addfile(m, io.BytesIO(data))


def test_tampered_or_truncated_snapshots_are_refused_and_target_stays_empty(tmp_path: Path) -> None:
    src_url = fresh_sqlite(tmp_path, "src.db")
    populate(src_url, n=60, batch=False)
    snap = tmp_path / "ok.snap"
    export_snapshot(make_engine(src_url), snap)
    flipped = tmp_path / "flipped.snap"
    _rewrite_member(snap, flipped, "tables/users.jsonl.gz", lambda d: d[:40] + bytes([d[40] ^ 1]) + d[41:])
    truncated = tmp_path / "truncated.snap"
    truncated.write_bytes(snap.read_bytes()[: snap.stat().st_size // 2])
    no_manifest = tmp_path / "nomanifest.snap"
    with tarfile.open(snap) as tin, tarfile.open(no_manifest, "w") as tout:
        for m in tin.getmembers():
            if m.name != "manifest.json":
                tout.addfile(m, tin.extractfile(m))
    miscounted = tmp_path / "miscounted.snap"
    _rewrite_member(snap, miscounted, "manifest.json",
                    lambda d: d.replace(b'"rows": 61', b'"rows": 60', 1))
    cases = ((flipped, "checksum mismatch for table users"), (truncated, "unreadable|truncated|missing|no manifest"),
             (no_manifest, "no manifest"), (miscounted, "has 61 rows, manifest says 60"))
    for bad, why in cases:
        target = make_engine(fresh_sqlite(tmp_path, f"t-{bad.stem}.db"))
        with pytest.raises(SnapshotError, match=why):
            restore_snapshot(bad, target)
        assert _is_empty(target)
        target.dispose()


KILLER = textwrap.dedent("""
    import os, signal, sys
    from perfectmatch.adapters.storage.engine import make_engine
    from perfectmatch.ops import backup
    mode, path, url, after = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    seen = []
    if mode == "export":
        inner = backup._table_member
        def member(conn, table, spool):
            seen.append(table.name)
            if len(seen) > after:
                os.kill(os.getpid(), signal.SIGKILL)
            return inner(conn, table, spool)
        backup._table_member = member
        backup.export_snapshot(make_engine(url), path)
    else:
        engine = make_engine(url)
        from sqlalchemy import event
        @event.listens_for(engine, "before_cursor_execute")
        def kill(conn, cursor, statement, params, context, executemany):
            if statement.startswith("INSERT"):
                seen.append(statement)
                if len(seen) > after:
                    os.kill(os.getpid(), signal.SIGKILL)
        backup.restore_snapshot(path, engine)
""")


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_killed_export_and_restore_leave_nothing_half_done(tmp_path: Path, backend: str, request) -> None:  # type: ignore[no-untyped-def]
    src_url = fresh_sqlite(tmp_path, "src.db")
    populate(src_url, n=80, batch=True)
    snap = tmp_path / "x.snap"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    run = subprocess.run([sys.executable, "-c", KILLER, "export", str(snap), src_url, "4"], env=env, timeout=120)
    assert run.returncode == -9
    assert not snap.exists()  # never renamed into place
    partial = [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    assert len(partial) == 1
    with pytest.raises(SnapshotError):
        read_snapshot(partial[0])  # and a leftover temp file is never taken for complete
    export_snapshot(make_engine(src_url), snap)
    if backend == "postgres":
        target_url = request.getfixturevalue("pg_server_url")
        _truncate(target_url)
    else:
        target_url = fresh_sqlite(tmp_path, "target.db")
    run = subprocess.run([sys.executable, "-c", KILLER, "restore", str(snap), target_url, "3"], env=env, timeout=120)
    assert run.returncode == -9
    target = make_engine(target_url)
    assert _is_empty(target)
    restore_snapshot(snap, target)  # the same target takes a full restore afterwards
    assert dump_tables(target) == dump_tables(make_engine(src_url))
    target.dispose()


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(min_value=0, max_value=25), seed=st.integers(min_value=0, max_value=10_000),
       batch=st.booleans())
def test_round_trip_property_on_random_populations(n: int, seed: int, batch: bool, sqlite_template: Path) -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        shutil.copy(sqlite_template, tmp / "src.db")
        src_url = fresh_sqlite(tmp, "src.db")
        if n:
            populate(src_url, n=n, seed=seed, batch=batch)
        src, dst = _roundtrip(src_url, fresh_sqlite(tmp, "dst.db"), tmp / "p.snap")
        assert dump_tables(dst) == dump_tables(src)
        assert len(dump_tables(src)["users"]) == (n + 1 if n >= 2 else n)
        src.dispose()
        dst.dispose()


def test_export_is_one_consistent_snapshot_despite_concurrent_writes(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from perfectmatch.ops import backup

    populate(db_url, n=30, batch=False)
    src = make_engine(db_url)
    before = {t: len(rows) for t, rows in dump_tables(src).items()}
    writer = make_engine(db_url)
    inner = backup._table_member
    wrote: list[int] = []

    def member_then_write(conn, table, spool):  # type: ignore[no-untyped-def]
        out = inner(conn, table, spool)
        if not wrote:  # after the first table (users) is read, another session commits a user and its prefs
            with writer.begin() as w:
                uid = w.execute(insert(s.users).values(status="active", tier="free", created_at=NOW,
                                                       last_active_at=NOW).returning(s.users.c.id)).scalar_one()
                w.execute(insert(s.notification_prefs).values(user_id=uid, data={}))
            wrote.append(uid)
        return out

    monkeypatch.setattr(backup, "_table_member", member_then_write)
    info = export_snapshot(src, tmp_path / "c.snap")
    assert wrote and info.rows["users"] == before["users"]
    assert info.rows["notification_prefs"] == before["notification_prefs"]  # the later table did not see it
    target = make_engine(fresh_sqlite(tmp_path, "c.db"))
    restore_snapshot(tmp_path / "c.snap", target)  # and so the snapshot restores (no dangling reference)
    assert {t: len(r) for t, r in dump_tables(target).items()} == before
    for e in (src, writer, target):
        e.dispose()

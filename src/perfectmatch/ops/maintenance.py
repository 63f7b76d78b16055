"""``maintain``: routine database upkeep and retention purges, with a report of what was done.

PostgreSQL gets ``VACUUM ANALYZE`` (which cannot run inside a transaction, so on an autocommit
connection), a table-size report and the indexes never scanned since statistics were reset
(``pg_stat_user_indexes.idx_scan = 0``; primary keys and unique indexes are listed apart because
they enforce constraints even when never used for lookups). SQLite gets ``ANALYZE``, ``VACUUM`` and
``PRAGMA integrity_check``. On both, in-app notifications (the ``notifications`` table is the in-app
inbox) older than the retention period, taken from the clock port, are deleted, as are login-throttle
rows that no longer count and verification tokens finished for as long, and expired entries of a
diskcache directory are evicted (Redis expires keys itself).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, delete, func, select, text

from perfectmatch.adapters.storage.accounts import purge_account_state
from perfectmatch.adapters.storage.schema import metadata, notifications
from perfectmatch.errors import StorageError

RETENTION_DAYS = 30


@dataclass
class MaintenanceReport:
    """What ``maintain`` did and found."""

    backend: str
    actions: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    table_bytes: dict[str, int] = field(default_factory=dict)
    unused_indexes: list[dict[str, Any]] = field(default_factory=list)
    integrity: str | None = None
    purged: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def purge_notifications(engine: Engine, now: Any, days: int = RETENTION_DAYS) -> int:
    """Delete notifications created more than ``days`` before ``now``; returns how many."""
    cutoff = now - timedelta(days=days)
    with engine.begin() as conn:
        return int(conn.execute(delete(notifications).where(notifications.c.created_at < cutoff)).rowcount or 0)


def purge_cache(cache_settings: Any, now_s: float | None = None) -> tuple[str, int]:
    """Evict expired entries of the configured cache; ``(what was done, entries removed)``.

    diskcache stamps expiry times with the wall clock (``time.time()``) when a value is written, so
    ``now_s`` defaults to the wall clock rather than the application clock.
    """
    if cache_settings.backend == "disk":
        import diskcache

        if not cache_settings.dir.is_dir():
            return "no diskcache directory yet", 0
        with diskcache.Cache(str(cache_settings.dir)) as cache:
            return f"expired diskcache entries evicted from {cache_settings.dir}", int(cache.expire(now=now_s))
    if cache_settings.backend == "redis":
        return "redis expires keys itself", 0
    return "no cache configured", 0


def _row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
                for t in metadata.sorted_tables}


def _postgres(engine: Engine, report: MaintenanceReport) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
        report.actions.append("VACUUM ANALYZE")
        for name in (t.name for t in metadata.sorted_tables):
            size = conn.execute(text("SELECT pg_total_relation_size(to_regclass(:t))"), {"t": name}).scalar()
            report.table_bytes[name] = int(size or 0)
        rows = conn.execute(text(
            "SELECT s.relname, s.indexrelname, i.indisunique, i.indisprimary, pg_relation_size(s.indexrelid) "
            "FROM pg_stat_user_indexes s JOIN pg_index i ON i.indexrelid = s.indexrelid "
            "WHERE s.idx_scan = 0 AND s.schemaname = current_schema() ORDER BY 1, 2"))
        report.unused_indexes = [
            {"table": t, "index": ix, "bytes": int(size), "enforces_constraint": bool(uniq or prim)}
            for t, ix, uniq, prim, size in rows]


def _sqlite(engine: Engine, report: MaintenanceReport) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.exec_driver_sql("VACUUM")
        report.actions += ["ANALYZE", "VACUUM"]
        result = [r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check")]
        report.integrity = "ok" if result == ["ok"] else "; ".join(map(str, result))
        report.actions.append("PRAGMA integrity_check")
        page_size = conn.exec_driver_sql("PRAGMA page_size").scalar() or 0
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar() or 0
        report.table_bytes["(database file)"] = int(page_size) * int(pages)


def maintain(app: Any, *, retention_days: int = RETENTION_DAYS) -> MaintenanceReport:
    """Purge old data, then vacuum/analyze and report sizes, unused indexes and integrity.

    Parameters
    ----------
    app
        The ``bootstrap.App`` (its engine, clock and cache settings are used).
    retention_days
        In-app notifications older than this are deleted.

    Raises
    ------
    StorageError
        SQLite's integrity check found corruption (the report is attached as ``.report``).
    """
    t0 = time.perf_counter()
    engine: Engine = app.engine
    report = MaintenanceReport(backend=engine.dialect.name)
    now = app.clock.now()
    report.purged["notifications"] = purge_notifications(engine, now, retention_days)
    report.actions.append(f"deleted notifications older than {retention_days} days")
    with engine.begin() as conn:
        window = timedelta(seconds=app.settings.accounts.failure_window_s)
        report.purged.update(purge_account_state(conn, now, stale_after=window, token_days=retention_days))
    report.actions.append(f"deleted stale login-throttle rows and verification tokens done for {retention_days} days")
    what, n = purge_cache(app.settings.cache)
    report.purged["cache_entries"] = n
    report.actions.append(what)
    if engine.dialect.name == "postgresql":
        _postgres(engine, report)
    elif engine.dialect.name == "sqlite":
        _sqlite(engine, report)
    report.rows = _row_counts(engine)
    report.seconds = round(time.perf_counter() - t0, 3)
    if report.integrity not in (None, "ok"):
        err = StorageError(f"SQLite integrity check failed: {report.integrity}")
        err.report = report  # type: ignore[attr-defined]
        raise err
    return report

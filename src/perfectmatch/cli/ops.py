"""Operations commands: ``doctor``, ``metrics serve|textfile``, ``db maintain|export|restore``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from perfectmatch.cli import CliState, JsonOption, state
from perfectmatch.cli._output import emit

if TYPE_CHECKING:
    from perfectmatch.bootstrap import App
    from perfectmatch.ops.health import HealthReport
    from perfectmatch.ops.metrics import OpsMetrics


metrics_app = typer.Typer(help="Prometheus metrics: serve over HTTP or write a node-exporter textfile.",
                          no_args_is_help=True)


def doctor_cmd(
    ctx: typer.Context,
    deep: Annotated[bool, typer.Option("--deep", help="also run a synthetic transaction (rolled back)")] = False,
    json_out: JsonOption = False,
) -> None:
    """Check settings, database, migrations, cache, read-only mode, AI and payment endpoints; exit 1 when unhealthy."""
    from perfectmatch.ops.health import Unhealthy, check_settings

    st = state(ctx, json_out=json_out)
    report = check_settings(lambda: st.settings, deep=deep)
    emit(report.as_dict() if st.json else _table(report), as_json=st.json,
         title=f"doctor: {'healthy' if report.ok else 'UNHEALTHY'} — AI: {report.ai}")
    if not report.ok:
        raise Unhealthy("unhealthy: " + ", ".join(c.name for c in report.checks if not c.ok))


def _table(report: HealthReport) -> list[dict[str, object]]:
    return [{"check": c.name, "ok": "ok" if c.ok else "FAIL", "detail": c.detail, "seconds": c.seconds}
            for c in report.checks]


def _metrics_for(st: CliState) -> tuple[OpsMetrics, App]:
    from perfectmatch.ops.metrics import OpsMetrics, stored_batch_reports

    app = st.app
    metrics = OpsMetrics()
    metrics.watch_analyzer(app.analyzer)
    metrics.watch_database(app.engine)
    for report in stored_batch_reports(app):
        metrics.record_batch(report)
    return metrics, app


@metrics_app.command("textfile")
def metrics_textfile_cmd(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="output .prom file (written atomically)")],
) -> None:
    """Write the metrics (last stored batch run, AI counters) for node-exporter's textfile collector."""
    metrics, _ = _metrics_for(state(ctx))
    path = metrics.write_textfile(file)
    emit({"written": str(path)}, as_json=state(ctx).json, title="metrics textfile")


@metrics_app.command("serve")
def metrics_serve_cmd(
    ctx: typer.Context,
    port: Annotated[int, typer.Option("--port", help="TCP port for /metrics")] = 9464,
    addr: Annotated[str, typer.Option("--addr", help="address to bind")] = "127.0.0.1",
    refresh_s: Annotated[float, typer.Option("--refresh", help="seconds between batch-run refreshes")] = 30.0,
) -> None:
    """Serve /metrics until interrupted, picking up each newly finished batch run."""
    import time

    from perfectmatch.ops.metrics import stored_batch_reports

    metrics, app = _metrics_for(state(ctx))
    metrics.serve(port, addr=addr)
    typer.echo(f"serving metrics on http://{addr}:{port}/metrics", err=True)
    seen = {r.day for r in stored_batch_reports(app)}
    while True:
        time.sleep(refresh_s)
        for report in stored_batch_reports(app):
            if report.day not in seen:
                seen.add(report.day)
                metrics.record_batch(report)


def maintain_cmd(ctx: typer.Context, json_out: JsonOption = False) -> None:
    """Purge old notifications and expired cache entries, then VACUUM/ANALYZE and report sizes and health."""
    from perfectmatch.ops.maintenance import maintain

    st = state(ctx, json_out=json_out)
    emit(maintain(st.app), as_json=st.json, title="db maintain")


def export_cmd(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="snapshot file to write (tar of gzip JSON lines)")],
    json_out: JsonOption = False,
) -> None:
    """Write a consistent snapshot of the database and its photos' bytes (one read transaction; checksummed;
    atomic rename)."""
    from perfectmatch.adapters.blobs import LocalBlobStore
    from perfectmatch.adapters.storage.engine import make_engine
    from perfectmatch.ops.backup import export_snapshot

    st = state(ctx, json_out=json_out)
    engine = make_engine(st.settings.db_url)
    try:
        blobs = LocalBlobStore(st.settings.photos.blob_dir)
        emit(export_snapshot(engine, out, blobs=blobs), as_json=st.json, title="db export")
    finally:
        engine.dispose()


def restore_cmd(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="snapshot written by `perfectmatch db export`")],
    db: Annotated[str, typer.Option("--db", help="URL of the EMPTY target database (migrated first)")],
    json_out: JsonOption = False,
    blob_dir: Annotated[
        Path | None, typer.Option("--blob-dir", help="target for photo bytes (default: PERFECTMATCH_PHOTOS__BLOB_DIR)")
    ] = None,
) -> None:
    """Verify every checksum and count of a snapshot, then load it into an empty database in one transaction."""
    from perfectmatch.adapters.blobs import LocalBlobStore
    from perfectmatch.adapters.storage.engine import make_engine
    from perfectmatch.ops.backup import restore_snapshot

    st = state(ctx, json_out=json_out)
    engine = make_engine(db)
    try:
        blobs = LocalBlobStore(blob_dir or st.settings.photos.blob_dir)
        emit(restore_snapshot(file, engine, blobs=blobs), as_json=st.json, title="db restore")
    finally:
        engine.dispose()


read_only_app = typer.Typer(help="Read-only mode for every process on this database: refuse all writes, keep reads.",
                            no_args_is_help=True)


def _read_only_report(st: CliState, state: object) -> None:
    if st.json:
        emit(state.as_dict(), as_json=True)  # type: ignore[attr-defined]
    else:
        typer.echo(state.describe())  # type: ignore[attr-defined]


Reason = Annotated[str, typer.Option("--reason", help="why (kept in the audit log; no personal data)")]
Actor = Annotated[str, typer.Option("--actor", help="who flips it (kept in the audit log)")]


def _flip(ctx: typer.Context, on: bool, reason: str, actor: str, json_out: bool) -> None:
    from perfectmatch.adapters.storage.readonly import set_read_only

    st = state(ctx, json_out=json_out)
    app = st.app
    _read_only_report(st, set_read_only(app.engine, on, at=app.clock.now(), actor=actor, reason=reason))


@read_only_app.command("on")
def read_only_on_cmd(ctx: typer.Context, reason: Reason = "", actor: Actor = "cli",
                     json_out: JsonOption = False) -> None:
    """Refuse every write in every process using this database (within PERFECTMATCH_READ_ONLY_CHECK_S)."""
    _flip(ctx, True, reason, actor, json_out)


@read_only_app.command("off")
def read_only_off_cmd(ctx: typer.Context, reason: Reason = "", actor: Actor = "cli",
                      json_out: JsonOption = False) -> None:
    """Allow writes again (the runtime switch; PERFECTMATCH_READ_ONLY=true processes stay read-only)."""
    _flip(ctx, False, reason, actor, json_out)


@read_only_app.command("status")
def read_only_status_cmd(ctx: typer.Context, json_out: JsonOption = False) -> None:
    """Show whether writes are refused, by which switch, since when, by whom and why."""
    from perfectmatch.adapters.storage.readonly import read_only_state

    st = state(ctx, json_out=json_out)
    _read_only_report(st, read_only_state(st.app.engine))


def register(root: typer.Typer, db_app: typer.Typer) -> None:
    """Attach the operations commands to the root app and the ``db`` group (called from ``_register``)."""
    root.command("doctor")(doctor_cmd)
    root.add_typer(metrics_app, name="metrics")
    db_app.command("maintain")(maintain_cmd)
    db_app.command("export")(export_cmd)
    db_app.command("restore")(restore_cmd)
    root.add_typer(read_only_app, name="read-only")

"""Operations commands: ``doctor``, ``metrics serve|textfile``, ``db maintain|export|restore``."""

from __future__ import annotations

from typing import Annotated

import typer

from perfectmatch.cli import state
from perfectmatch.cli._output import emit

metrics_app = typer.Typer(help="Prometheus metrics: serve over HTTP or write a node-exporter textfile.",
                          no_args_is_help=True)


def doctor_cmd(
    ctx: typer.Context,
    deep: Annotated[bool, typer.Option("--deep", help="also run a synthetic transaction (rolled back)")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="machine-readable JSON on stdout")] = False,
) -> None:
    """Check settings, database, migrations, cache and AI endpoints; exit 1 when anything is unhealthy."""
    from perfectmatch.ops.health import Unhealthy, check_settings

    st = state(ctx)
    report = check_settings(lambda: st.settings, deep=deep)
    emit(report.as_dict() if (st.json or json_out) else _table(report), as_json=st.json or json_out,
         title=f"doctor: {'healthy' if report.ok else 'UNHEALTHY'} — AI: {report.ai}")
    if not report.ok:
        raise Unhealthy("unhealthy: " + ", ".join(c.name for c in report.checks if not c.ok))


def _table(report: object) -> list[dict[str, object]]:
    return [{"check": c.name, "ok": "ok" if c.ok else "FAIL", "detail": c.detail, "seconds": c.seconds}
            for c in report.checks]  # type: ignore[attr-defined]


def register(root: typer.Typer, db_app: typer.Typer) -> None:
    """Attach the operations commands to the root app and the ``db`` group (called from ``_register``)."""
    root.command("doctor")(doctor_cmd)
    root.add_typer(metrics_app, name="metrics")

"""``perfectmatch report RUN_ID --out report.html``: the self-contained HTML report of a batch run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from perfectmatch.cli import state
from perfectmatch.cli._output import emit


def report_cmd(
    ctx: typer.Context,
    run_id: Annotated[str | None, typer.Argument(help="batch day YYYY-MM-DD (default: the latest run)")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write")] = Path("report.html"),
) -> None:
    """Write an HTML page with the run's summary and plots (scores, matches per user, Lorenz curve,
    stage timings, AI sources and cost), images embedded: open it in any browser."""
    from perfectmatch.evaluation.report import write_report

    st = state(ctx)
    report = write_report(st.app, run_id, out)
    emit(
        {
            "run": report.run_id,
            "out": str(out),
            "bytes": out.stat().st_size,
            "matches": report.matches,
            "mutual_preferences_share": report.mutual.share,
        },
        as_json=st.json,
        title="report",
    )

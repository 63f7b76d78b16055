"""``perfectmatch simulate`` and ``perfectmatch import okcupid``: fill the database with users."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from perfectmatch.cli import state
from perfectmatch.cli._output import emit, progress_to_stderr

import_app = typer.Typer(help="Import real public data sets as users.", no_args_is_help=True)


def simulate_cmd(
    ctx: typer.Context,
    users: Annotated[int, typer.Option("--users", "-n", help="how many users to create")] = 1000,
    seed: Annotated[int | None, typer.Option(help="random seed (default: $PERFECTMATCH_SEED)")] = None,
) -> None:
    """Create a realistic synthetic population (metros, ages, orientations, questionnaire answers)."""
    from perfectmatch.populations.store import check_users, simulate_and_store

    check_users(users)
    st = state(ctx)
    app = st.app
    with progress_to_stderr(enabled=not st.json) as progress:
        report = simulate_and_store(
            app.uow, users, st.settings.seed if seed is None else seed,
            today=app.clock.now().date(), progress=progress, vector_spec=app.vector_spec,
        )
    if st.json:
        emit(report, as_json=True)
        return
    emit({k: v for k, v in vars(report).items() if k != "summary"}, as_json=False, title="simulate")
    for group, counts in report.summary.items():
        if isinstance(counts, dict):
            emit(counts, as_json=False, title=group.replace("_", " "))


@import_app.command("okcupid")
def okcupid_cmd(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="okcupid_profiles_revised*.csv[.gz]")],
    seed: Annotated[int | None, typer.Option(help="seed of the synthetic Bay Area locations and names")] = None,
    skip_malformed: Annotated[
        bool, typer.Option("--skip-malformed", help="skip malformed CSV rows (listed by line) instead of failing")
    ] = False,
) -> None:
    """Import the OkCupid profiles (2021 release); re-running adds nothing (idempotent by row_id)."""
    from perfectmatch.populations.okcupid import check_file, import_okcupid

    check_file(path)
    st = state(ctx)
    app = st.app
    now = app.clock.now()
    with progress_to_stderr(enabled=not st.json) as progress:
        report = import_okcupid(
            path, app.uow, today=now.date(), now=now, seed=st.settings.seed if seed is None else seed,
            skip_malformed=skip_malformed, progress=progress,
        )
    if st.json:
        emit(report, as_json=True)
        return
    emit({k: v for k, v in vars(report).items() if k not in ("skipped", "malformed_lines")},
         as_json=False, title="import okcupid")
    emit(report.skipped or {"(none)": 0}, as_json=False, title="skipped, by reason")
    if report.malformed_lines:
        emit({"malformed rows": "\n".join(report.malformed_lines)}, as_json=False)

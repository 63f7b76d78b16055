"""``perfectmatch batch`` (run and inspect the daily batch) and ``perfectmatch matches`` (discovery)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import typer

from perfectmatch.cli import JsonOption, state
from perfectmatch.cli._output import emit, progress_to_stderr

batch_app = typer.Typer(help="The daily match batch.", no_args_is_help=True)
matches_app = typer.Typer(help="What users see: match lists and match details.", no_args_is_help=True)


def _day(value: datetime | None, st: object) -> date:
    return value.date() if value is not None else st.app.clock.now().date()  # type: ignore[attr-defined]


@batch_app.command("run")
def run_cmd(
    ctx: typer.Context,
    day: Annotated[
        datetime | None, typer.Option("--date", formats=["%Y-%m-%d"], help="UTC day (default today)")
    ] = None,
    mode: Annotated[str | None, typer.Option(help="exact | approx (default: settings)")] = None,
    engine: Annotated[
        str | None, typer.Option(help="exact candidates on: local | dask (default: settings matching.engine)")
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="dask scheduler address, e.g. tcp://host:8786 (default: a local cluster)")
    ] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="worker processes of the local dask cluster")] = None,
    takeover: Annotated[
        bool, typer.Option("--takeover", help="take over the lock of a run that died (do not use while one runs)")
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Match active users and deliver today's offers (idempotent per day, resumable after a crash).

    ``--engine dask`` computes the exact candidates on a Dask cluster (``--scheduler ADDRESS``, or a
    local cluster of ``--workers`` processes); the matches are identical to the local engine's.
    """
    from perfectmatch.pipeline import run_daily_batch

    st = state(ctx, json_out=json_out)
    stale = {"stale_after_s": 0.0} if takeover else {}
    dask = st.app.settings.dask
    if scheduler is not None or workers is not None:
        engine = engine or "dask"
        dask = dask.model_copy(update={k: v for k, v in (("scheduler", scheduler), ("workers", workers)) if v})
    with progress_to_stderr(enabled=not st.json) as progress:
        report = run_daily_batch(st.app, day=_day(day, st), mode=mode, engine=engine, dask=dask, progress=progress,
                                 **stale)
    emit(report.as_dict(), as_json=st.json, title=f"batch {report.day}")


@batch_app.command("status")
def status_cmd(ctx: typer.Context, json_out: JsonOption = False) -> None:
    """List batch runs with their status and completed stages."""
    st = state(ctx, json_out=json_out)
    with st.app.uow as uow:
        runs = uow.batch.runs()
    emit([{"day": r["day"].isoformat(), "status": r["status"], "stages": ",".join(r["stages"]),
           "matches": (r["summary"] or {}).get("matches", "")} for r in runs] or {"runs": 0},
         as_json=st.json, title="batch runs")


@matches_app.command("list")
def list_cmd(
    ctx: typer.Context,
    user_id: Annotated[int, typer.Argument(help="the viewing user's id")],
    limit: Annotated[int | None, typer.Option(min=1, help="at most this many")] = None,
    json_out: JsonOption = False,
) -> None:
    """A user's matches, best first (free users: the most recent day's; premium: all)."""
    from perfectmatch.discovery import list_matches

    st = state(ctx, json_out=json_out)
    views = list_matches(st.app, user_id, limit=limit)
    emit(views if views else {"user": user_id, "matches": 0}, as_json=st.json, title=f"matches of user {user_id}")


@matches_app.command("top")
def top_cmd(
    ctx: typer.Context,
    day: Annotated[
        datetime | None, typer.Option("--date", formats=["%Y-%m-%d"], help="UTC day (default today)")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="how many")] = 10,
    json_out: JsonOption = False,
) -> None:
    """The day's best matches, with both users' ids (pick one for ``matches list``)."""
    from perfectmatch.discovery import top_matches

    st = state(ctx, json_out=json_out)
    rows = top_matches(st.app, _day(day, st), limit=limit)
    emit(rows or {"matches": 0}, as_json=st.json, title="best matches")


@matches_app.command("show")
def show_cmd(
    ctx: typer.Context,
    user_id: Annotated[int, typer.Argument(help="the viewing user's id")],
    other_id: Annotated[int, typer.Argument(help="the matched user's id")],
    json_out: JsonOption = False,
) -> None:
    """One match's details, with basic or premium insights by the viewer's tier."""
    from perfectmatch.discovery import match_details

    st = state(ctx, json_out=json_out)
    emit(match_details(st.app, user_id, other_id), as_json=st.json, title=f"match {user_id} - {other_id}")

"""``perfectmatch eval ...``: match-quality evaluations on real data (a thin shell over ``evaluation``).

The ``eval`` group is created here; further evaluations add a command to ``app``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from perfectmatch.cli import JsonOption, state
from perfectmatch.cli._output import emit, stdout, to_jsonable

WIDTH = 156  # the AUC table needs this much; narrower terminals wrap lines rather than cells

app = typer.Typer(
    help="Evaluate match quality: real speed-dating outcomes, population metrics of a batch run.", no_args_is_help=True
)


def _nan_to_null(value: Any) -> Any:
    """Undefined numbers (an interval without resamples, a model without training waves) as JSON null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_null(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_null(v) for v in value]
    return value


def _value(v: float) -> str:
    return "n/a" if math.isnan(v) else f"{v:.3f}"


@app.command("speed-dating")
def speed_dating_cmd(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="speed-dating CSV (.csv or .csv.gz), e.g. the shared waves 1-14 file")],
    json_out: JsonOption = False,
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", help="bootstrap resamples for the intervals (0: none)")
    ] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="seed of the bootstrap and the random baseline")] = 0,
    k: Annotated[int, typer.Option("--k", help="k of reciprocal precision@k")] = 3,
) -> None:
    """ROC AUC of our compatibility score for match and each side's yes, with baselines and intervals."""
    from perfectmatch.evaluation.speed_dating import load
    from perfectmatch.evaluation.speed_dating_report import TARGETS, evaluate

    as_json = state(ctx, json_out=json_out).json
    report = evaluate(load(path), resamples=bootstrap, seed=seed, k=k)
    if as_json:
        emit(_nan_to_null(to_jsonable(report)), as_json=True)
        return
    rates = ", ".join(f"{TARGETS[t]} {v:.1%}" for t, v in report.base_rates.items())
    stdout.print(
        f"{report.source}: waves {report.waves[0]}-{report.waves[-1]} ({len(report.waves)}), "
        f"{report.participants} participants, {report.pairs} dates; base rates {rates}"
    )
    table = Table(title=f"ROC AUC [95% CI], {report.resamples} resamples; precision@{report.k} per participant")
    table.add_column("score", no_wrap=True)
    for label in TARGETS.values():
        table.add_column(f"AUC {label}")
    table.add_column("AUC match within waves")
    table.add_column(f"P@{report.k} match")
    for r in report.results:
        table.add_row(r.name, *(str(r.auc[t]) for t in TARGETS), str(r.within_waves["match"]), str(r.precision_at_k))
    wide = Console(soft_wrap=True, width=max(stdout.width, WIDTH))
    wide.print(table)
    shown = [r for r in report.results if r.name != "random"]
    per_wave = Table(title="match AUC per wave")
    per_wave.add_column("wave")
    per_wave.add_column("dates")
    for r in shown:
        per_wave.add_column(r.short, justify="right")
    for w in report.waves:
        per_wave.add_row(
            str(w), str(report.pair_counts.get(w, "")), *(_value(r.per_wave[w]["match"].value) for r in shown)
        )
    wide.print(per_wave)
    stdout.print(
        f"intervals: {report.ci_method}. Inputs: pre-date sign-up survey only "
        f"({len(report.inputs)} columns). {report.seconds:.1f} s."
    )

"""``perfectmatch eval population``: population metrics of a stored batch run (registered on the
``eval`` group of ``cli.evaluate``)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from perfectmatch.cli import JsonOption, state
from perfectmatch.cli._output import emit


def _headline(r: Any) -> dict[str, Any]:
    """The numbers a person reads first; ``--json`` gives the whole report."""
    m, n = r.mutual, r.new_users
    out: dict[str, Any] = {
        "run": r.run_id,
        "population": r.population_sources,
        "matchable_users": r.matchable_users,
        "matches": r.matches,
        "coverage": r.coverage,
        "coverage_of_eligible": r.coverage_of_eligible,
        "exposure_gini": r.exposure_gini,
        "mutual_preferences_share": m.share,
        "mutual_violations": m.violation_count,
        "own_radius_share": m.own_radius_share,
        "new_user_share": n.share_of_matchable,
        "new_user_coverage": n.coverage,
        "fallback_share": r.sources.fallback_share,
        "score_p10_p50_p90": [r.score.quantiles.get(k) for k in ("p10", "p50", "p90")],
        "distance_km_p50_p90": [r.distance_km.quantiles.get(k) for k in ("p50", "p90")],
        "age_gap_p50_p90": [r.age_gap_years.quantiles.get(k) for k in ("p50", "p90")],
        "ai_cost_usd": r.ai.cost_usd if r.ai.usage_recorded else None,
        "stage_seconds": r.stage_seconds,
    }
    for t in r.tiers:
        out[f"{t.tier}_matches_mean_max_cap"] = [t.mean, t.max, t.cap]
    return out


def population_cmd(
    ctx: typer.Context,
    run_id: Annotated[str | None, typer.Argument(help="batch day YYYY-MM-DD (default: the latest run)")] = None,
    json_out: JsonOption = False,
) -> None:
    """Coverage, exposure Gini and Lorenz curve, matches per tier, distance/age gaps, mutual-preference
    check (must be 100 %), new-user and fallback shares of one batch run."""
    from perfectmatch.evaluation.population import evaluate_run

    st = state(ctx, json_out=json_out)
    report = evaluate_run(st.app, run_id)
    if st.json:
        emit(report, as_json=True)
    else:
        emit(_headline(report), as_json=False, title=f"population evaluation of run {report.run_id}")

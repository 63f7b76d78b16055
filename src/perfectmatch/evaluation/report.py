"""The HTML run report: one self-contained page per batch run for a data person's browser.

``render_report(report)`` turns a ``PopulationReport`` into HTML with a summary table and
matplotlib plots embedded as base64 PNG ``<img>`` tags (no external URL, no script): score
distribution, matches per user by tier, Lorenz curve of exposure, stage timings, AI sources and
cost, distance and age gap. Every text taken from data is HTML-escaped. Figures are drawn on
``matplotlib.figure.Figure`` with the Agg canvas directly, so no GUI backend or global pyplot
state is involved.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
from datetime import date
from pathlib import Path
from typing import Any

from perfectmatch.errors import ConfigError
from perfectmatch.evaluation.population import Distribution, PopulationReport, evaluate_run

#: (key, title) of every plot, in page order; ``render_report`` draws each one.
PLOTS = (
    ("score", "Score distribution of delivered matches"),
    ("per_user", "Matches per user by tier"),
    ("lorenz", "Lorenz curve of exposure"),
    ("stages", "Stage timings"),
    ("ai", "AI sources and cost"),
    ("distance_age", "Distance and age gap of matched pairs"),
)
DPI = 96
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.25rem .6rem;text-align:left}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1.5rem 0}figure img{max-width:100%;border:1px solid #eee}figcaption{color:#555;font-size:.9rem}
.bad{color:#b00020;font-weight:bold}.ok{color:#1b7f3a}
"""


def _figure_class() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError("the run report needs matplotlib: pip install 'perfectmatch[report]'") from None
    return Figure


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _hist(ax: Any, dist: Distribution, *, color: str, xlabel: str) -> None:
    edges, counts = dist.edges, dist.counts
    widths = [hi - lo for lo, hi in itertools.pairwise(edges)]
    ax.bar(edges[:-1], counts, width=widths, align="edge", color=color, edgecolor="white")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("pairs")
    if dist.count == 0:
        ax.text(0.5, 0.5, "no matches", transform=ax.transAxes, ha="center", va="center")


def _plot_score(fig: Any, r: PopulationReport, min_score: float) -> None:
    ax = fig.subplots()
    _hist(ax, r.score, color="#4c72b0", xlabel="final score (0-100)")
    ax.axvline(min_score, color="#c44e52", linestyle="--", label=f"delivery threshold {min_score:g}")
    ax.legend(loc="upper right")
    median = r.score.quantiles.get("p50")
    ax.set_title("no matches" if median is None else f"{r.score.count} matches, median {median:.1f}")


def _plot_per_user(fig: Any, r: PopulationReport) -> None:
    axes = fig.subplots(1, len(r.tiers), squeeze=False)[0]
    for ax, t in zip(axes, r.tiers, strict=True):
        ks = list(range(len(t.per_user_counts)))
        ax.bar(ks, t.per_user_counts, color="#55a868" if t.over_cap == 0 else "#c44e52")
        ax.axvline(t.cap + 0.5, color="#c44e52", linestyle="--", label=f"daily cap {t.cap}")
        ax.set_title(f"{t.tier}: {t.users} users, mean {t.mean:.2f}, max {t.max}")
        ax.set_xlabel("matches on the day")
        ax.set_ylabel("users (log scale)")
        if t.users:
            ax.set_yscale("symlog", linthresh=1)
            ax.set_ylim(bottom=0)
        else:
            ax.text(0.5, 0.5, "no users in this tier", transform=ax.transAxes, ha="center", va="center")
        ax.legend(loc="upper right")


def _plot_lorenz(fig: Any, r: PopulationReport) -> None:
    ax = fig.subplots()
    xs, ys = [p[0] for p in r.lorenz], [p[1] for p in r.lorenz]
    ax.plot([0, 1], [0, 1], color="#999", linestyle=":", label="perfect equality")
    if r.matches:
        ax.plot(xs, ys, color="#4c72b0", linewidth=2, label="matches per user")
        ax.fill_between(xs, ys, xs, color="#4c72b0", alpha=0.15)
    else:
        ax.text(0.5, 0.3, "no matches: nothing to distribute", transform=ax.transAxes, ha="center")
    ax.set_xlabel("share of matchable users (fewest matches first)")
    ax.set_ylabel("share of matches received")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_title(f"exposure Gini {r.exposure_gini:.3f}, coverage {r.coverage:.1%}")
    ax.legend(loc="upper left")


def _plot_stages(fig: Any, r: PopulationReport) -> None:
    ax = fig.subplots()
    names = list(r.stage_seconds)
    secs = [r.stage_seconds[n] for n in names]
    ax.barh(names[::-1], secs[::-1], color="#8172b2")
    for y, s in enumerate(secs[::-1]):
        ax.text(s, y, f" {s:.2f} s", va="center")
    ax.set_xlabel("seconds")
    ax.set_title(f"total {sum(secs):.2f} s")
    ax.set_xlim(0, max(secs, default=1.0) * 1.25 or 1.0)


def _plot_ai(fig: Any, r: PopulationReport) -> None:
    left, right = fig.subplots(1, 2)
    names = sorted(set(r.sources.counts) | set(r.ai.analysed_by))
    xs = range(len(names))
    left.bar(
        [x - 0.2 for x in xs],
        [r.sources.counts.get(n, 0) for n in names],
        width=0.4,
        label="delivered matches",
        color="#4c72b0",
    )
    left.bar(
        [x + 0.2 for x in xs],
        [r.ai.analysed_by.get(n, 0) for n in names],
        width=0.4,
        label="pairs analysed",
        color="#dd8452",
    )
    left.set_xticks(list(xs), names)
    left.set_ylabel("pairs")
    left.set_title(f"score sources: AI {r.sources.ai_share:.0%}, fallback {r.sources.fallback_share:.0%}")
    left.legend(loc="best")
    labels = ["requests", "prompt tokens", "completion tokens"]
    values = [r.ai.requests, r.ai.prompt_tokens, r.ai.completion_tokens]
    right.bar(labels, values, color="#937860")
    for x, v in enumerate(values):
        right.text(x, v, f"{v:,}", ha="center", va="bottom")
    if max(values) > 0:
        right.set_yscale("symlog", linthresh=1)
        right.set_ylim(0, max(values) * 5)  # room for the value labels above the bars
    else:
        right.set_ylim(0, 1)
    right.set_title(_cost_text(r))


def _cost_text(r: PopulationReport) -> str:
    if r.ai.usage_recorded:
        return f"estimated cost ${r.ai.cost_usd:.4f} ({r.ai.requests} requests)"
    return "no AI provider calls" if r.ai.pairs_analysed == 0 else "usage not recorded for this run"


def _plot_distance_age(fig: Any, r: PopulationReport) -> None:
    left, right = fig.subplots(1, 2)
    _hist(left, r.distance_km, color="#64b5cd", xlabel="distance between matched users (km)")
    _hist(right, r.age_gap_years, color="#ccb974", xlabel="age gap (years)")


def render_plots(report: PopulationReport, *, min_score: float = 70.0) -> dict[str, str]:
    """Every plot of ``PLOTS`` as base64 PNG, by key."""
    figure = _figure_class()
    draw = {
        "score": lambda f: _plot_score(f, report, min_score),
        "per_user": lambda f: _plot_per_user(f, report),
        "lorenz": lambda f: _plot_lorenz(f, report),
        "stages": lambda f: _plot_stages(f, report),
        "ai": lambda f: _plot_ai(f, report),
        "distance_age": lambda f: _plot_distance_age(f, report),
    }
    sizes = {"lorenz": (6.0, 6.0), "per_user": (11.0, 4.0), "ai": (11.0, 4.2), "distance_age": (11.0, 4.0)}
    out = {}
    for key, _ in PLOTS:
        fig = figure(figsize=sizes.get(key, (9.0, 4.2)), layout="constrained")
        draw[key](fig)
        out[key] = _png(fig)
    return out


def _row(label: str, value: object, *, cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<tr><th>{html.escape(label)}</th><td{attr}>{html.escape(str(value))}</td></tr>"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _summary_rows(r: PopulationReport) -> list[str]:
    m = r.mutual
    rows = [
        _row("run (batch day)", r.run_id),
        _row("status", r.status),
        _row("mode / assignment", f"{r.mode} / {r.assignment}"),
        _row("population", ", ".join(f"{k}: {v}" for k, v in r.population_sources.items()) or "-"),
        _row("users stored / active / matchable", f"{r.users_total} / {r.active_users} / {r.matchable_users}"),
        _row("matches delivered", r.matches),
        _row("users with a match", r.matched_users),
        _row("coverage (matchable users)", f"{r.coverage:.2%}"),
        _row(
            "coverage (users with an offerable pair)",
            "-" if r.coverage_of_eligible is None else f"{r.coverage_of_eligible:.2%}",
        ),
        _row("exposure Gini (matchable / eligible)", f"{r.exposure_gini:.3f} / {_num(r.exposure_gini_of_eligible)}"),
        _row(
            "mutual preferences hold", f"{m.share:.2%} ({m.holding}/{m.pairs})", cls="ok" if m.share == 1.0 else "bad"
        ),
        _row("within both users' own radii", f"{m.own_radius_share:.2%}"),
        _row(
            "new users (first week): share / coverage",
            f"{r.new_users.share_of_matchable:.2%} / {r.new_users.coverage:.2%}",
        ),
        _row(
            "new users: mean matches (others)",
            f"{r.new_users.mean_matches:.2f} ({r.new_users.mean_matches_others:.2f})",
        ),
        _row("score sources", ", ".join(f"{k}: {v}" for k, v in r.sources.counts.items()) or "-"),
        _row("fallback share", f"{r.sources.fallback_share:.2%}"),
        _row("AI", r.ai.description or "-"),
        _row("AI usage and cost", _cost_text(r)),
        _row("AI tokens (prompt / completion)", f"{r.ai.prompt_tokens:,} / {r.ai.completion_tokens:,}"),
    ]
    for t in r.tiers:
        rows.append(
            _row(
                f"{t.tier}: matched / users, max (cap)",
                f"{t.matched_users} / {t.users}, {t.max} ({t.cap})",
                cls="ok" if t.over_cap == 0 else "bad",
            )
        )
    for name, d in (("score", r.score), ("distance km", r.distance_km), ("age gap years", r.age_gap_years)):
        q = d.quantiles
        rows.append(
            _row(f"{name}: p10 / p50 / p90", " / ".join(f"{q[k]:.1f}" for k in ("p10", "p50", "p90")) if q else "-")
        )
    return rows


def render_report(report: PopulationReport, *, min_score: float = 70.0, generated: str = "") -> str:
    """The report as one self-contained HTML page (plots inline, no script, no external resource)."""
    plots = render_plots(report, min_score=min_score)
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>perfectmatch run {esc(report.run_id)}</title><style>{_CSS}</style></head><body>",
        f"<h1>perfectmatch batch run {esc(report.run_id)}</h1>",
        f"<p>{esc(generated)}</p>" if generated else "",
        "<h2>Summary</h2><table>",
        *_summary_rows(report),
        "</table>",
    ]
    if report.mutual.violations:
        parts.append(
            f'<h2 class="bad">Pairs breaking mutual preferences ({report.mutual.violation_count})</h2>'
            "<table><tr><th>user a</th><th>user b</th><th>fails</th></tr>"
        )
        parts += [
            f"<tr><td>{v.user_a}</td><td>{v.user_b}</td><td>{esc(', '.join(v.failed))}</td></tr>"
            for v in report.mutual.violations
        ]
        parts.append("</table>")
    parts.append("<h2>Plots</h2>")
    for key, title in PLOTS:
        parts.append(
            f'<figure id="plot-{key}"><img alt="{esc(title)}" data-plot="{key}" '
            f'src="data:image/png;base64,{plots[key]}"><figcaption>{esc(title)}</figcaption></figure>'
        )
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p)


def write_report(app: Any, run_id: str | date | None, out: Path) -> PopulationReport:
    """Evaluate ``run_id`` and write its HTML report to ``out``; returns the evaluation."""
    _figure_class()  # fail before the (longer) evaluation when matplotlib is missing
    report = evaluate_run(app, run_id)
    generated = f"generated {app.clock.now():%Y-%m-%d %H:%M} UTC"
    page = render_report(report, min_score=app.settings.matching.min_compatibility, generated=generated)
    out.write_text(page, encoding="utf-8")
    return report

"""Fatigue detection from response times, answer changes and straight-lining; the engagement score.

Signals over the most recent ``window`` answers, each in [0, 1]:

- **speeding**: the recent median response time against the respondent's own baseline (median of
  their first timed answers): 0 at half the baseline or slower, 1 at a tenth of it. Answers under
  ``floor_s`` seconds also count as speeding whatever the baseline.
- **straight-lining**: the longest run of identical Likert values among recent Likert answers;
  0 for runs of 3 or fewer, 1 from 6.
- **answer changes**: earlier answers changed within the recent window; 1 from 4 changes.
- **dawdling**: recent median over 3x the baseline (distraction); 1 at 6x.

``engagement = 1 - (0.45 speeding + 0.35 straight-lining + 0.2 changes + 0.2 dawdling)``, clipped
to [0, 1]. Fatigue is detected when engagement falls below ``threshold`` once at least
``min_answers`` answers are in; it ends (allowing a new episode) when engagement recovers above
``threshold + recovery``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import median

__all__ = ["FatigueConfig", "FatigueReport", "Step", "assess"]


@dataclass(frozen=True, slots=True)
class Step:
    """One answered question as fatigue sees it: time taken, Likert value (else None), changed earlier answer."""

    seconds: float | None
    likert: float | None = None
    changed: bool = False


@dataclass(frozen=True, slots=True)
class FatigueConfig:
    window: int = 8
    baseline_answers: int = 8
    min_answers: int = 8
    threshold: float = 0.6
    recovery: float = 0.1
    floor_s: float = 1.0
    keep_fraction: float = 0.3  # of the non-priority remaining questions kept when shortening


@dataclass(frozen=True, slots=True)
class FatigueReport:
    """Engagement (0-1, higher is better), whether fatigue is detected, and each signal."""

    engagement: float
    fatigued: bool
    signals: dict[str, float] = field(default_factory=dict)


def _clip(x: float) -> float:
    return min(1.0, max(0.0, x))


def assess(steps: Sequence[Step], config: FatigueConfig = FatigueConfig()) -> FatigueReport:
    """Score engagement from the answer history (oldest first)."""
    recent = steps[-config.window :]
    times = [s.seconds for s in steps if s.seconds is not None]
    recent_times = [s.seconds for s in recent if s.seconds is not None]
    speeding = dawdling = 0.0
    if len(times) >= 3 and recent_times:
        baseline = median(times[: config.baseline_answers])
        now = median(recent_times)
        if baseline > 0:
            ratio = now / baseline
            speeding = _clip((0.5 - ratio) / 0.4)
            dawdling = _clip((ratio - 3.0) / 3.0)
        if now < config.floor_s:
            speeding = max(speeding, _clip((config.floor_s - now) / config.floor_s + 0.5))
    likert = [s.likert for s in recent if s.likert is not None]
    run = best = 0
    prev = None
    for v in likert:
        run = run + 1 if v == prev else 1
        best = max(best, run)
        prev = v
    straight = _clip((best - 3) / 3.0)
    changes = _clip(sum(s.changed for s in recent) / 4.0)
    engagement = _clip(1.0 - (0.45 * speeding + 0.35 * straight + 0.2 * changes + 0.2 * dawdling))
    fatigued = len(steps) >= config.min_answers and engagement < config.threshold
    return FatigueReport(
        engagement=engagement,
        fatigued=fatigued,
        signals={
            "speeding": speeding,
            "straight_lining": straight,
            "answer_changes": changes,
            "dawdling": dawdling,
        },
    )

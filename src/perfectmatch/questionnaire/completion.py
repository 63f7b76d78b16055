"""Completion criteria, each reported separately so a UI can tell the user what is still missing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from perfectmatch.models import Dimension

__all__ = ["CompletionPolicy", "CompletionReport", "Criterion", "check"]


@dataclass(frozen=True, slots=True)
class CompletionPolicy:
    """Thresholds of the spec: 60 % of the adaptive path, 3 open answers, engagement above 0.5.

    The data points each critical dimension needs come from the bank (``Bank.min_points``).
    """

    min_path_fraction: float = 0.6
    min_open_answers: int = 3
    min_engagement: float = 0.5


@dataclass(frozen=True, slots=True)
class Criterion:
    """One criterion: whether it is ``met``, the current ``value`` against ``required``, and what is missing."""

    name: str
    met: bool
    value: float
    required: float
    detail: str
    missing: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CompletionReport:
    """All criteria; the questionnaire is complete when every one is met."""

    criteria: tuple[Criterion, ...]

    @property
    def complete(self) -> bool:
        return all(c.met for c in self.criteria)

    @property
    def unmet(self) -> list[Criterion]:
        return [c for c in self.criteria if not c.met]

    def __getitem__(self, name: str) -> Criterion:
        for c in self.criteria:
            if c.name == name:
                return c
        raise KeyError(name)


def check(
    *,
    path_fraction: float,
    points: Mapping[Dimension, int],
    critical: Sequence[Dimension],
    min_points: int,
    open_answers: int,
    engagement: float,
    policy: CompletionPolicy = CompletionPolicy(),
) -> CompletionReport:
    """Evaluate the four completion criteria.

    Parameters
    ----------
    path_fraction
        Answered share of the adaptive path (``Progress.fraction``), 0-1.
    points
        Answered questions measuring each dimension.
    critical
        Dimensions that need ``min_points`` data points each.
    open_answers
        Open-ended questions answered.
    engagement
        Current engagement score, 0-1 (``fatigue.assess``).
    """
    lacking = tuple(
        f"{d.value} ({points.get(d, 0)}/{min_points})" for d in critical if points.get(d, 0) < min_points
    )
    enough = len(critical) - len(lacking)
    return CompletionReport(
        (
            Criterion(
                "adaptive_path",
                path_fraction >= policy.min_path_fraction,
                path_fraction,
                policy.min_path_fraction,
                f"{path_fraction:.0%} of the adaptive path answered (need {policy.min_path_fraction:.0%})",
            ),
            Criterion(
                "critical_dimensions",
                not lacking,
                float(enough),
                float(len(critical)),
                f"{enough} of {len(critical)} critical dimensions have {min_points}+ answers"
                + (f"; missing: {', '.join(lacking)}" if lacking else ""),
                lacking,
            ),
            Criterion(
                "open_answers",
                open_answers >= policy.min_open_answers,
                float(open_answers),
                float(policy.min_open_answers),
                f"{open_answers} open-ended answers (need {policy.min_open_answers})",
            ),
            Criterion(
                "engagement",
                engagement > policy.min_engagement,
                engagement,
                policy.min_engagement,
                f"engagement {engagement:.2f} (need above {policy.min_engagement:.2f})",
            ),
        )
    )

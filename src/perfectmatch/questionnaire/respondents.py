"""Simulated respondents with known true dimension scores and fatigue, and a simulation over a bank.

A respondent has a true position ``theta`` (shape (5,), drawn from the model's prior ``N(0, I)``)
and answers scored questions from the same measurement model the engine assumes
(``y = intercept + a·theta + N(0, noise)``, rounded to the nearest Likert point or option score). Nominal and
open questions get plausible answers. Each respondent also has a *fatigue onset* (answers after
which they tire: they speed up to a quarter of their usual time, straight-line Likert items with
probability 0.8 and otherwise answer at random) and a *patience* (answers after which they quit).

Because the simulation uses the engine's own measurement model, it measures the engine's
machinery (selection, stopping, fatigue handling), not the model's validity; the Big Five replay
benchmark checks the model against real respondents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from perfectmatch.models import Dimension
from perfectmatch.ports import NO_PROGRESS, Progress
from perfectmatch.questionnaire.completion import CompletionPolicy
from perfectmatch.questionnaire.fatigue import FatigueConfig
from perfectmatch.questionnaire.models import Bank, Question, QuestionType
from perfectmatch.questionnaire.session import Session

__all__ = ["SimulatedRespondent", "SimulationReport", "make_respondents", "simulate"]

_DIMS = tuple(Dimension)
_TEXTS = (
    "Weekends outdoors, good food with friends and an honest talk at the end of the day.",
    "I value kindness, curiosity and people who keep their word.",
    "We disagreed about moving cities; we listed what mattered to each of us and found a middle way.",
    "Right now I'm learning to cook dishes from my grandmother's notebook.",
    "My friends would say I'm loyal, a bit stubborn and always up for a plan.",
    "Someone warm and direct; a first date with coffee and a long walk would be perfect.",
)


@dataclass
class SimulatedRespondent:
    """A synthetic respondent; ``answer`` returns ``(value, importance, seconds)`` for a question."""

    theta: np.ndarray
    fatigue_onset: int
    patience: int
    base_seconds: float
    rng: np.random.Generator = field(repr=False)
    answered: int = 0
    _last_likert: int | None = field(default=None, repr=False)

    @property
    def tired(self) -> bool:
        return self.answered >= self.fatigue_onset

    def answer(self, q: Question) -> tuple[Any, int, float]:
        rng = self.rng
        tired = self.tired
        seconds = float(self.base_seconds * rng.lognormal(0.0, 0.3) * (0.25 if tired else 1.0))
        if q.type is QuestionType.TEXT:
            seconds *= 6.0
        importance = int(rng.integers(7, 11) if q.critical else rng.integers(3, 10))
        careless = tired and rng.random() < 0.8
        a = np.array([q.dimensions.get(d, 0.0) for d in _DIMS])
        y = float(q.intercept + a @ self.theta + rng.normal(0.0, np.sqrt(q.noise)))
        value: Any
        if q.type is QuestionType.LIKERT:
            lo, hi = q.bounds
            if careless and self._last_likert is not None:
                value = self._last_likert
            else:
                value = int(np.clip(round(lo + (y + 1.0) / 2.0 * (hi - lo)), lo, hi))
            self._last_likert = value
        elif q.type is QuestionType.NUMERIC:
            lo, hi = q.bounds
            value = float(np.clip(lo + (y + 1.0) / 2.0 * (hi - lo), lo, hi))
        elif q.type is QuestionType.SINGLE:
            scored = [o for o in q.options if o.score is not None]
            if scored and not careless:
                value = min(scored, key=lambda o: abs(o.score - y)).id  # type: ignore[operator]
            else:
                value = q.option_ids[int(rng.integers(len(q.options)))]
        elif q.type is QuestionType.MULTIPLE:
            k = int(rng.integers(1, min(3, len(q.options)) + 1))
            value = [str(x) for x in rng.choice(list(q.option_ids), size=k, replace=False)]
        else:
            value = _TEXTS[int(rng.integers(len(_TEXTS)))]
        self.answered += 1
        return value, importance, seconds


def make_respondents(n: int, *, seed: int = 0, fatigue: bool = True) -> list[SimulatedRespondent]:
    """``n`` respondents with ``theta ~ N(0, I)``; without ``fatigue`` they never tire or quit."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        onset = int(rng.integers(25, 90)) if fatigue else 10**9
        patience = onset + int(rng.integers(10, 40)) if fatigue else 10**9
        out.append(
            SimulatedRespondent(
                theta=rng.standard_normal(len(_DIMS)),
                fatigue_onset=onset,
                patience=patience,
                base_seconds=float(rng.uniform(4.0, 10.0)),
                rng=np.random.default_rng([seed, i]),
            )
        )
    return out


@dataclass(frozen=True)
class SimulationReport:
    """Aggregate outcome of a simulation (means over respondents; accuracy against the true theta)."""

    bank_version: str
    strategy: str
    respondents: int
    completion_rate: float
    finished_rate: float
    mean_path_length: float
    fatigue_detected_rate: float
    mean_dropped: float
    rmse: dict[str, float]
    correlation: dict[str, float]
    unmet: dict[str, int]


def simulate(
    bank: Bank,
    respondents: list[SimulatedRespondent],
    *,
    strategy: str = "most_informative",
    seed: int = 0,
    target_sd: float | None = None,
    fatigue: FatigueConfig = FatigueConfig(),
    completion: CompletionPolicy = CompletionPolicy(),
    progress: Progress = NO_PROGRESS,
) -> SimulationReport:
    """Run every respondent through a session until the path ends or they quit; report the outcome.

    Accuracy compares each session's posterior means with the true ``theta`` (RMSE in prior
    standard deviations, and Pearson correlation across respondents) per dimension.
    """
    progress.start("respondents", len(respondents))
    est, true = [], []
    completed = finished = fatigued = 0
    lengths, dropped = [], []
    unmet: dict[str, int] = {}
    for i, r in enumerate(respondents):
        s = Session(
            bank,
            strategy=strategy,
            seed=seed + i,
            target_sd=target_sd,
            fatigue=fatigue,
            completion=completion,
        )
        saw_fatigue = False
        while r.answered < r.patience and (q := s.next_question()) is not None:
            value, importance, seconds = r.answer(q)
            s.answer(q.id, value, importance=importance, seconds=seconds)
            saw_fatigue = saw_fatigue or s.engagement.fatigued
        report = s.completion()
        completed += report.complete
        finished += s.finished
        fatigued += saw_fatigue
        for c in report.unmet:
            unmet[c.name] = unmet.get(c.name, 0) + 1
        lengths.append(len(s.answers))
        dropped.append(len(s.dropped))
        est.append([sc.mean for sc in s.scores().values()])
        true.append(r.theta)
        progress.advance("respondents")
    e, t = np.array(est), np.array(true)
    n = max(1, len(respondents))
    rmse = np.sqrt(np.mean((e - t) ** 2, axis=0)) if len(respondents) else np.zeros(len(_DIMS))
    corr = [
        float(np.corrcoef(e[:, j], t[:, j])[0, 1]) if len(respondents) > 2 and e[:, j].std() > 0 else 0.0
        for j in range(len(_DIMS))
    ]
    return SimulationReport(
        bank_version=bank.version,
        strategy=strategy,
        respondents=len(respondents),
        completion_rate=completed / n,
        finished_rate=finished / n,
        mean_path_length=float(np.mean(lengths)) if lengths else 0.0,
        fatigue_detected_rate=fatigued / n,
        mean_dropped=float(np.mean(dropped)) if dropped else 0.0,
        rmse={d.value: round(float(x), 4) for d, x in zip(_DIMS, rmse, strict=True)},
        correlation={d.value: round(c, 4) for d, c in zip(_DIMS, corr, strict=True)},
        unmet=unmet,
    )

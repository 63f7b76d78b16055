"""Dimension scores with uncertainty: a Bayesian linear-Gaussian model over the five dimensions.

Model
-----
The respondent has a latent position ``theta`` (shape (5,), ``Dimension`` order) with prior
``N(0, I)``: 0 is the population average and 1 is one standard deviation. An answer to question
``q`` gives a response ``y`` in [-1, 1] (``Question.response``) modelled as

    y = b_q + a_q · theta + eps,   eps ~ N(0, noise_q)

where ``a_q`` holds the question's signed loadings (``Question.dimensions``) and ``b_q`` its
``intercept`` (the average respondent's response). The posterior is
Gaussian with precision ``I + sum a aᵀ / noise`` and is updated in closed form after each answer
(a rank-one Kalman update, so a step costs O(25)). Answers without scale evidence (nominal options,
open text) leave it unchanged. The reported score is ``100 · Φ(mean)`` (the respondent's percentile
under the prior) with the posterior standard deviation and a 90 % interval on the same scale.

Because the model is linear-Gaussian, how much a question would shrink the posterior covariance
does not depend on the answer it will get; ``selection`` uses that for its expected reduction.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from perfectmatch.models import Dimension
from perfectmatch.questionnaire.models import Bank, Question, QuestionType

__all__ = ["DimensionModel", "DimensionScore", "Posterior"]

DIMS = tuple(Dimension)
Z90 = 1.6448536269514722


def _phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


@dataclass(frozen=True, slots=True)
class DimensionScore:
    """One dimension's estimate: 0-100 score, latent mean and sd, 90 % interval, answers used."""

    dimension: Dimension
    score: float
    mean: float
    sd: float
    low: float
    high: float
    n_answers: int


def _has_evidence(q: Question) -> bool:
    if q.type is QuestionType.TEXT:
        return False
    if q.type.is_choice:
        return any(o.score is not None for o in q.options)
    return True


class DimensionModel:
    """Loadings and noise of every question of a bank, as arrays (built once per bank).

    Attributes
    ----------
    ids : tuple of str
        Question ids in bank order (row order of ``loadings``).
    loadings : np.ndarray, shape (n_questions, 5)
        Zero rows for questions without scale evidence.
    noise, intercept : np.ndarray, shape (n_questions,)
    measures : np.ndarray of bool, shape (n_questions, 5)
        Where a question maps to a dimension at all (data points for completion).
    """

    def __init__(self, bank: Bank) -> None:
        self.bank = bank
        self.ids = bank.question_ids
        self.index = {qid: i for i, qid in enumerate(self.ids)}
        n = len(self.ids)
        self.loadings = np.zeros((n, len(DIMS)))
        self.noise = np.ones(n)
        self.intercept = np.zeros(n)
        self.measures = np.zeros((n, len(DIMS)), dtype=bool)
        for i, qid in enumerate(self.ids):
            q = bank.questions[qid]
            self.noise[i] = q.noise
            self.intercept[i] = q.intercept
            for j, d in enumerate(DIMS):
                w = q.dimensions.get(d, 0.0)
                self.measures[i, j] = w != 0.0 and q.type is not QuestionType.TEXT
                if _has_evidence(q):
                    self.loadings[i, j] = w

    def prior(self) -> Posterior:
        return Posterior(np.zeros(len(DIMS)), np.eye(len(DIMS)))

    def posterior(self, observations: Iterable[tuple[str, float]]) -> Posterior:
        """The posterior after ``(question_id, y)`` observations, computed in information form."""
        precision = np.eye(len(DIMS))
        info = np.zeros(len(DIMS))
        for qid, y in observations:
            i = self.index[qid]
            a = self.loadings[i]
            precision += np.outer(a, a) / self.noise[i]
            info += a * (y - self.intercept[i]) / self.noise[i]
        cov = np.linalg.inv(precision)
        return Posterior(cov @ info, (cov + cov.T) / 2.0)


@dataclass(slots=True)
class Posterior:
    """Gaussian posterior over the five dimensions: ``mean`` (5,) and ``cov`` (5, 5)."""

    mean: np.ndarray
    cov: np.ndarray

    def update(self, a: np.ndarray, noise: float, y: float) -> None:
        """Condition on one observation ``y = a·theta + N(0, noise)`` (in place)."""
        sa = self.cov @ a
        s = float(a @ sa) + noise
        if s <= 0.0 or not np.any(a):
            return
        gain = sa / s
        self.mean = self.mean + gain * (y - float(a @ self.mean))
        self.cov = self.cov - np.outer(gain, sa)

    def copy(self) -> Posterior:
        return Posterior(self.mean.copy(), self.cov.copy())

    @property
    def sd(self) -> np.ndarray:
        return np.sqrt(np.clip(np.diag(self.cov), 0.0, None))

    def scores(self, n_answers: np.ndarray | None = None) -> dict[Dimension, DimensionScore]:
        """Scores on 0-100 with uncertainty, per dimension; ``n_answers`` (5,) counts data points."""
        sd = self.sd
        out = {}
        for j, d in enumerate(DIMS):
            m, s = float(self.mean[j]), float(sd[j])
            out[d] = DimensionScore(
                dimension=d,
                score=100.0 * _phi(m),
                mean=m,
                sd=s,
                low=100.0 * _phi(m - Z90 * s),
                high=100.0 * _phi(m + Z90 * s),
                n_answers=int(n_answers[j]) if n_answers is not None else 0,
            )
        return out

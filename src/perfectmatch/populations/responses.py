"""Per-user views of an answer matrix: ``QuestionnaireResponse`` objects and dimension scores."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, overload

import numpy as np

from perfectmatch.models import Answer, Dimension, QuestionnaireResponse
from perfectmatch.populations.answers import DIMENSIONS, AnswerMatrix

_DIMS = tuple(Dimension)


def _observed(q: Any, col: np.ndarray) -> np.ndarray:
    """Responses ``y`` in [-1, 1] of one answer column (``Question.response``), NaN = no evidence."""
    from perfectmatch.questionnaire.models import QuestionType

    col = col.astype(np.float64)
    if q.type in (QuestionType.LIKERT, QuestionType.NUMERIC):
        lo, hi = q.bounds
        return np.clip(2.0 * (col - lo) / (hi - lo) - 1.0, -1.0, 1.0)
    scores = np.array([np.nan if o.score is None else o.score for o in q.options])
    if q.type is QuestionType.SINGLE and scores.size:
        ok = ~np.isnan(col)
        out = np.full(col.shape, np.nan)
        out[ok] = scores[col[ok].astype(np.int64)]
        return out
    if q.type is QuestionType.MULTIPLE and scores.size:
        masks = np.where(np.isnan(col), 0, col).astype(np.int64)
        picked = (masks[:, None] >> np.arange(scores.size)[None, :]) & 1 & ~np.isnan(scores)[None, :]
        total = picked @ np.nan_to_num(scores)
        count = picked.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / count, np.nan)
    return np.full(col.shape, np.nan)


def score_dimensions(answers: AnswerMatrix, *, chunk: int = 50_000) -> np.ndarray:
    """Dimension scores 0-100 for every user, as ``questionnaire.scoring`` computes them, vectorised.

    The questionnaire's linear-Gaussian model (prior ``N(0, I)``, ``y = b + a . theta + N(0, noise)``)
    gives each user the posterior mean ``(I + sum a a^T / noise)^-1 sum a (y - b) / noise`` over
    the answers with scale evidence; the score is ``100 * Phi(mean)``.

    Returns
    -------
    np.ndarray
        Shape ``(n, 5)`` float64 in ``DIMENSIONS`` order.
    """
    from scipy.special import ndtr

    from perfectmatch.questionnaire.scoring import DimensionModel

    model = DimensionModel(answers.bank)
    cols = [answers.question_ids.index(q) for q in model.ids]
    load, noise = model.loadings, model.noise
    intercept = np.asarray(getattr(model, "intercept", np.zeros(len(model.ids))), dtype=np.float64)
    outer = np.einsum("qj,qk->qjk", load, load) / noise[:, None, None]  # (q, 5, 5)
    scaled = load / noise[:, None]  # (q, 5)
    questions = [answers.bank.question(q) for q in model.ids]
    n = len(answers)
    out = np.empty((n, len(DIMENSIONS)))
    for lo in range(0, n, chunk):
        vals = answers.values[lo:lo + chunk]
        y = np.stack([_observed(q, vals[:, c]) for q, c in zip(questions, cols, strict=True)], axis=1)
        seen = ~np.isnan(y)
        y = np.where(seen, y, 0.0)
        precision = np.eye(len(DIMENSIONS))[None] + np.einsum("iq,qjk->ijk", seen.astype(np.float64), outer)
        info = (y - np.where(seen, intercept[None, :], 0.0)) @ scaled
        out[lo:lo + chunk] = np.linalg.solve(precision, info[:, :, None])[:, :, 0]
    return 100.0 * ndtr(out)


class ResponseSequence(Sequence[QuestionnaireResponse]):
    """``QuestionnaireResponse`` objects built on access from an ``AnswerMatrix`` (memory stays flat).

    Answers are converted to Python values a chunk of rows at a time (vectorised per question);
    ``user_id`` is 0 until storage assigns ids.
    """

    CHUNK = 10_000

    def __init__(self, answers: AnswerMatrix) -> None:
        self._a = answers
        self._qids = answers.question_ids
        self._questions = [answers.bank.question(q) for q in self._qids]
        self._chunk: tuple[int, list[list[Any]], list[list[int]]] | None = None
        self._cache: dict[tuple[str, Any, int], Answer] = {}

    def __len__(self) -> int:
        return len(self._a)

    def _answer(self, qid: str, value: Any, importance: int) -> Answer:
        """A validated ``Answer``, shared between users who gave the same one (answers are frozen)."""
        key = (qid, value, importance)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = Answer(question_id=qid, value=value, importance=importance)
        return found

    def _column(self, q: Any, col: np.ndarray) -> np.ndarray:
        """Python answer values for one question, ``None`` where unanswered, shape ``(rows,)`` object."""
        from perfectmatch.questionnaire.models import QuestionType

        out = np.full(col.shape[0], None, dtype=object)
        ok = ~np.isnan(col)
        if q.type is QuestionType.SINGLE:
            out[ok] = np.array(q.option_ids, dtype=object)[col[ok].astype(np.int64)]
        elif q.type is QuestionType.MULTIPLE:
            masks = col[ok].astype(np.int64)
            chosen = np.empty(masks.shape[0], dtype=object)  # a plain list of tuples would become 2-D
            for k, m in enumerate(masks.tolist()):
                chosen[k] = tuple(o for b, o in enumerate(q.option_ids) if m >> b & 1)
            out[ok] = chosen
        elif q.type is QuestionType.LIKERT:
            out[ok] = col[ok].astype(np.int64).tolist()
        elif q.type is QuestionType.NUMERIC:  # float32 storage: round away the binary noise
            out[ok] = np.round(col[ok].astype(np.float64), 4).tolist()
        return out

    def _rows(self, i: int) -> tuple[list[Any], list[int]]:
        lo = i - i % self.CHUNK
        if self._chunk is None or self._chunk[0] != lo:
            hi = min(lo + self.CHUNK, len(self))
            vals = self._a.values[lo:hi]
            cols = [self._column(q, vals[:, j]) for j, q in enumerate(self._questions)]
            rows = np.stack(cols, axis=1).tolist() if cols else [[] for _ in range(hi - lo)]
            self._chunk = (lo, rows, self._a.importance[lo:hi].tolist())
        return self._chunk[1][i - lo], self._chunk[2][i - lo]

    @overload
    def __getitem__(self, i: int) -> QuestionnaireResponse: ...

    @overload
    def __getitem__(self, i: slice) -> list[QuestionnaireResponse]: ...

    def __getitem__(self, i: int | slice) -> QuestionnaireResponse | list[QuestionnaireResponse]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        a = self._a
        row, imp = self._rows(i)
        answers = tuple(self._answer(q, v, w) for q, v, w in zip(self._qids, row, imp, strict=True) if v is not None)
        texts = {k: str(v[i]) for k, v in a.open_texts.items() if v[i]}
        done = None if a.completed_at is None else datetime.fromtimestamp(int(a.completed_at[i]), UTC)
        scores = {}
        if a.dimension_scores is not None:
            scores = dict(zip(_DIMS, a.dimension_scores[i].round(2).tolist(), strict=True))
        return QuestionnaireResponse.model_construct(  # parts validated above; no duplicates by construction
            user_id=0,
            bank_version=a.bank.version,
            answers=answers,
            open_texts=texts,
            open_texts_missing_reason=a.open_texts_missing_reason,
            dimension_scores=scores,
            completed_at=done,
        )

    def __iter__(self) -> Iterator[QuestionnaireResponse]:
        for i in range(len(self)):
            yield self[i]

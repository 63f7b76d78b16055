"""Turn questionnaire answers into numbers for matching: a feature vector and per-dimension importance.

The layout groups features by each question's primary dimension (``Question.primary_dimension``),
in ``Dimension`` order (RC, CS, EI, LC, CV) and bank order within a dimension, so that
``layout.slices[d]`` selects the features of dimension ``d``:

- single choice → one-hot over its options (in bank order);
- multiple choice → multi-hot over its options;
- Likert / numeric → one value, rescaled linearly from ``[min, max]`` to ``[-1, 1]`` (0 = midpoint);
- open text → excluded (texts are embedded elsewhere); questions without dimensions → excluded.

An unanswered question contributes zeros. Importance is the user's mean importance (1-10) over the
answered questions of a dimension that ask for importance, divided by 10 (so 0.1-1.0); a dimension
without any such answer gets the neutral 0.5.

Answer matrix convention (``encode_matrix``)
-------------------------------------------
``values`` has shape ``(n_users, len(layout.question_ids))``, columns in ``layout.question_ids``
order: a single-choice answer is the option's index, a multiple-choice answer is a bitmask with bit
``i`` set when option ``i`` is selected (use float64 for questions with more than 24 options), a
Likert/numeric answer is the raw value, and NaN means unanswered. ``importance`` has the same shape
(1-10, NaN = unanswered or not asked).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from perfectmatch.errors import InvalidAnswerError, UnknownQuestionError
from perfectmatch.models import Answer, Dimension
from perfectmatch.questionnaire.models import Bank, Question, QuestionType

__all__ = ["FeatureLayout"]

_DIMS = tuple(Dimension)
NEUTRAL_IMPORTANCE = 0.5


@dataclass(frozen=True, slots=True)
class _Column:
    question: Question
    offset: int  # first feature of this question
    width: int  # 1 for scaled values, number of options for choices
    dim_index: int  # index of the primary dimension in Dimension order
    lo: float = 0.0
    hi: float = 1.0


@dataclass(frozen=True, eq=False)
class FeatureLayout:
    """Where each question's features sit in the vector; build it with ``FeatureLayout.from_bank``.

    Attributes
    ----------
    bank_version : str
        Version of the bank the layout was built from (store it with vectors).
    question_ids : tuple of str
        Columns of the answer matrix, in feature order.
    slices : dict of Dimension to slice
        Feature range of each dimension (possibly empty).
    dim : int
        Length of the feature vector.
    feature_names : tuple of str
        ``"qid"`` for scaled values, ``"qid=option"`` for choice indicators.
    """

    bank_version: str
    question_ids: tuple[str, ...]
    slices: dict[Dimension, slice]
    dim: int
    feature_names: tuple[str, ...]
    _columns: tuple[_Column, ...] = field(repr=False)
    _membership: np.ndarray = field(repr=False)  # (n_questions, 5) 1.0 where importance counts
    _featureless: frozenset[str] = field(repr=False, default=frozenset())  # bank questions without a column

    @classmethod
    def from_bank(cls, bank: Bank) -> FeatureLayout:
        """Lay out the features of every scorable, non-text question of ``bank``."""
        by_dim: dict[Dimension, list[Question]] = {d: [] for d in _DIMS}
        for q in bank.questions.values():
            if q.type is QuestionType.TEXT or q.primary_dimension is None:
                continue
            by_dim[q.primary_dimension].append(q)
        columns: list[_Column] = []
        names: list[str] = []
        slices: dict[Dimension, slice] = {}
        offset = 0
        for di, d in enumerate(_DIMS):
            start = offset
            for q in by_dim[d]:
                if q.type.is_choice:
                    columns.append(_Column(q, offset, len(q.options), di))
                    names.extend(f"{q.id}={o.id}" for o in q.options)
                    offset += len(q.options)
                else:
                    lo, hi = q.bounds
                    columns.append(_Column(q, offset, 1, di, lo, hi))
                    names.append(q.id)
                    offset += 1
            slices[d] = slice(start, offset)
        membership = np.zeros((len(columns), len(_DIMS)))
        for j, col in enumerate(columns):
            if col.question.wants_importance:
                membership[j, col.dim_index] = 1.0
        return cls(
            bank_version=bank.version,
            question_ids=tuple(c.question.id for c in columns),
            slices=slices,
            dim=offset,
            feature_names=tuple(names),
            _columns=tuple(columns),
            _membership=membership,
            _featureless=frozenset(bank.questions) - {c.question.id for c in columns},
        )

    def to_row(self, answers: Sequence[Answer]) -> tuple[np.ndarray, np.ndarray]:
        """One user's answers as a row of the answer matrix.

        Returns
        -------
        values, importance : np.ndarray, shape (n_questions,), float64
            In ``question_ids`` order, NaN where unanswered. Answers to open-text questions are
            ignored (they have no column).

        Raises
        ------
        UnknownQuestionError
            If an answer's question is not in the bank the layout was built from.
        InvalidAnswerError
            If an option id does not exist for its question.
        """
        index = {qid: j for j, qid in enumerate(self.question_ids)}
        values = np.full(len(self._columns), np.nan)
        importance = np.full(len(self._columns), np.nan)
        for a in answers:
            j = index.get(a.question_id)
            if j is None:
                if a.question_id not in self._featureless:
                    raise UnknownQuestionError(
                        f"question {a.question_id!r} is not in bank {self.bank_version!r}"
                    )
                continue
            q = self._columns[j].question
            values[j] = _code(q, a.value)
            if q.wants_importance:
                importance[j] = a.importance
        return values, importance

    def encode(self, answers: Sequence[Answer]) -> tuple[np.ndarray, np.ndarray]:
        """Encode one user's answers.

        Returns
        -------
        features : np.ndarray, shape (dim,), float32
            Zeros for unanswered questions.
        importance : np.ndarray, shape (5,), float32
            Mean importance per dimension in ``Dimension`` order, scaled to 0.1-1.0 (0.5 if none).
        """
        values, importance = self.to_row(answers)
        feats, imp = self.encode_matrix(values[None, :], importance[None, :])
        return feats[0], imp[0]

    def encode_matrix(
        self, values: np.ndarray, importance: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Encode many users at once (vectorised per question).

        Parameters
        ----------
        values : np.ndarray, shape (n_users, n_questions)
            The answer matrix (see the module docstring for the convention).
        importance : np.ndarray, shape (n_users, n_questions), optional
            Importance ratings 1-10, NaN where absent; omitted means all neutral.

        Returns
        -------
        features : np.ndarray, shape (n_users, dim), float32
        importance : np.ndarray, shape (n_users, 5), float32

        Raises
        ------
        InvalidAnswerError
            If a choice index or bitmask names an option that does not exist, or the matrix has the
            wrong number of columns; the message names the question and the first bad row.
        """
        values = np.asarray(values)
        n_q = len(self._columns)
        if values.ndim != 2 or values.shape[1] != n_q:
            raise InvalidAnswerError(f"answer matrix must have shape (n_users, {n_q}), got {values.shape}")
        n = values.shape[0]
        feats = np.zeros((n, self.dim), dtype=np.float32, order="F")  # column writes stay contiguous
        for j, col in enumerate(self._columns):
            v = np.ascontiguousarray(values[:, j], dtype=np.float64)
            answered = ~np.isnan(v)
            q = col.question
            if q.type is QuestionType.SINGLE:
                idx = np.where(answered, v, 0.0)
                bad = answered & ((idx < 0) | (idx >= col.width) | (idx != np.floor(idx)))
                _check(bad, q, "an option index")
                for k in range(col.width):
                    feats[:, col.offset + k] = idx == k  # unanswered rows have idx 0 but are cleared below
                if not answered.all():
                    feats[~answered, col.offset] = 0.0
            elif q.type is QuestionType.MULTIPLE:
                bits = np.where(answered, v, 0.0)
                bad = answered & ((bits < 0) | (bits >= 2.0**col.width) | (bits != np.floor(bits)))
                _check(bad, q, "an option bitmask")
                ibits = bits.astype(np.int64)
                for k in range(col.width):
                    feats[:, col.offset + k] = (ibits >> k) & 1
            else:
                scaled = np.clip(2.0 * (v - col.lo) / (col.hi - col.lo) - 1.0, -1.0, 1.0)
                feats[:, col.offset] = np.where(answered, scaled, 0.0)
        return np.ascontiguousarray(feats), self._importance(importance, n)

    def _importance(self, importance: np.ndarray | None, n: int) -> np.ndarray:
        if importance is None:
            return np.full((n, len(_DIMS)), NEUTRAL_IMPORTANCE, dtype=np.float32)
        importance = np.asarray(importance, dtype=np.float64)
        if importance.shape != (n, len(self._columns)):
            raise InvalidAnswerError(
                f"importance matrix must have shape {(n, len(self._columns))}, got {importance.shape}"
            )
        given = ~np.isnan(importance)
        sums = np.where(given, importance, 0.0) @ self._membership
        counts = given.astype(np.float64) @ self._membership
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(counts > 0, sums / np.maximum(counts, 1.0) / 10.0, NEUTRAL_IMPORTANCE)
        return mean.astype(np.float32)


def _check(bad: np.ndarray, q: Question, what: str) -> None:
    if bad.any():
        row = int(np.argmax(bad))
        raise InvalidAnswerError(
            f"question {q.id!r}: row {row} is not {what} over its {len(q.options)} options"
        )


def _code(q: Question, value: object) -> float:
    """One answer value in the matrix convention."""
    if q.type is QuestionType.SINGLE:
        if not isinstance(value, str) or value not in q.option_ids:
            raise InvalidAnswerError(
                f"question {q.id!r} has no option {value!r} (options: {list(q.option_ids)})"
            )
        return float(q.option_ids.index(value))
    if q.type is QuestionType.MULTIPLE:
        chosen = (value,) if isinstance(value, str) else value
        if not isinstance(chosen, tuple | list):
            raise InvalidAnswerError(f"question {q.id!r} expects a list of option ids, got {value!r}")
        mask = 0
        for v in chosen:
            if v not in q.option_ids:
                raise InvalidAnswerError(
                    f"question {q.id!r} has no option {v!r} (options: {list(q.option_ids)})"
                )
            mask |= 1 << q.option_ids.index(v)
        return float(mask)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidAnswerError(f"question {q.id!r} expects a number, got {value!r}")
    return float(value)

"""Synthetic questionnaire answers: correlated latent dimension scores answer any question bank.

The generative model mirrors the bank's own scoring convention (``questionnaire.models``): a
question with intercept ``b``, loadings ``a_d`` and noise variance ``s2`` gets the response
``y = b + sum_d a_d z_d + sqrt(s2) e`` (clipped to [-1, 1]), where ``z`` are the respondent's
latent dimension scores and ``e`` is standard normal. The answer is then read off ``y`` generically:

* **Likert / numeric**: ``y`` rescaled linearly onto ``[min_value, max_value]``, rounded to whole
  numbers (numeric ranges under 20 wide: to one decimal).
* **Single choice**: the scored option nearest to ``y``. Options without a score (nominal answers
  such as a diet) are drawn from a prior that decays by 0.7 per position in the option list
  (earlier options are more common); a mix of scored and unscored options uses the prior for the
  unscored share.
* **Multiple choice** (bit mask over options): a scored option is picked with probability
  ``sigmoid(2.5 y score - 0.5)``, an unscored one with ``0.35 * 0.85**position``; at least one.
* **Open text**: two template sentences chosen by the level (low / middle / high) of the
  question's main dimension and by a second random trait, so texts vary with the traits.

Latent scores are drawn from a correlated normal (``TRAIT_CORR``) shifted a little by age and
gender. Conditional questions (asked only after a branching rule fires) are answered by 40 % of
users and any other question is skipped by 3 % (unless critical); a skipped answer is ``NaN``. A
block whose entry condition is a plain ``{question, answer}`` test is left unanswered by the users
for whom it fails (other conditions are taken to hold).
Importance is ``5 + 2 |y| + N(0, 1.5)`` (+1 for critical questions), rounded to 1-10.
``responses.score_dimensions`` then estimates each user's dimension scores (0-100) from the answers exactly
as ``questionnaire.scoring`` does, so stored responses carry them.

The answer matrix follows ``questionnaire.encoding``: one column per question id in bank order,
a choice is its option index, a multiple choice a bit mask, Likert/numeric the value, ``NaN`` for
unanswered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from perfectmatch.models import Dimension

DIMENSIONS: tuple[str, ...] = tuple(d.value for d in Dimension)  # RC, CS, EI, LC, CV
# correlations between latent dimension scores, DIMENSIONS order
TRAIT_CORR = np.array(
    [
        [1.00, 0.35, 0.40, 0.15, 0.30],
        [0.35, 1.00, 0.45, 0.10, 0.10],
        [0.40, 0.45, 1.00, 0.10, 0.15],
        [0.15, 0.10, 0.10, 1.00, 0.25],
        [0.30, 0.10, 0.15, 0.25, 1.00],
    ]
)
CONDITIONAL_ANSWER_RATE = 0.4
SKIP_RATE = 0.03


def draw_traits(rng: np.random.Generator, *, ages: np.ndarray, gender: np.ndarray) -> np.ndarray:
    """Latent dimension scores, shape ``(n, 5)`` in ``DIMENSIONS`` order, roughly standard normal.

    Relationship commitment (RC) and core values (CV) rise slowly with age; emotional
    intelligence (EI) and communication (CS) are slightly higher for women (gender code 1).
    """
    n = ages.shape[0]
    z = rng.multivariate_normal(np.zeros(5), TRAIT_CORR, size=n, method="cholesky")
    a = (ages - 32.0) / 10.0
    z[:, 0] += 0.15 * a
    z[:, 4] += 0.20 * a
    z[:, 1] += 0.10 * (gender == 1)
    z[:, 2] += 0.15 * (gender == 1)
    return z


@dataclass
class AnswerMatrix:
    """Answers of ``n`` users to a bank, in the ``questionnaire.encoding`` convention.

    Attributes
    ----------
    bank
        The bank answered (``questionnaire.models.Bank``).
    values
        Shape ``(n, n_questions)`` float32 (column-major), columns in ``question_ids`` order:
        option index, bit mask, or value; ``NaN`` = unanswered (open-text columns are always
        ``NaN``). float32 holds bit masks of up to 24 options exactly.
    importance
        Shape ``(n, n_questions)`` int8, 1-10 (meaningful where answered).
    open_texts
        Open-text question id -> texts, shape ``(n,)`` object (``""`` = not written).
    open_texts_missing_reason
        Why there are no open texts (e.g. ``"not in the 2021 release"``), or ``None``.
    completed_at
        Unix seconds per user, shape ``(n,)``, or ``None``.
    dimension_scores
        Scores 0-100 per user, shape ``(n, 5)`` in ``DIMENSIONS`` order, or ``None``
        (see ``responses.score_dimensions``).
    """

    bank: Any
    values: np.ndarray
    importance: np.ndarray
    open_texts: dict[str, np.ndarray] = field(default_factory=dict)
    open_texts_missing_reason: str | None = None
    completed_at: np.ndarray | None = None
    dimension_scores: np.ndarray | None = None

    @property
    def question_ids(self) -> tuple[str, ...]:
        return tuple(self.bank.question_ids)

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def take(self, idx: np.ndarray) -> AnswerMatrix:
        """Rows ``idx`` (indices or boolean mask) as a new matrix."""
        return AnswerMatrix(
            bank=self.bank,
            values=self.values[idx],
            importance=self.importance[idx],
            open_texts={k: v[idx] for k, v in self.open_texts.items()},
            open_texts_missing_reason=self.open_texts_missing_reason,
            completed_at=None if self.completed_at is None else self.completed_at[idx],
            dimension_scores=None if self.dimension_scores is None else self.dimension_scores[idx],
        )

    def for_layout(self, layout: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(values, importance)`` in the columns of a ``questionnaire.encoding.FeatureLayout``.

        Both have shape ``(n, len(layout.question_ids))`` float64; ``importance`` is ``NaN`` where
        the question is unanswered or does not ask for importance. Feed them to
        ``layout.encode_matrix(values, importance)``.
        """
        cols = [self.question_ids.index(q) for q in layout.question_ids]
        values = np.asarray(self.values[:, cols], dtype=np.float64)
        asks = np.array([self.bank.question(q).wants_importance for q in layout.question_ids], dtype=bool)
        importance = np.where(np.isnan(values) | ~asks[None, :], np.nan, self.importance[:, cols])
        return values, importance

    @classmethod
    def unanswered(cls, bank: Any, n: int) -> AnswerMatrix:
        """A matrix of ``n`` users who answered nothing (importance 5 everywhere)."""
        q = len(bank.question_ids)
        return cls(
            bank=bank,
            values=np.full((n, q), np.nan, dtype=np.float32, order="F"),
            importance=np.full((n, q), 5, dtype=np.int8, order="F"),
        )


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _prior(k: int, decay: float) -> np.ndarray:
    p = decay ** np.arange(k, dtype=np.float64)
    return p / p.sum()


def _responses(rng: np.random.Generator, q: Any, traits: np.ndarray) -> np.ndarray:
    """``y`` in [-1, 1] for every user, shape ``(n,)``."""
    load = np.array([q.dimensions.get(Dimension(d), 0.0) for d in DIMENSIONS], dtype=traits.dtype)
    noise = np.float32(np.sqrt(q.noise)) * rng.standard_normal(traits.shape[0], dtype=np.float32)
    y = np.float32(getattr(q, "intercept", 0.0)) + traits @ load + noise
    return np.clip(y, -1.0, 1.0)


def _single(rng: np.random.Generator, q: Any, y: np.ndarray) -> np.ndarray:
    scores = np.array([np.nan if o.score is None else o.score for o in q.options])
    k, n = scores.shape[0], y.shape[0]
    scored = np.flatnonzero(~np.isnan(scores))
    unscored = np.flatnonzero(np.isnan(scores))
    nominal = unscored[rng.choice(unscored.size, size=n, p=_prior(unscored.size, 0.7))] if unscored.size else None
    if scored.size == 0:
        return nominal.astype(np.float64) if nominal is not None else np.full(n, np.nan)
    nearest = scored[np.argmin(np.abs(y[:, None] - scores[scored][None, :]), axis=1)]
    if nominal is None:
        return nearest.astype(np.float64)
    use_nominal = rng.random(n) < unscored.size / k
    return np.where(use_nominal, nominal, nearest).astype(np.float64)


def _multiple(rng: np.random.Generator, q: Any, y: np.ndarray) -> np.ndarray:
    n, k = y.shape[0], len(q.options)
    p = np.empty((n, k))
    for j, o in enumerate(q.options):
        p[:, j] = 0.35 * 0.85**j if o.score is None else _sigmoid(2.5 * y * o.score - 0.5)
    chosen = rng.random((n, k)) < p
    none = ~chosen.any(axis=1)
    chosen[none, np.argmax(p[none], axis=1)] = True
    bits = (1 << np.arange(k, dtype=np.int64))[None, :]
    return (chosen * bits).sum(axis=1).astype(np.float64)


def _scale(q: Any, y: np.ndarray, *, likert: bool) -> np.ndarray:
    lo, hi = q.bounds
    v = lo + (y + 1.0) / 2.0 * (hi - lo)
    return np.clip(np.round(v, 0 if likert or hi - lo >= 20 else 1), lo, hi)


_TEMPLATES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "RC": (
        ("I like to take things slowly and see where they go.", "I'm not in a rush to settle down."),
        ("I'd like something steady, but I'm open about the pace.", "Commitment matters to me when it feels right."),
        ("I'm looking for a real partnership and I'm ready to build one.", "Loyalty is the thing I value most."),
    ),
    "CS": (
        ("I need a bit of time before I talk things through.", "I'm better at listening than at talking."),
        ("I try to say what I mean, kindly.", "A good conversation over dinner is my favourite evening."),
        ("I'd rather talk it out right away than let things simmer.", "I text back fast and I call my friends."),
    ),
    "EI": (
        ("I keep my feelings to myself until I know someone well.", "Reading people is not my strongest skill."),
        ("I'm learning to notice how people around me feel.", "I try to stay calm when things get tense."),
        ("Friends say I always know when something is off.", "Empathy is a big part of who I am."),
    ),
    "LC": (
        ("Weekends for me are slow mornings and a good book.", "I'm a homebody and proud of it."),
        ("I like a mix of nights out and quiet evenings in.", "I cook most days and travel when I can."),
        ("I'm up early for a run and out most evenings.", "I'm always planning the next trip or hike."),
    ),
    "CV": (
        ("I make up my own mind about what matters.", "Traditions are nice, but I don't live by them."),
        ("Family and friends keep me grounded.", "I care about honesty more than about labels."),
        ("My faith and family come first.", "I want to share my core values with a partner."),
    ),
}
_EXTRAS = (
    "Ask me about my favourite hiking trail.", "I make a mean lasagna.", "Currently learning the guitar.",
    "My dog is my best friend.", "I love live music and small concerts.", "Board games are my weakness.",
    "I volunteer on weekends.", "Coffee first, then conversation.", "I read a book a week.",
    "Beach over mountains, every time.", "I'm trying every ramen place in town.", "Yoga keeps me sane.",
)


def _text_table() -> np.ndarray:
    """Every open text the templates can make, shape ``(5, 3, 2, n_extras)`` object (shared strings)."""
    table = np.empty((len(DIMENSIONS), 3, 2, len(_EXTRAS)), dtype=object)
    for d, dim in enumerate(DIMENSIONS):
        for level in range(3):
            for p in range(2):
                for e, extra in enumerate(_EXTRAS):
                    table[d, level, p, e] = f"{_TEMPLATES[dim][level][p]} {extra}"
    return table


_TEXT_TABLE = _text_table()


def _texts(rng: np.random.Generator, q: Any, traits: np.ndarray) -> np.ndarray:
    """Two template sentences per user, varied by the level of the question's main dimension."""
    n = traits.shape[0]
    dim = q.primary_dimension.value if q.primary_dimension is not None else None
    col = np.full(n, DIMENSIONS.index(dim)) if dim else rng.integers(0, 5, n)
    level = np.digitize(traits[np.arange(n), col], [-0.5, 0.5])
    return _TEXT_TABLE[col, level, rng.integers(0, 2, n), rng.integers(0, len(_EXTRAS), n)]


def _entry_holds(bank: Any, condition: Any, values: np.ndarray) -> np.ndarray:
    """Rows for which a block's entry condition holds; only ``{question, answer}`` is evaluated."""
    n = values.shape[0]
    simple = condition.question in bank.questions and condition.model_fields_set <= {"question", "answer"}
    if condition.answer is None or not simple:
        return np.ones(n, dtype=bool)
    q = bank.question(condition.question)
    wanted = condition.answer if isinstance(condition.answer, list) else [condition.answer]
    col = values[:, bank.question_ids.index(q.id)]
    if q.type.is_choice:
        wanted = [q.option_ids.index(w) for w in wanted if w in q.option_ids]
    return np.isin(col, np.array(wanted, dtype=np.float64))


def answer_bank(
    rng: np.random.Generator, bank: Any, traits: np.ndarray, *, fixed: dict[str, np.ndarray] | None = None
) -> AnswerMatrix:
    """Answer every question of ``bank`` for users with latent scores ``traits`` (see module docs).

    Parameters
    ----------
    rng
        Source of randomness.
    bank
        A ``questionnaire.models.Bank``.
    traits
        Latent dimension scores, shape ``(n, 5)`` in ``DIMENSIONS`` order.
    fixed
        Question id -> values (matrix convention, shape ``(n,)``) to use instead of drawing.

    Returns
    -------
    AnswerMatrix
        Values ``(n, n_questions)``, importances and open texts.
    """
    from perfectmatch.questionnaire.models import QuestionType

    n = traits.shape[0]
    qids = bank.question_ids
    values = np.full((n, len(qids)), np.nan, dtype=np.float32, order="F")  # filled column by column
    importance = np.full((n, len(qids)), 5, dtype=np.int8, order="F")
    texts: dict[str, np.ndarray] = {}
    traits = np.asarray(traits, dtype=np.float32)  # single precision: half the time for a million users
    for j, qid in enumerate(qids):
        q = bank.question(qid)
        y = _responses(rng, q, traits)
        if q.type is QuestionType.TEXT:
            texts[qid] = _texts(rng, q, traits)
            if q.conditional:
                texts[qid][rng.random(n, dtype=np.float32) >= CONDITIONAL_ANSWER_RATE] = ""
            continue
        if q.type is QuestionType.SINGLE:
            col = _single(rng, q, y)
        elif q.type is QuestionType.MULTIPLE:
            col = _multiple(rng, q, y)
        else:
            col = _scale(q, y, likert=q.type is QuestionType.LIKERT)
        rate = CONDITIONAL_ANSWER_RATE if q.conditional else (1.0 if q.critical else 1.0 - SKIP_RATE)
        col[rng.random(n, dtype=np.float32) >= rate] = np.nan
        values[:, j] = col
        if fixed and qid in fixed:
            values[:, j] = fixed[qid]
        imp = 5 + 2 * np.abs(y) + 1.5 * rng.standard_normal(n, dtype=np.float32) + (1 if q.critical else 0)
        importance[:, j] = np.clip(np.round(imp), 1, 10).astype(np.int8)
    for t in texts.values():  # an unanswered open text is an empty string
        t[rng.random(n, dtype=np.float32) < SKIP_RATE] = ""
    for block in bank.blocks:  # a block whose entry condition fails is not shown at all
        if block.entry is not None:
            out = ~_entry_holds(bank, block.entry, values)
            for q in block.questions:
                values[out, qids.index(q.id)] = np.nan
                if q.id in texts:
                    texts[q.id][out] = ""
    return AnswerMatrix(bank=bank, values=values, importance=importance, open_texts=texts)

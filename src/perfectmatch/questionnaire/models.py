"""The question bank model: questions, options, thematic blocks, branching rules and their conditions.

A bank is a list of thematic blocks in the order they are visited; each block holds its questions.
The shapes follow the spec's branching-rule example, so both ``camelCase`` (as in the spec:
``questionId``, ``branchingRules``, ``nextQuestions``, ``skipQuestions``, ``dimensionAdjustments``)
and ``snake_case`` keys are accepted; dumps use camelCase (``model_dump(by_alias=True)``).

Construction checks only the *shape* (types, ranges, rule syntax). Semantic defects that span
questions (duplicate ids, unknown ids in rules, unreachable questions ...) are left for
``questionnaire.validation.validate`` so that every problem can be reported at once.

Scoring conventions (used by ``scoring`` and ``encoding``)
---------------------------------------------------------
Each answer becomes a *response* ``y`` in ``[-1, 1]``: a Likert or numeric value is rescaled
linearly from ``[min_value, max_value]``; a choice answer takes its option's ``score`` (the mean
over the selected options for multiple choice); options without a score carry no evidence about
a dimension (nominal answers such as diet still feed the matching features). ``dimensions`` maps a
question to the dimensions it measures with a signed *loading*: the expected change of ``y`` per
standard deviation of the dimension (a negative loading is a reverse-keyed item). ``intercept`` is the
expected ``y`` of an average respondent (0 unless calibrated) and ``noise`` the variance of ``y``
around that linear prediction.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Any, Self

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from perfectmatch.errors import UnknownQuestionError
from perfectmatch.models import Dimension, RelationshipGoal

__all__ = [
    "Bank",
    "Block",
    "BranchRule",
    "Comparison",
    "Condition",
    "Option",
    "Question",
    "QuestionType",
    "RelationshipGoal",
    "parse_comparison",
]

MAX_TEXT = 5000


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True, use_enum_values=False
    )


class QuestionType(StrEnum):
    """How a question is answered."""

    SINGLE = "single_choice"  # one option id
    MULTIPLE = "multiple_choice"  # a list of option ids
    LIKERT = "likert"  # an integer on [min_value, max_value]
    NUMERIC = "numeric"  # a number on [min_value, max_value]
    TEXT = "open_text"  # free text, scored elsewhere (embeddings / AI analysis)

    @property
    def is_choice(self) -> bool:
        return self in (QuestionType.SINGLE, QuestionType.MULTIPLE)


# ---------------------------------------------------------------------------------------------
# comparisons such as ">= 7"

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "!=": operator.ne,
    "==": operator.eq,
    ">": operator.gt,
    "<": operator.lt,
}
_COMPARISON = re.compile(r"^\s*(>=|<=|!=|==|>|<)\s*(-?\d+(?:\.\d+)?)\s*$")


@dataclass(frozen=True, slots=True)
class Comparison:
    """A parsed numeric comparison, e.g. ``>= 7`` → ``Comparison(">=", 7.0)``."""

    op: str
    value: float

    def __call__(self, x: float) -> bool:
        return bool(_OPS[self.op](x, self.value))

    def __str__(self) -> str:
        return f"{self.op} {self.value:g}"


def parse_comparison(spec: str | int | float) -> Comparison:
    """Parse ``">= 7"``, ``"<3"``, ``"== 4"`` (a bare number means equality).

    Raises
    ------
    ValueError
        If ``spec`` is not a comparison operator followed by a number.
    """
    if isinstance(spec, bool):
        raise ValueError(f"not a comparison: {spec!r}")
    if isinstance(spec, int | float):
        return Comparison("==", float(spec))
    m = _COMPARISON.match(spec)
    if not m:
        raise ValueError(f"not a comparison: {spec!r} (expected e.g. '>= 7')")
    return Comparison(m.group(1), float(m.group(2)))


def is_comparison(value: object) -> bool:
    return isinstance(value, str) and _COMPARISON.match(value) is not None


# ---------------------------------------------------------------------------------------------

Scalar = str | int | float
AnswerSpec = Scalar | list[Scalar]


class Condition(_Model):
    """When a rule fires, a block is entered or a block is left.

    All given keys must hold (an implicit AND):

    - ``question``: whose answer ``answer``/``importance``/``answered`` refer to; defaults to the
      question owning the rule (block conditions must name it).
    - ``answer``: an option id or value (equality), a list (any of; for multiple choice: any
      selected), or a comparison string such as ``">= 4"`` for Likert and numeric questions.
    - ``importance``: the importance the user gave, a comparison (``">= 7"``) or a number.
    - ``answered``: whether that question has been answered.
    - ``answered_count``: a comparison on how many questions of the enclosing block are answered.
    - ``all`` / ``any``: nested conditions combined with AND / OR; ``not``: negation.
    """

    question: str | None = None
    answer: AnswerSpec | None = None
    importance: str | int | None = None
    answered: bool | None = None
    answered_count: str | int | None = None
    all: list[Condition] | None = None
    any: list[Condition] | None = None
    not_: Condition | None = Field(default=None, validation_alias=AliasChoices("not", "not_"), alias="not")

    @field_validator("importance", "answered_count")
    @classmethod
    def _comparison(cls, v: str | int | None) -> str | int | None:
        if v is not None:
            parse_comparison(v)
        return v

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if not (self.model_fields_set - {"question"}):
            raise ValueError(
                "a condition needs at least one of answer, importance, answered, answered_count, all, any, not"
            )
        return self

    def walk(self) -> Iterator[Condition]:
        """This condition and every nested one, depth first."""
        yield self
        for sub in (self.all or []) + (self.any or []) + ([self.not_] if self.not_ else []):
            yield from sub.walk()


class BranchRule(_Model):
    """One rule of a question: when ``condition`` holds (or as the ``default``), change the path.

    ``next_questions`` are asked next (and activate conditional questions), ``skip_questions`` are
    removed from the path, and ``dimension_adjustments`` multiply the weight of a dimension for this
    respondent (e.g. ``{"RC": 2.0}``: relationship compatibility counts double in question selection
    and matching). Rules are tried in order; the first whose condition holds fires, otherwise the
    ``default`` rule (if any) fires.
    """

    condition: Condition | None = None
    default: bool = False
    next_questions: list[str] = Field(default_factory=list)
    skip_questions: list[str] = Field(default_factory=list)
    dimension_adjustments: dict[Dimension, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _condition_or_default(self) -> Self:
        if self.default and self.condition is not None:
            raise ValueError("a rule is either a default rule or has a condition, not both")
        if not self.default and self.condition is None:
            raise ValueError("a rule needs a condition (or 'default': true)")
        for dim, factor in self.dimension_adjustments.items():
            if not factor > 0:
                raise ValueError(f"dimension adjustment for {dim} must be > 0, got {factor}")
        return self


class Option(_Model):
    """A choice: stable ``id`` (stored in answers), display ``text`` and an optional ``score`` in [-1, 1]."""

    id: str = Field(min_length=1, max_length=64)
    text: str = Field(min_length=1, max_length=300)
    score: float | None = Field(default=None, ge=-1.0, le=1.0)


class Question(_Model):
    """One question of a bank.

    ``id`` (also accepted as ``questionId``) is stable across bank versions. ``critical`` questions
    are never dropped when the path is shortened and their dimensions must reach enough data points
    for completion; ``high_importance`` questions are kept before others when shortening.
    ``conditional`` questions are on the path only once a fired rule lists them in ``nextQuestions``.
    ``asks_importance`` says whether the UI asks for a 1-10 importance rating with the answer.
    """

    id: str = Field(min_length=1, max_length=64, validation_alias=AliasChoices("id", "questionId"))
    text: str = Field(min_length=1, max_length=500)
    type: QuestionType = QuestionType.SINGLE
    options: list[Option] = Field(default_factory=list)
    min_value: float | None = None
    max_value: float | None = None
    labels: list[str] = Field(default_factory=list, description="Likert labels, low to high")
    dimensions: dict[Dimension, float] = Field(default_factory=dict)
    intercept: float = Field(default=0.0, ge=-1.0, le=1.0)
    noise: float = Field(default=0.25, gt=0.0, le=10.0)
    critical: bool = False
    high_importance: bool = False
    conditional: bool = False
    asks_importance: bool | None = None
    help: str = ""
    branching_rules: list[BranchRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _range(self) -> Self:
        if self.type is QuestionType.LIKERT:
            lo = 1.0 if self.min_value is None else self.min_value
            hi = 5.0 if self.max_value is None else self.max_value
            if lo != int(lo) or hi != int(hi):
                raise ValueError(f"Likert bounds must be whole numbers, got {lo}..{hi}")
        if self.min_value is not None and self.max_value is not None and not self.min_value < self.max_value:
            raise ValueError(f"min_value {self.min_value} must be < max_value {self.max_value}")
        return self

    @property
    def bounds(self) -> tuple[float, float]:
        """``(lo, hi)`` for Likert (default 1..5) and numeric questions."""
        if self.type is QuestionType.LIKERT:
            return (
                1.0 if self.min_value is None else self.min_value,
                5.0 if self.max_value is None else self.max_value,
            )
        if self.min_value is None or self.max_value is None:
            raise ValueError(f"question {self.id!r}: numeric questions need min_value and max_value")
        return (self.min_value, self.max_value)

    @property
    def wants_importance(self) -> bool:
        if self.asks_importance is not None:
            return self.asks_importance
        return self.type is not QuestionType.TEXT

    @cached_property
    def option_ids(self) -> tuple[str, ...]:
        return tuple(o.id for o in self.options)

    def option(self, option_id: str) -> Option | None:
        for o in self.options:
            if o.id == option_id:
                return o
        return None

    @property
    def primary_dimension(self) -> Dimension | None:
        """The dimension with the largest absolute loading (first in Dimension order on ties)."""
        if not self.dimensions:
            return None
        return max(Dimension, key=lambda d: (abs(self.dimensions.get(d, 0.0)), -list(Dimension).index(d)))

    def response(self, value: Any) -> float | None:
        """The answer as a response ``y`` in [-1, 1], or ``None`` when it carries no scale evidence.

        ``value`` must already be valid for this question (see ``session``).
        """
        if self.type in (QuestionType.LIKERT, QuestionType.NUMERIC):
            lo, hi = self.bounds
            y = 2.0 * (float(value) - lo) / (hi - lo) - 1.0
            return min(1.0, max(-1.0, y))
        if self.type is QuestionType.SINGLE:
            opt = self.option(value)
            return None if opt is None else opt.score
        if self.type is QuestionType.MULTIPLE:
            scores = [o.score for v in value if (o := self.option(v)) is not None and o.score is not None]
            return sum(scores) / len(scores) if scores else None
        return None


class Block(_Model):
    """A thematic block: entered when ``entry`` holds (always if absent) when the session reaches it,
    left as soon as ``exit`` holds or when none of its questions is left."""

    id: str = Field(min_length=1, max_length=64)
    title: str = ""
    entry: Condition | None = None
    exit: Condition | None = None
    questions: list[Question] = Field(default_factory=list)


class Bank(_Model):
    """A versioned question bank: blocks in visiting order; the first block is the initial one.

    ``critical_dimensions`` must each reach ``min_points`` answered questions for completion, and
    ``min_questions_per_dimension`` is the least number of questions measuring a dimension for it
    to be scored at all (checked by validation).
    """

    version: str = Field(min_length=1, max_length=40)
    title: str = ""
    description: str = ""
    blocks: list[Block] = Field(min_length=1)
    critical_dimensions: list[Dimension] = Field(default_factory=lambda: list(Dimension))
    min_points: int = Field(default=3, ge=1)
    min_questions_per_dimension: int = Field(default=3, ge=1)

    @cached_property
    def questions(self) -> dict[str, Question]:
        """Questions by id in bank order (with duplicate ids, the first wins; validation reports it)."""
        out: dict[str, Question] = {}
        for block in self.blocks:
            for q in block.questions:
                out.setdefault(q.id, q)
        return out

    @cached_property
    def block_of(self) -> dict[str, str]:
        """Block id of every question id."""
        out: dict[str, str] = {}
        for block in self.blocks:
            for q in block.questions:
                out.setdefault(q.id, block.id)
        return out

    @property
    def question_ids(self) -> tuple[str, ...]:
        return tuple(self.questions)

    def question(self, question_id: str) -> Question:
        """The question with this id.

        Raises
        ------
        UnknownQuestionError
            If the bank has no such question.
        """
        try:
            return self.questions[question_id]
        except KeyError:
            raise UnknownQuestionError(f"question {question_id!r} is not in bank {self.version!r}") from None

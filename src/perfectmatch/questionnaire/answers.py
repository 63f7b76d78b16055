"""Check an answer value against its question and normalise it into a domain ``Answer``."""

from __future__ import annotations

import math
from typing import Any

from perfectmatch.errors import InvalidAnswerError
from perfectmatch.models import Answer
from perfectmatch.questionnaire.models import MAX_TEXT, Question, QuestionType

__all__ = ["coerce_answer"]


def coerce_answer(
    q: Question, value: Any, *, importance: int | None = None, seconds: float | None = None
) -> Answer:
    """Check ``value`` against question ``q`` and build the normalised ``Answer``.

    Single choice takes an option id; multiple choice a non-empty list of distinct option ids
    (stored in bank order); Likert a whole number within the scale; numeric a finite number within
    ``[min_value, max_value]``; open text a non-blank string of at most 5000 characters.

    Raises
    ------
    InvalidAnswerError
        Naming the question, the value and what was expected.
    """
    where = f"question {q.id!r}"
    if importance is not None and (
        isinstance(importance, bool) or not isinstance(importance, int) or not 1 <= importance <= 10
    ):
        raise InvalidAnswerError(
            f"{where}: importance must be a whole number from 1 to 10, got {importance!r}"
        )
    if seconds is not None and (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not math.isfinite(seconds)
        or seconds < 0
    ):
        raise InvalidAnswerError(f"{where}: seconds must be a finite number >= 0, got {seconds!r}")
    norm: Any
    if q.type is QuestionType.SINGLE:
        if not isinstance(value, str) or value not in q.option_ids:
            raise InvalidAnswerError(f"{where} has no option {value!r} (options: {', '.join(q.option_ids)})")
        norm = value
    elif q.type is QuestionType.MULTIPLE:
        chosen = [value] if isinstance(value, str) else value
        if not isinstance(chosen, list | tuple) or not chosen:
            raise InvalidAnswerError(f"{where} expects a non-empty list of option ids, got {value!r}")
        unknown = [v for v in chosen if v not in q.option_ids]
        if unknown:
            raise InvalidAnswerError(
                f"{where} has no option {unknown[0]!r} (options: {', '.join(q.option_ids)})"
            )
        if len(set(chosen)) != len(chosen):
            raise InvalidAnswerError(f"{where}: an option is selected twice in {value!r}")
        norm = tuple(o for o in q.option_ids if o in chosen)
    elif q.type in (QuestionType.LIKERT, QuestionType.NUMERIC):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise InvalidAnswerError(f"{where} expects a number, got {value!r}")
        lo, hi = q.bounds
        if not lo <= value <= hi:
            raise InvalidAnswerError(f"{where}: {value!r} is outside {lo:g}..{hi:g}")
        if q.type is QuestionType.LIKERT:
            if value != int(value):
                raise InvalidAnswerError(f"{where}: Likert answers are whole numbers, got {value!r}")
            norm = int(value)
        else:
            norm = value
    else:
        if not isinstance(value, str) or not value.strip():
            raise InvalidAnswerError(f"{where} expects a non-empty text, got {value!r}")
        if len(value) > MAX_TEXT:
            raise InvalidAnswerError(f"{where}: text is {len(value)} characters long (max {MAX_TEXT})")
        norm = value.strip()
    return Answer(
        question_id=q.id,
        value=norm,
        importance=importance if importance is not None else 5,
        seconds=float(seconds) if seconds is not None else None,
    )

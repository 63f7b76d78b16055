"""Evaluate branching-rule and block conditions against the answers given so far (three-valued logic).

A condition is evaluated in one of two modes:

- **final** (``final=True``): the answers are taken as they are; an unanswered question simply has
  no answer, so ``{"answer": "x"}`` is false and ``{"answered": false}`` is true. The session uses
  this when it reaches a block (entry), before each question of a block (exit) and when a question
  is answered (its rules).
- **open** (``final=False``): an unanswered question may still be answered, so atoms about it are
  *unknown* (``None``). ``all``/``any``/``not`` follow Kleene's logic. Progress uses this to decide
  which future questions are still possible; an unknown never turns into the opposite of a known
  value as answers are added, which keeps progress monotone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from perfectmatch.models import Answer
from perfectmatch.questionnaire.models import (
    BranchRule,
    Condition,
    Question,
    QuestionType,
    is_comparison,
    parse_comparison,
)

__all__ = ["Facts", "FiredRule", "evaluate", "fire", "holds", "matches_answer"]

Truth = bool | None


@dataclass(frozen=True, slots=True)
class Facts:
    """What conditions may look at: answers by question id and answered counts per block."""

    answers: Mapping[str, Answer]
    questions: Mapping[str, Question]
    block_answered: Callable[[str], int]


@dataclass(frozen=True, slots=True)
class FiredRule:
    """The rule of ``question_id`` that fired for its answer, with its index in the rule list."""

    question_id: str
    index: int
    rule: BranchRule


def matches_answer(spec: object, value: object, question: Question | None) -> bool:
    """Whether an answer ``value`` matches an ``answer`` spec (equality, set, or comparison)."""
    if isinstance(spec, list):
        return any(matches_answer(s, value, question) for s in spec)
    if isinstance(value, tuple | list):  # multiple choice: the spec names one selected option
        return spec in value
    if is_comparison(spec) and (
        question is None or question.type in (QuestionType.LIKERT, QuestionType.NUMERIC)
    ):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return parse_comparison(spec)(float(value))  # type: ignore[arg-type]
    if isinstance(spec, int | float) and isinstance(value, int | float) and not isinstance(value, bool):
        return float(spec) == float(value)
    return spec == value


def evaluate(
    cond: Condition, facts: Facts, *, owner: str | None = None, block: str | None = None, final: bool = True
) -> Truth:
    """Evaluate ``cond``; ``None`` means unknown (only when ``final`` is false).

    Parameters
    ----------
    cond
        The condition.
    facts
        Answers so far.
    owner
        The question a rule belongs to (the default target of ``answer``/``importance``).
    block
        The block that ``answered_count`` counts in.
    final
        See the module docstring.
    """
    parts: list[Truth] = []
    target = cond.question or owner
    if cond.answer is not None or cond.importance is not None or cond.answered is not None:
        answer = facts.answers.get(target) if target is not None else None
        if answer is None:
            if not final:
                parts.append(None)
            elif cond.answer is not None or cond.importance is not None:
                parts.append(False)
            else:
                parts.append(cond.answered is False)
        else:
            if cond.answered is not None:
                parts.append(cond.answered)
            if cond.answer is not None:
                parts.append(matches_answer(cond.answer, answer.value, facts.questions.get(target or "")))
            if cond.importance is not None:
                parts.append(parse_comparison(cond.importance)(answer.importance))
    if cond.answered_count is not None:
        count = facts.block_answered(block) if block is not None else 0
        comp = parse_comparison(cond.answered_count)
        ok = comp(count)
        if final or (ok and comp.op in (">=", ">")):
            parts.append(ok)
        else:
            parts.append(None)
    if cond.all is not None:
        parts.append(_and([evaluate(c, facts, owner=owner, block=block, final=final) for c in cond.all]))
    if cond.any is not None:
        parts.append(_or([evaluate(c, facts, owner=owner, block=block, final=final) for c in cond.any]))
    if cond.not_ is not None:
        sub = evaluate(cond.not_, facts, owner=owner, block=block, final=final)
        parts.append(None if sub is None else not sub)
    return _and(parts)


def holds(
    cond: Condition | None, facts: Facts, *, owner: str | None = None, block: str | None = None
) -> bool:
    """Final-mode evaluation; an absent condition holds."""
    return cond is None or bool(evaluate(cond, facts, owner=owner, block=block, final=True))


def fire(question: Question, facts: Facts, *, block: str | None = None) -> FiredRule | None:
    """The first rule of ``question`` whose condition holds, else its default rule, else ``None``."""
    default: FiredRule | None = None
    for i, rule in enumerate(question.branching_rules):
        if rule.default:
            if default is None:
                default = FiredRule(question.id, i, rule)
            continue
        if rule.condition is not None and holds(rule.condition, facts, owner=question.id, block=block):
            return FiredRule(question.id, i, rule)
    return default


def _and(parts: list[Truth]) -> Truth:
    if any(p is False for p in parts):
        return False
    if any(p is None for p in parts):
        return None
    return True


def _or(parts: list[Truth]) -> Truth:
    if any(p is True for p in parts):
        return True
    if any(p is None for p in parts):
        return None
    return False

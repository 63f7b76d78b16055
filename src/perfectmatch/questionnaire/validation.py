"""Semantic checks of a question bank: every problem at once, each with its location.

``validate(bank)`` returns a list of ``Problem`` (errors make the bank unusable, warnings do not).
Checks, by ``code``:

- ``duplicate_id``: two questions (or two blocks, or two options of a question) share an id.
- ``unknown_question``: a rule's ``nextQuestions``/``skipQuestions`` or a condition names a
  question the bank does not have.
- ``unknown_option``: a condition's ``answer`` names an option its choice question does not define,
  or a value outside a Likert/numeric question's range; ``no_options``: a choice question without
  options; ``missing_bounds``: a numeric question without ``minValue``/``maxValue``.
- ``cycle``: questions that request each other through ``nextQuestions`` (q1 → q2 → q1): an engine
  that follows the rules literally would trap the respondent in a loop.
- ``forward_reference``: a block's entry or exit condition depends on a question that cannot
  have been answered when it is evaluated (it sits in the same or a later block).
- ``unreachable``: a question no respondent can ever be asked (conditional and never requested,
  or in a block whose entry can never hold).
- ``entry_never_holds`` / ``exit_never_holds``: a block condition that no answers can satisfy
  (contradictions, answered counts above the block size, impossible values).
- ``rule_never_fires`` (warning), ``multiple_defaults``: rule-list defects.
- ``no_dimension``: a non-text question mapped to no dimension; ``too_few_questions``: a
  dimension measured (with scale evidence) by fewer than ``bank.min_questions_per_dimension``.
- ``few_open_questions`` (warning): fewer open-ended questions than completion requires.

Satisfiability is decided on finite domains (options, Likert points, importance 1-10, answered
counts) by expanding conditions into alternatives; numeric ranges and ``not`` are approximated
generously, so a reported never-holding condition is certain.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from perfectmatch.errors import BankValidationError
from perfectmatch.models import Dimension
from perfectmatch.questionnaire.completion import CompletionPolicy
from perfectmatch.questionnaire.models import Bank, Block, Condition, Question, QuestionType
from perfectmatch.questionnaire.satisfiability import alternatives, answer_alternatives

__all__ = ["Problem", "check_bank", "is_usable", "validate"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One defect: ``code``, human message and where (block id, question id, rule index)."""

    code: str
    message: str
    block: str | None = None
    question: str | None = None
    rule: int | None = None
    severity: Literal["error", "warning"] = "error"

    @property
    def location(self) -> str:
        parts = []
        if self.block is not None:
            parts.append(f"block {self.block!r}")
        if self.question is not None:
            parts.append(f"question {self.question!r}")
        if self.rule is not None:
            parts.append(f"rule {self.rule}")
        return ", ".join(parts) or "bank"

    def __str__(self) -> str:
        return f"{self.severity} [{self.code}] {self.location}: {self.message}"


def is_usable(problems: list[Problem]) -> bool:
    """A bank is usable when no problem is an error."""
    return not any(p.severity == "error" for p in problems)


def check_bank(bank: Bank) -> Bank:
    """Return ``bank`` if usable.

    Raises
    ------
    BankValidationError
        Carrying every problem, if any is an error.
    """
    problems = validate(bank)
    if not is_usable(problems):
        raise BankValidationError([p for p in problems if p.severity == "error"])
    return bank


# ---------------------------------------------------------------------------------------------


def _walk_conditions(bank: Bank) -> Iterator[tuple[Condition, Block, Question | None, int | None, str]]:
    for block in bank.blocks:
        for name, cond in (("entry", block.entry), ("exit", block.exit)):
            if cond is not None:
                yield cond, block, None, None, name
        for q in block.questions:
            for i, rule in enumerate(q.branching_rules):
                if rule.condition is not None:
                    yield rule.condition, block, q, i, "rule"


def validate(bank: Bank, *, policy: CompletionPolicy = CompletionPolicy()) -> list[Problem]:
    """Every semantic problem of ``bank``, in bank order, each with its location."""
    problems: list[Problem] = []
    add = problems.append
    qs = bank.questions
    block_of: dict[str, int] = {}
    for bi, b in enumerate(bank.blocks):
        for q in b.questions:
            block_of.setdefault(q.id, bi)

    # ids and shapes
    seen_blocks: set[str] = set()
    seen_q: dict[str, str] = {}
    for block in bank.blocks:
        if block.id in seen_blocks:
            add(Problem("duplicate_id", f"block id {block.id!r} is used twice", block=block.id))
        seen_blocks.add(block.id)
        if not block.questions:
            add(Problem("empty_block", "block has no questions", block=block.id, severity="warning"))
        for q in block.questions:
            if q.id in seen_q:
                add(
                    Problem(
                        "duplicate_id",
                        f"question id {q.id!r} is already used in block {seen_q[q.id]!r}",
                        block=block.id,
                        question=q.id,
                    )
                )
            else:
                seen_q[q.id] = block.id
            if q.type.is_choice and not q.options:
                add(Problem("no_options", f"{q.type.value} question defines no options", block.id, q.id))
            dup = sorted({o for o in q.option_ids if q.option_ids.count(o) > 1})
            if dup:
                add(Problem("duplicate_id", f"option id(s) {dup} defined twice", block.id, q.id))
            if q.type is QuestionType.NUMERIC and (q.min_value is None or q.max_value is None):
                add(Problem("missing_bounds", "numeric question needs minValue and maxValue", block.id, q.id))
            if q.type is not QuestionType.TEXT and not any(q.dimensions.values()):
                add(Problem("no_dimension", "question is mapped to no dimension", block.id, q.id))
            defaults = [i for i, r in enumerate(q.branching_rules) if r.default]
            if len(defaults) > 1:
                add(
                    Problem(
                        "multiple_defaults",
                        f"rules {defaults} are all default rules",
                        block.id,
                        q.id,
                        defaults[1],
                    )
                )
            for i, rule in enumerate(q.branching_rules):
                for field_name, ids in (
                    ("nextQuestions", rule.next_questions),
                    ("skipQuestions", rule.skip_questions),
                ):
                    for t in ids:
                        if t not in qs:
                            add(
                                Problem(
                                    "unknown_question",
                                    f"{field_name} names unknown question {t!r}",
                                    block.id,
                                    q.id,
                                    i,
                                )
                            )

    # conditions: unknown questions and options, satisfiability, forward references
    requested = {t for q in qs.values() for r in q.branching_rules for t in r.next_questions}
    for cond, block, q, rule, kind in _walk_conditions(bank):
        owner = q.id if q is not None else None
        where = {"block": block.id, "question": owner, "rule": rule}
        for c in cond.walk():
            target = c.question or owner
            refers = c.answer is not None or c.importance is not None or c.answered is not None
            if not refers:
                continue
            if target is None:
                add(
                    Problem(
                        "unknown_question",
                        f"{kind} condition does not say which question it refers to",
                        **where,
                    )
                )
                continue
            tq = qs.get(target)
            if tq is None:
                add(
                    Problem(
                        "unknown_question", f"{kind} condition refers to unknown question {target!r}", **where
                    )
                )
                continue
            if c.answer is not None:
                for s in c.answer if isinstance(c.answer, list) else [c.answer]:
                    if not answer_alternatives(s, tq):
                        what = "option" if tq.type.is_choice else "value"
                        add(
                            Problem(
                                "unknown_option",
                                f"{kind} condition expects {what} {s!r}, which question {target!r} cannot give"
                                + (f" (options: {', '.join(tq.option_ids)})" if tq.type.is_choice else ""),
                                **where,
                            )
                        )
            if kind != "rule":
                bi = bank.blocks.index(block)
                tb = block_of.get(target, -1)
                if tb > bi or (kind == "entry" and tb == bi):
                    activatable = target in requested
                    add(
                        Problem(
                            "forward_reference",
                            f"{kind} condition depends on question {target!r}, which "
                            + (
                                "is only answered first if a rule requests it earlier"
                                if activatable
                                else f"cannot be answered before the block's {kind} is evaluated"
                            ),
                            **where,
                            severity="warning" if activatable else "error",
                        )
                    )
        if not alternatives(cond, bank, owner=owner, block=block):
            code = {"entry": "entry_never_holds", "exit": "exit_never_holds", "rule": "rule_never_fires"}[
                kind
            ]
            add(
                Problem(
                    code,
                    f"the {kind} condition can never hold",
                    **where,
                    severity="warning" if kind == "rule" else "error",
                )
            )

    # cycles through nextQuestions
    graph = {
        qid: [t for r in q.branching_rules for t in r.next_questions if t in qs] for qid, q in qs.items()
    }
    for cycle in _cycles(graph):
        add(
            Problem(
                "cycle",
                "questions request each other in a loop: " + " -> ".join([*cycle, cycle[0]]),
                block=bank.blocks[block_of[cycle[0]]].id,
                question=cycle[0],
            )
        )

    # reachability
    entry_ok = [
        b.entry is None or bool(alternatives(b.entry, bank, owner=None, block=b)) for b in bank.blocks
    ]
    reach = {
        q.id for bi, b in enumerate(bank.blocks) if entry_ok[bi] for q in b.questions if not q.conditional
    }
    frontier = list(reach)
    while frontier:
        r = frontier.pop()
        for t in graph.get(r, []):
            if t not in reach:
                reach.add(t)
                frontier.append(t)
    for qid, q in qs.items():
        if qid not in reach:
            why = (
                "it is conditional and no reachable rule lists it in nextQuestions"
                if q.conditional
                else "its block's entry condition can never hold"
            )
            add(
                Problem(
                    "unreachable",
                    f"question can never be asked: {why}",
                    block=bank.blocks[block_of[qid]].id,
                    question=qid,
                )
            )

    # dimensions
    for d in Dimension:
        n = sum(1 for q in qs.values() if q.dimensions.get(d) and _scorable(q))
        if n < bank.min_questions_per_dimension:
            add(
                Problem(
                    "too_few_questions",
                    f"dimension {d.value} is scored by {n} question(s); at least "
                    f"{bank.min_questions_per_dimension} are needed",
                )
            )
    n_open = sum(1 for q in qs.values() if q.type is QuestionType.TEXT)
    if n_open < policy.min_open_answers:
        add(
            Problem(
                "few_open_questions",
                f"the bank has {n_open} open-ended question(s) but completion needs {policy.min_open_answers}",
                severity="warning",
            )
        )
    return problems


def _scorable(q: Question) -> bool:
    if q.type is QuestionType.TEXT:
        return False
    if q.type.is_choice:
        return any(o.score is not None for o in q.options)
    return q.type is QuestionType.LIKERT or (q.min_value is not None and q.max_value is not None)


def _shortest_loop(v: str, graph: dict[str, list[str]], members: set[str]) -> list[str]:
    """The shortest path v -> ... -> v inside one strongly connected component (breadth first)."""
    parent: dict[str, str] = {}
    queue = [v]
    for u in queue:
        for w in graph[u]:
            if w == v:
                path = [u]
                while path[-1] != v:
                    path.append(parent[path[-1]])
                return path[::-1]
            if w in members and w not in parent:
                parent[w] = u
                queue.append(w)
    return [v]


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """One representative cycle per strongly connected component with a loop (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = itertools.count()

    def strong(v: str) -> None:
        index[v] = low[v] = next(counter)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph[v]:
                out.append(_shortest_loop(v, graph, set(comp)))

    for v in graph:
        if v not in index:
            strong(v)
    return out

"""The adaptive path: which questions are allowed, asked next, or still possible, given the answers so far.

This is the session's state machine without validation or serialization (see ``session``).

Path semantics
--------------
- Blocks are visited in bank order. When the walk reaches a block, its ``entry`` condition is
  evaluated (final mode): if false, the block is passed over. An entered block is left as soon as
  its ``exit`` condition holds or none of its questions is allowed any more.
- A question is *allowed* when it is not answered, not skipped by a fired rule, not dropped by
  fatigue shortening and, if ``conditional``, activated by a fired rule's ``nextQuestions``.
- Activated questions (``nextQuestions`` of fired rules, in order) are asked before the rest of the
  current block; otherwise the selection strategy picks among the current block's allowed questions
  (during a fatigue episode, among its critical and high-importance questions first).
- A skip is final: a question skipped once is never activated again.
- The *possible* set (what may still be asked) is the least set containing the activated allowed
  questions, the allowed non-conditional questions of the current block and of later blocks whose
  entry is not known to be false, and every allowed question that a possible question could
  activate. Answering only ever removes questions from it (see ``rules``), so progress
  ``answered / (answered + possible)`` never decreases unless an answer is changed.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from perfectmatch.models import Answer, Dimension
from perfectmatch.questionnaire import rules
from perfectmatch.questionnaire.fatigue import FatigueConfig, FatigueReport, Step, assess
from perfectmatch.questionnaire.models import Bank, Question, QuestionType
from perfectmatch.questionnaire.scoring import DimensionModel
from perfectmatch.questionnaire.selection import MostInformative, SelectionContext, Strategy

__all__ = ["PathState", "Progress"]

_DIMS = tuple(Dimension)


@dataclass(frozen=True, slots=True)
class Progress:
    """Answered questions against the adaptive path: ``fraction = answered / (answered + remaining)``."""

    answered: int
    remaining: int

    @property
    def total(self) -> int:
        return self.answered + self.remaining

    @property
    def fraction(self) -> float:
        return 1.0 if self.total == 0 else self.answered / self.total


class _Compiled:
    """Per-bank lookups shared by every session over the bank."""

    def __init__(self, bank: Bank) -> None:
        self.bank = bank
        self.model = DimensionModel(bank)
        self.block_index: dict[str, int] = {}
        for bi, b in enumerate(bank.blocks):
            for q in b.questions:
                self.block_index.setdefault(q.id, bi)
        self.block_ids = [b.id for b in bank.blocks]
        self.block_questions = [[q.id for q in b.questions if bank.questions[q.id] is q] for b in bank.blocks]
        self.priority = np.array(
            [bank.questions[q].critical or bank.questions[q].high_importance for q in self.model.ids]
        )
        self.scored = np.abs(self.model.loadings) > 0  # (n_questions, 5)


_CACHE: dict[int, _Compiled] = {}  # a few recent banks; entries hold their bank, so ids stay unique
_CACHE_SIZE = 32


def compiled(bank: Bank) -> _Compiled:
    """The compiled form of ``bank`` (cached per bank object)."""
    key = id(bank)
    hit = _CACHE.get(key)
    if hit is None or hit.bank is not bank:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        hit = _CACHE[key] = _Compiled(bank)
    return hit


class PathState:
    """Answers, fired rules, skips, activations, block position, posterior and fatigue of one respondent."""

    def __init__(
        self,
        bank: Bank,
        strategy: Strategy,
        *,
        seed: int = 0,
        fatigue: FatigueConfig = FatigueConfig(),
        target_sd: float | None = None,
    ) -> None:
        self.bank = bank
        self.c = compiled(bank)
        self.strategy = strategy
        self.seed = seed
        self.fatigue_config = fatigue
        self.answers: dict[str, Answer] = {}
        self.skipped: set[str] = set()
        self.activated: list[str] = []
        self.dropped: set[str] = set()
        self.target_sd = target_sd
        self.redundant: set[str] = set()
        self.fired: dict[str, int] = {}
        self.weights = np.ones(len(_DIMS))
        self.posterior = self.c.model.prior()
        self.points = np.zeros(len(_DIMS), dtype=int)
        self.block_pos = 0
        self.block_entered: list[bool | None] = [None] * len(bank.blocks)
        self.block_answered: dict[str, int] = dict.fromkeys(self.c.block_ids, 0)
        self.steps: list[Step] = []
        self.fatigue = FatigueReport(engagement=1.0, fatigued=False)
        self.in_fatigue_episode = False
        self.shortenings = 0
        self._facts = rules.Facts(self.answers, bank.questions, lambda b: self.block_answered.get(b, 0))
        self._advance()

    # -- queries --------------------------------------------------------------------------------

    def allowed(self, qid: str) -> bool:
        if not self._open(qid):
            return False
        return not self.bank.questions[qid].conditional or qid in self.activated

    def candidates(self) -> list[str]:
        """Questions the strategy may choose from now: activated ones first, else the current block's."""
        act = [q for q in self.activated if self.allowed(q)]
        if act:
            return act
        if self.block_pos >= len(self.bank.blocks):
            return []
        return [q for q in self.c.block_questions[self.block_pos] if self.allowed(q)]

    def ranked(self, n: int) -> list[str]:
        """The next ``n`` questions in the order they would be asked (activated ones keep rule order)."""
        act = [q for q in self.activated if self.allowed(q)]
        if act:
            return act[:n]
        cands = self.candidates()
        if not cands:
            return []
        if self.in_fatigue_episode:  # a tired respondent gets critical and high-importance questions first
            first = [q for q in cands if self.c.priority[self.c.model.index[q]]]
            rest = [q for q in cands if not self.c.priority[self.c.model.index[q]]]
            return (self._rank(first, n) + self._rank(rest, n))[:n]
        return self._rank(cands, n)

    def _rank(self, cands: list[str], n: int) -> list[str]:
        if not cands:
            return []
        idx = [self.c.model.index[q] for q in cands]
        ctx = self.context()
        if n == 1 and isinstance(self.strategy, MostInformative):
            return [self.c.model.ids[self.strategy.best(idx, ctx)]]
        return [self.c.model.ids[i] for i in self.strategy.rank(idx, ctx)[:n]]

    def context(self) -> SelectionContext:
        return SelectionContext(self.c.model, self.posterior, self.weights, len(self.answers), self.seed)

    def possible(self) -> list[str]:
        """Questions that may still be asked (bank order); see the module docstring."""
        bank = self.bank
        base: set[str] = {q for q in self.activated if self.allowed(q)}
        for bi in range(self.block_pos, len(bank.blocks)):
            if bi > self.block_pos:
                entry = bank.blocks[bi].entry
                if (
                    entry is not None
                    and rules.evaluate(entry, self._facts, block=bank.blocks[bi].id, final=False) is False
                ):
                    continue
            base.update(q for q in self.c.block_questions[bi] if self.allowed(q))
        seen = set(base)
        queue = deque(base)
        while queue:
            r = queue.popleft()
            for rule in bank.questions[r].branching_rules:
                for t in rule.next_questions:
                    if t not in seen and t in bank.questions and self._open(t):
                        seen.add(t)
                        queue.append(t)
        return [q for q in self.c.model.ids if q in seen]

    def _open(self, qid: str) -> bool:
        return (
            qid not in self.answers
            and qid not in self.skipped
            and qid not in self.dropped
            and qid not in self.redundant
        )

    def progress(self) -> Progress:
        return Progress(len(self.answers), len(self.possible()))

    @property
    def finished(self) -> bool:
        return not self.candidates()

    # -- transitions ----------------------------------------------------------------------------

    def apply(self, answer: Answer, *, track_fatigue: bool = True) -> None:
        """Record a valid answer to an allowed question and apply its consequences."""
        q = self.bank.questions[answer.question_id]
        self.answers[q.id] = answer
        block_id = self.c.block_ids[self.c.block_index[q.id]]
        self.block_answered[block_id] += 1
        if q.id in self.activated:
            self.activated.remove(q.id)
        fired = rules.fire(q, self._facts, block=block_id)
        if fired is not None:
            self.fired[q.id] = fired.index
            for t in fired.rule.skip_questions:
                self.skipped.add(t)
            for t in fired.rule.next_questions:
                if t in self.bank.questions and self._open(t) and t not in self.activated:
                    self.activated.append(t)
            for d, factor in fired.rule.dimension_adjustments.items():
                self.weights[_DIMS.index(d)] *= factor
        i = self.c.model.index[q.id]
        self.points += self.c.model.measures[i]
        y = q.response(answer.value)
        if y is not None:
            y -= float(self.c.model.intercept[i])
            self.posterior.update(self.c.model.loadings[i], float(self.c.model.noise[i]), y)
            self._mark_redundant()
        if track_fatigue:
            likert = float(answer.value) if q.type is QuestionType.LIKERT else None  # type: ignore[arg-type]
            self.steps.append(Step(answer.seconds, likert))
            self.check_fatigue()
        self._advance()

    def _mark_redundant(self) -> None:
        """With a ``target_sd``: questions whose dimensions are all known to that precision become redundant.

        Critical, high-importance and nominal questions (no scale evidence) are never redundant.
        Posterior variances only shrink, so this set only grows (progress stays monotone).
        """
        if self.target_sd is None:
            return
        precise = self.posterior.sd <= self.target_sd  # (5,)
        scored = self.c.scored
        rows = scored.any(axis=1) & ~(scored & ~precise).any(axis=1) & ~self.c.priority
        for i in np.flatnonzero(rows):
            qid = self.c.model.ids[i]
            if qid not in self.answers:
                self.redundant.add(qid)

    def check_fatigue(self) -> None:
        """Re-assess engagement; on the onset of a fatigue episode, shorten the remaining path."""
        self.fatigue = assess(self.steps, self.fatigue_config)
        if self.fatigue.fatigued and not self.in_fatigue_episode:
            self.in_fatigue_episode = True
            self.shorten()
        elif self.in_fatigue_episode and self.fatigue.engagement >= (
            self.fatigue_config.threshold + self.fatigue_config.recovery
        ):
            self.in_fatigue_episode = False

    def shorten(self) -> list[str]:
        """Drop low-priority questions from the possible path; critical and high-importance ones stay."""
        remaining = self.possible()
        others = [
            q
            for q in remaining
            if not (self.bank.questions[q].critical or self.bank.questions[q].high_importance)
        ]
        if not others:
            return []
        idx = [self.c.model.index[q] for q in others]
        ranked = [self.c.model.ids[i] for i in MostInformative().rank(idx, self.context())]
        keep = math.ceil(self.fatigue_config.keep_fraction * len(ranked))
        dropped = ranked[keep:]
        self.dropped.update(dropped)
        self.shortenings += 1
        self._advance()
        return dropped

    def _advance(self) -> None:
        blocks = self.bank.blocks
        while self.block_pos < len(blocks):
            block = blocks[self.block_pos]
            if self.block_entered[self.block_pos] is None:
                self.block_entered[self.block_pos] = rules.holds(block.entry, self._facts, block=block.id)
            if self.block_entered[self.block_pos]:
                exit_now = block.exit is not None and rules.holds(block.exit, self._facts, block=block.id)
                if not exit_now and any(self.allowed(q) for q in self.c.block_questions[self.block_pos]):
                    return
            self.block_pos += 1

    def question(self, qid: str) -> Question:
        return self.bank.question(qid)

"""Whether a condition can ever hold: conditions expanded into alternatives over finite answer domains.

Domains are the options of single-choice questions, the Likert points, importance 1-10, the
answered flag and a block's answered count. Numeric ranges and ``not`` are approximated generously
(assumed satisfiable when unsure), so an empty result is a certain "never holds".
"""

from __future__ import annotations

import itertools

from perfectmatch.questionnaire.models import (
    Bank,
    Block,
    Condition,
    Question,
    QuestionType,
    is_comparison,
    parse_comparison,
)

__all__ = ["Alternative", "alternatives", "answer_alternatives"]

MAX_ALTERNATIVES = 512

Key = tuple[str, ...]
Alternative = dict[Key, frozenset[object]]
_IMPORTANCE = frozenset(range(1, 11))


def _meet(a: Alternative, b: Alternative) -> Alternative | None:
    out = dict(a)
    for k, v in b.items():
        merged = out[k] & v if k in out else v
        if not merged:
            return None
        out[k] = merged
    return out


def _points(q: Question) -> frozenset[object] | None:
    """Finite answer domain of single-choice and Likert questions, else None."""
    if q.type is QuestionType.SINGLE:
        return frozenset(q.option_ids)
    if q.type is QuestionType.LIKERT:
        lo, hi = q.bounds
        return frozenset(range(int(lo), int(hi) + 1))
    return None


def answer_alternatives(spec: object, q: Question) -> list[Alternative]:
    specs = spec if isinstance(spec, list) else [spec]
    alts: list[Alternative] = []
    for s in specs:
        if q.type is QuestionType.MULTIPLE:
            if isinstance(s, str) and s in q.option_ids:
                alts.append({("sel", q.id, s): frozenset([True]), ("answered", q.id): frozenset([True])})
        elif q.type is QuestionType.NUMERIC:
            lo, hi = (q.min_value, q.max_value)
            if lo is None or hi is None:
                continue
            if is_comparison(s):
                c = parse_comparison(s)  # type: ignore[arg-type]
                ok = {
                    ">=": c.value <= hi,
                    ">": c.value < hi,
                    "<=": c.value >= lo,
                    "<": c.value > lo,
                    "==": lo <= c.value <= hi,
                    "!=": True,
                }[c.op]
            else:
                ok = isinstance(s, int | float) and not isinstance(s, bool) and lo <= s <= hi
            if ok:
                alts.append({("answered", q.id): frozenset([True])})
        elif q.type is QuestionType.TEXT:
            alts.append({("answered", q.id): frozenset([True])})
        else:
            dom = _points(q) or frozenset()
            if q.type is QuestionType.LIKERT and is_comparison(s):
                c = parse_comparison(s)  # type: ignore[arg-type]
                allowed = frozenset(x for x in dom if c(float(x)))  # type: ignore[arg-type]
            elif q.type is QuestionType.LIKERT and isinstance(s, int | float) and not isinstance(s, bool):
                allowed = frozenset(x for x in dom if float(x) == float(s))  # type: ignore[arg-type]
            else:
                allowed = frozenset([s]) & dom
            if allowed:
                alts.append({("answer", q.id): allowed, ("answered", q.id): frozenset([True])})
    return alts


def alternatives(cond: Condition, bank: Bank, *, owner: str | None, block: Block | None) -> list[Alternative]:
    """Satisfiable alternatives (a DNF over finite domains) of ``cond``; empty means it never holds."""
    alts: list[Alternative] = [{}]

    def conj(more: list[Alternative]) -> None:
        nonlocal alts
        out = []
        for a, b in itertools.product(alts, more):
            m = _meet(a, b)
            if m is not None:
                out.append(m)
            if len(out) > MAX_ALTERNATIVES:
                out = [{}]  # too many to track: assume satisfiable
                break
        alts = out

    target = cond.question or owner
    q = bank.questions.get(target) if target else None
    if cond.answer is not None or cond.importance is not None or cond.answered is not None:
        if q is None:
            return []
        if cond.answered is not None:
            conj([{("answered", q.id): frozenset([cond.answered])}])
        if cond.answer is not None:
            conj(answer_alternatives(cond.answer, q))
        if cond.importance is not None:
            c = parse_comparison(cond.importance)
            conj(
                [
                    {
                        ("importance", q.id): frozenset(i for i in _IMPORTANCE if c(i)),
                        ("answered", q.id): frozenset([True]),
                    }
                ]
            )
    if cond.answered_count is not None:
        size = len(block.questions) if block is not None else 0
        c = parse_comparison(cond.answered_count)
        conj([{("count",): frozenset(n for n in range(size + 1) if c(n))}])
    for sub in cond.all or []:
        conj(alternatives(sub, bank, owner=owner, block=block))
    if cond.any is not None:
        conj([a for sub in cond.any for a in alternatives(sub, bank, owner=owner, block=block)])
    if cond.not_ is not None:
        sub = alternatives(cond.not_, bank, owner=owner, block=block)
        conj([{}] if sub != [{}] else [])  # not(always-true) never holds; otherwise assume it can
    return [a for a in alts if all(v for v in a.values())]

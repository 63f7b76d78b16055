"""Hypothesis strategies: random valid question banks (as plain dicts) and answers to their questions.

Valid by construction: ids are unique, ``nextQuestions`` only point forward in bank order (no
cycles), every conditional question is requested by an earlier non-conditional question, block
conditions refer to questions of earlier blocks with values those questions can give, and a final
``core`` block scores every dimension.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from perfectmatch.questionnaire.models import Question, QuestionType

DIMS = ["RC", "CS", "EI", "LC", "CV"]
TYPES = ["single_choice", "multiple_choice", "likert", "numeric", "open_text"]


@st.composite
def _question(draw: st.DrawFn, qid: str) -> dict[str, Any]:
    qtype = draw(st.sampled_from(TYPES))
    q: dict[str, Any] = {"id": qid, "text": f"Question {qid}?", "type": qtype}
    if qtype in ("single_choice", "multiple_choice"):
        n = draw(st.integers(2, 4))
        scored = draw(st.booleans())
        q["options"] = [
            {
                "id": f"o{i}",
                "text": f"Option {i}",
                **({"score": round(-1 + 2 * i / (n - 1), 3)} if scored else {}),
            }
            for i in range(n)
        ]
    elif qtype == "numeric":
        q["minValue"], q["maxValue"] = 0, draw(st.sampled_from([10, 80]))
    if qtype != "open_text":
        dims = draw(st.lists(st.sampled_from(DIMS), min_size=1, max_size=2, unique=True))
        q["dimensions"] = {d: draw(st.sampled_from([-0.6, -0.3, 0.3, 0.5, 0.8])) for d in dims}
    q["critical"] = draw(st.booleans())
    q["highImportance"] = draw(st.booleans())
    return q


def _atom(draw: st.DrawFn, q: dict[str, Any], *, name: bool) -> dict[str, Any]:
    """A satisfiable condition atom about question ``q``."""
    cond: dict[str, Any] = {"question": q["id"]} if name else {}
    kind = draw(st.sampled_from(["answer", "importance", "answered"]))
    if kind == "answer" and q["type"] in ("single_choice", "multiple_choice"):
        ids = [o["id"] for o in q["options"]]
        cond["answer"] = draw(
            st.one_of(st.sampled_from(ids), st.lists(st.sampled_from(ids), min_size=1, unique=True))
        )
    elif kind == "answer" and q["type"] == "likert":
        cond["answer"] = draw(st.sampled_from([">= 3", "<= 2", "== 5", "> 1", "< 5", "!= 3"]))
    elif kind == "answer" and q["type"] == "numeric":
        cond["answer"] = draw(st.sampled_from([">= 5", "< 8", "> 0"]))
    elif kind in ("answer", "importance"):
        cond["importance"] = draw(st.sampled_from([">= 7", "<= 4", "> 2", "== 5"]))
    else:
        cond["answered"] = True
    return cond


@st.composite
def valid_banks(draw: st.DrawFn, *, max_blocks: int = 3, max_block_size: int = 5) -> dict[str, Any]:
    """A random bank that passes validation, as a dict ready for ``parse_bank``."""
    n_blocks = draw(st.integers(1, max_blocks))
    blocks: list[dict[str, Any]] = []
    order: list[dict[str, Any]] = []
    counter = 0
    for bi in range(n_blocks):
        qs = []
        for _ in range(draw(st.integers(1, max_block_size))):
            qs.append(draw(_question(f"q{counter}")))
            counter += 1
        blocks.append({"id": f"b{bi}", "title": f"Block {bi}", "questions": qs})
        order.extend(qs)
    core = [{"id": f"core_{d}", "text": f"Core {d}", "type": "likert", "dimensions": {d: 0.5}} for d in DIMS]
    # conditional questions, each requested by an earlier non-conditional question
    for pos, q in enumerate(order):
        earlier = [e for e in order[:pos] if not e.get("conditional")]
        if earlier and draw(st.integers(0, 3)) == 0:
            q["conditional"] = True
            activator = draw(st.sampled_from(earlier))
            rules = activator.setdefault("branchingRules", [])
            if rules:
                rules[0]["nextQuestions"].append(q["id"])
            else:
                rules.append({"default": True, "nextQuestions": [q["id"]]})
    # more rules: forward nextQuestions, any skipQuestions, adjustments
    all_ids = [q["id"] for q in order] + [c["id"] for c in core]
    for pos, q in enumerate(order):
        if not draw(st.booleans()):
            continue
        rules = q.setdefault("branchingRules", [])
        has_default = any(r.get("default") for r in rules)
        for _ in range(draw(st.integers(1, 2))):
            cond = _atom(draw, q, name=False)
            if pos > 0 and draw(st.booleans()):
                cond = {"all": [cond, _atom(draw, draw(st.sampled_from(order[:pos])), name=True)]}
            later = [o["id"] for o in order[pos + 1 :]]
            rule: dict[str, Any] = {
                "condition": cond,
                "nextQuestions": draw(st.lists(st.sampled_from(later), unique=True, max_size=2))
                if later
                else [],
                "skipQuestions": draw(
                    st.lists(st.sampled_from([i for i in all_ids if i != q["id"]]), unique=True, max_size=2)
                ),
            }
            if draw(st.booleans()):
                rule["dimensionAdjustments"] = {
                    draw(st.sampled_from(DIMS)): draw(st.sampled_from([0.5, 2.0]))
                }
            rules.insert(0 if has_default else len(rules), rule)
    # block conditions on earlier blocks
    for bi, block in enumerate(blocks):
        earlier = [q for b in blocks[:bi] for q in b["questions"]]
        if earlier and draw(st.integers(0, 2)) == 0:
            block["entry"] = _atom(draw, draw(st.sampled_from(earlier)), name=True)
        if draw(st.integers(0, 2)) == 0:
            block["exit"] = {"answered_count": f">= {draw(st.integers(1, len(block['questions'])))}"}
    blocks.append({"id": "core", "questions": core})
    return {"version": "gen", "minQuestionsPerDimension": 1, "minPoints": 1, "blocks": blocks}


def answer_value(q: Question, r: int) -> Any:
    """A valid answer to ``q`` chosen by the integer ``r``."""
    if q.type is QuestionType.SINGLE:
        return q.option_ids[r % len(q.option_ids)]
    if q.type is QuestionType.MULTIPLE:
        picked = [o for i, o in enumerate(q.option_ids) if (r >> i) & 1]
        return picked or [q.option_ids[0]]
    if q.type is QuestionType.LIKERT:
        lo, hi = q.bounds
        return int(lo) + r % int(hi - lo + 1)
    if q.type is QuestionType.NUMERIC:
        lo, hi = q.bounds
        return lo + (r % 1000) / 999 * (hi - lo)
    return f"answer {r}"

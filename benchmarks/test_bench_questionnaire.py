"""Micro-benchmarks of the questionnaire engine (``pytest benchmarks --benchmark-only``); assert quality, not time."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_questionnaire import accuracy_curve, first_below, flat_bank

from perfectmatch.questionnaire.respondents import make_respondents
from perfectmatch.questionnaire.session import Session

BANK = flat_bank(200, seed=0)


def _full_session(strategy: str) -> int:
    r = make_respondents(1, seed=1, fatigue=False)[0]
    s = Session(BANK, strategy=strategy)
    while (q := s.next_question()) is not None:
        value, importance, seconds = r.answer(q)
        s.answer(q.id, value, importance=importance, seconds=seconds)
    return len(s.answers)


def test_bench_most_informative_session_200_questions(benchmark):
    assert benchmark(_full_session, "most_informative") == 200


def test_bench_fixed_session_200_questions(benchmark):
    assert benchmark(_full_session, "fixed") == 200


def test_most_informative_needs_fewer_questions_than_fixed_and_random():
    needed = {
        s: first_below(accuracy_curve(BANK, s, 40, seed=0), 0.5)
        for s in ("most_informative", "fixed", "random")
    }
    assert needed["most_informative"] is not None
    assert needed["most_informative"] < needed["fixed"] and needed["most_informative"] < needed["random"]

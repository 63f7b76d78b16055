"""A small question bank covering every question type, for population tests."""

from __future__ import annotations

import pytest

from perfectmatch.questionnaire.models import Bank

SMALL_BANK = {
    "version": "test-1",
    "blocks": [
        {
            "id": "core",
            "questions": [
                {"id": "q_likert", "text": "Likert", "type": "likert", "minValue": 1, "maxValue": 7,
                 "dimensions": {"RC": 0.5, "CV": 0.2}, "critical": True},
                {"id": "q_single", "text": "Single", "type": "single_choice", "dimensions": {"CS": 0.6},
                 "options": [{"id": "lo", "text": "Low", "score": -1.0}, {"id": "mid", "text": "Mid", "score": 0.0},
                             {"id": "hi", "text": "High", "score": 1.0}]},
                {"id": "q_nominal", "text": "Nominal", "type": "single_choice",
                 "options": [{"id": "a", "text": "A"}, {"id": "b", "text": "B"}, {"id": "c", "text": "C"}]},
                {"id": "q_multi", "text": "Multi", "type": "multiple_choice", "dimensions": {"LC": 0.5},
                 "options": [{"id": "x", "text": "X", "score": 1.0}, {"id": "y", "text": "Y", "score": -1.0},
                             {"id": "z", "text": "Z"}]},
                {"id": "q_num", "text": "Numeric", "type": "numeric", "minValue": 0, "maxValue": 100,
                 "dimensions": {"EI": 0.4}},
                {"id": "q_text", "text": "About you", "type": "open_text", "dimensions": {"EI": 0.3}},
                {"id": "q_cond", "text": "Conditional", "type": "likert", "conditional": True,
                 "dimensions": {"CV": 0.5}},
            ],
        }
    ],
}


@pytest.fixture(scope="session")
def small_bank() -> Bank:
    return Bank.model_validate(SMALL_BANK)

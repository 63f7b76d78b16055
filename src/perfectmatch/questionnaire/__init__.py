"""Adaptive questionnaire engine: question banks, branching rules, dimension scores, sessions."""

from perfectmatch.questionnaire.encoding import FeatureLayout
from perfectmatch.questionnaire.loader import default_bank, load_bank, parse_bank, parse_question
from perfectmatch.questionnaire.models import (
    Bank,
    Block,
    BranchRule,
    Condition,
    Option,
    Question,
    QuestionType,
)

__all__ = [
    "Bank",
    "Block",
    "BranchRule",
    "Condition",
    "FeatureLayout",
    "Option",
    "Question",
    "QuestionType",
    "default_bank",
    "load_bank",
    "parse_bank",
    "parse_question",
]

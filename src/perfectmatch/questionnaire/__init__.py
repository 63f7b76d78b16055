"""Adaptive questionnaire engine: question banks, branching rules, dimension scores, sessions."""

from perfectmatch.questionnaire.completion import CompletionPolicy, CompletionReport, Criterion
from perfectmatch.questionnaire.encoding import FeatureLayout
from perfectmatch.questionnaire.fatigue import FatigueConfig, FatigueReport
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
from perfectmatch.questionnaire.path import Progress
from perfectmatch.questionnaire.scoring import DimensionScore
from perfectmatch.questionnaire.session import QuestionnaireResult, Session
from perfectmatch.questionnaire.validation import Problem, check_bank, is_usable, validate

__all__ = [
    "Bank",
    "Block",
    "BranchRule",
    "CompletionPolicy",
    "CompletionReport",
    "Condition",
    "Criterion",
    "DimensionScore",
    "FatigueConfig",
    "FatigueReport",
    "FeatureLayout",
    "Option",
    "Problem",
    "Progress",
    "Question",
    "QuestionType",
    "QuestionnaireResult",
    "Session",
    "check_bank",
    "default_bank",
    "is_usable",
    "load_bank",
    "parse_bank",
    "parse_question",
    "validate",
]

"""The answer shapes a model must return, as pydantic models, and the parser that validates them.

Every model answer goes through :func:`parse_compat_batch` (or :func:`parse_profile` /
:func:`parse_starters`) before anything else sees it: out-of-range scores, wrong list lengths,
non-JSON or truncated text and wrong pair ids all become per-item errors, never stored results.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from perfectmatch.errors import AnalysisParseError, describe_validation_error


class Factor(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=80)
    score: float = Field(ge=0, le=100)
    description: str = Field(default="", max_length=600)


class CompatibilityItem(BaseModel):
    """One pair's analysis: the spec's JSON structure plus ``pairId`` and a brief ``summary``."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    pair_id: str = Field(alias="pairId", min_length=1)
    compatibility_score: float = Field(alias="compatibilityScore", ge=0, le=100)
    compatibility_factors: list[Factor] = Field(alias="compatibilityFactors", min_length=5, max_length=7)
    summary: str = Field(default="", max_length=800)
    detailed_analysis: str = Field(alias="detailedAnalysis", min_length=1, max_length=8000)
    conversation_starters: list[str] = Field(alias="conversationStarters", min_length=3, max_length=5)
    potential_challenges: list[str] = Field(alias="potentialChallenges", min_length=2, max_length=3)


class ProfileInsight(BaseModel):
    """Profile analysis: a short summary and 3-6 key traits."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    summary: str = Field(min_length=1, max_length=800)
    key_traits: list[str] = Field(alias="keyTraits", min_length=3, max_length=6)


class StarterSet(BaseModel):
    """Conversation starters for one pair."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    conversation_starters: list[str] = Field(alias="conversationStarters", min_length=3, max_length=5)


def _item_schema() -> dict[str, Any]:
    factor = {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "score", "description"],
        "properties": {"name": {"type": "string"}, "score": {"type": "number"}, "description": {"type": "string"}},
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "pairId", "compatibilityScore", "compatibilityFactors", "summary",
            "detailedAnalysis", "conversationStarters", "potentialChallenges",
        ],
        "properties": {
            "pairId": {"type": "string"},
            "compatibilityScore": {"type": "number"},
            "compatibilityFactors": {"type": "array", "items": factor},
            "summary": {"type": "string"},
            "detailedAnalysis": {"type": "string"},
            "conversationStarters": {"type": "array", "items": {"type": "string"}},
            "potentialChallenges": {"type": "array", "items": {"type": "string"}},
        },
    }


#: JSON schema for OpenAI's strict structured-output mode (batch of analyses keyed by pair id).
COMPAT_BATCH_SCHEMA: dict[str, Any] = {
    "name": "compatibility_batch",
    "strict": True,
    "schema": {
        "type": "object",
        "additionalProperties": False,
        "required": ["analyses"],
        "properties": {"analyses": {"type": "array", "items": _item_schema()}},
    },
}


@dataclass
class BatchParse:
    """Outcome of parsing one batch answer: valid items by pair id, and an error per other pair id."""

    items: dict[str, CompatibilityItem] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    extra_ids: list[str] = field(default_factory=list)


def loads_json_object(text: str) -> dict[str, Any]:
    """Parse a model answer as one JSON object, tolerating a Markdown code fence around it.

    Raises
    ------
    AnalysisParseError
        If the text is empty, not JSON (including truncated JSON) or not an object.
    """
    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`")
        body = body[body.find("\n") + 1 :] if "\n" in body else body
        body = body.removeprefix("json").strip()
    if not body:
        raise AnalysisParseError("empty answer")
    try:
        value = json.loads(body)
    except json.JSONDecodeError as exc:
        raise AnalysisParseError(f"answer is not valid JSON ({exc.msg} at char {exc.pos})") from exc
    if not isinstance(value, dict):
        raise AnalysisParseError(f"answer must be a JSON object, got {type(value).__name__}")
    return value


def parse_compat_batch(text: str, expected_ids: Iterable[str]) -> BatchParse:
    """Validate a batch answer against the pair ids that were asked for.

    Parameters
    ----------
    text
        The raw model answer.
    expected_ids
        Pair ids sent in the request. Each one ends up in exactly one of ``items`` or ``errors``.

    Returns
    -------
    BatchParse
        Items whose ``pairId`` was asked for and that validate; an error text for every other asked
        id (missing, duplicated or invalid); ids the model invented are listed in ``extra_ids`` and
        never assigned to anything.
    """
    expected = list(dict.fromkeys(expected_ids))
    result = BatchParse()
    try:
        obj = loads_json_object(text)
    except AnalysisParseError as exc:
        result.errors = {pid: str(exc) for pid in expected}
        return result
    raw_items = obj.get("analyses")
    if not isinstance(raw_items, list):
        msg = 'answer must be an object with an "analyses" array'
        result.errors = {pid: msg for pid in expected}
        return result
    wanted = set(expected)
    seen: dict[str, int] = {}
    candidates: dict[str, Any] = {}
    for raw in raw_items:
        pid = raw.get("pairId") if isinstance(raw, dict) else None
        if not isinstance(pid, str) or pid not in wanted:
            if isinstance(pid, str):
                result.extra_ids.append(pid)
            continue
        seen[pid] = seen.get(pid, 0) + 1
        candidates[pid] = raw
    for pid in expected:
        if pid not in seen:
            result.errors[pid] = f"pairId {pid!r} missing from the answer"
        elif seen[pid] > 1:
            result.errors[pid] = f"pairId {pid!r} appears {seen[pid]} times"
        else:
            try:
                result.items[pid] = CompatibilityItem.model_validate(candidates[pid])
            except ValidationError as exc:
                result.errors[pid] = describe_validation_error(exc)
    return result


def parse_profile(text: str) -> ProfileInsight:
    """Validate a profile-analysis answer; raises ``AnalysisParseError`` naming the problem."""
    try:
        return ProfileInsight.model_validate(loads_json_object(text))
    except ValidationError as exc:
        raise AnalysisParseError(describe_validation_error(exc)) from exc


def parse_starters(text: str) -> StarterSet:
    """Validate a conversation-starters answer; raises ``AnalysisParseError`` naming the problem."""
    try:
        return StarterSet.model_validate(loads_json_object(text))
    except ValidationError as exc:
        raise AnalysisParseError(describe_validation_error(exc)) from exc

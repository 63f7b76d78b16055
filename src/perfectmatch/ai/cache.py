"""Cache keys and TTLs: key = hash(request type, prompt version, model, normalised inputs)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from perfectmatch.ai.prompts import PROMPT_VERSIONS, pair_payload, sanitize
from perfectmatch.ports import PairContext

#: Default time-to-live per request type, in seconds (spec: 24 h, 7 days, 12 h).
DEFAULT_TTLS_S: dict[str, float] = {
    "match_analysis": 24 * 3600.0,
    "profile_analysis": 7 * 24 * 3600.0,
    "conversation_starters": 12 * 3600.0,
}


def normalize(value: Any) -> str:
    """Canonical JSON of the model-visible inputs (sanitised, sorted keys, rounded floats)."""
    return json.dumps(sanitize(value), sort_keys=True, ensure_ascii=True, separators=(",", ":"))


def cache_key(request_type: str, model: str, inputs: Any, *, namespace: str = "ai") -> str:
    """The cache key of one request: changes when the type, prompt version, model or inputs change.

    Only what the model sees enters the key, so a changed profile changes the keys of exactly the
    requests that included it and no other.
    """
    version = PROMPT_VERSIONS[request_type]
    digest = hashlib.sha256(
        "\x1f".join((request_type, version, model, normalize(inputs))).encode("utf-8")
    ).hexdigest()
    return f"{namespace}:{request_type}:{version}:{digest[:40]}"


def pair_inputs(pair: PairContext) -> Mapping[str, Any]:
    """The inputs of a pair analysis, without the pair id (a pair id is a label, not content)."""
    return pair_payload(pair)

"""``LocalAnalyzer``: the no-network fallback (vector-only score, template starters, generic insights)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from perfectmatch.ai.prompts import is_pii_key, scrub_text
from perfectmatch.ports import PairAnalysis, PairContext

DIMENSION_NAMES: dict[str, str] = {
    "RC": "Relationship expectations",
    "CS": "Communication style",
    "EI": "Emotional intelligence",
    "LC": "Lifestyle",
    "CV": "Core values",
    "values": "Core values",
    "communication": "Communication style",
    "expectations": "Relationship expectations",
    "personality": "Personality traits",
}

#: Pre-written insights by score band (lower bound, summary, detail).
INSIGHTS: tuple[tuple[float, str, str], ...] = (
    (80, "A strong match on what matters most to both of you.",
     "Your questionnaire answers line up closely across most dimensions, which usually makes early "
     "conversations easy. Keep talking about the things you both care about."),
    (65, "A promising match with plenty in common.",
     "You share a good part of your values and expectations, with a few areas where you differ. "
     "Those differences can make for interesting conversations."),
    (0, "A match with some common ground and some differences.",
     "Your answers overlap in places and differ in others. Take time to learn how each of you sees "
     "relationships and everyday life."),
)

GENERIC_STARTERS: tuple[str, ...] = (
    "What does a perfect weekend look like for you?",
    "What is something you are looking forward to this month?",
    "Which small habit makes your day better?",
    "What is a place you would love to visit together with someone?",
)

GENERIC_CHALLENGES: tuple[str, ...] = (
    "Agree early on how often you like to be in touch.",
    "Talk openly about what each of you expects from a relationship.",
)


def _label(key: str) -> str:
    return DIMENSION_NAMES.get(key, key.replace("_", " ").strip().capitalize())


def _scalar(v: Any) -> bool:
    return isinstance(v, (str, int, float, bool)) and not (isinstance(v, str) and not v.strip())


def shared_answers(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(question, shared value) for questions both users answered alike; PII keys are skipped."""
    out: list[tuple[str, str]] = []
    for key in sorted(set(a) & set(b)):
        if is_pii_key(str(key)):
            continue
        va, vb = a[key], b[key]
        if isinstance(va, (list, tuple)) and isinstance(vb, (list, tuple)):
            common = [x for x in va if x in vb and _scalar(x)]
            if common:
                out.append((str(key), str(common[0])))
        elif _scalar(va) and va == vb and not isinstance(va, float):
            out.append((str(key), str(va)))
    return out


def template_starters(pair: PairContext, n: int = 3) -> tuple[str, ...]:
    """Conversation starters from shared answers, topped up with generic ones to ``n``."""
    starters = [
        f"You both answered '{scrub_text(value)[:60]}' to {_label(key).lower()}: what drew you to that?"
        for key, value in shared_answers(pair.data_a, pair.data_b)[:n]
    ]
    for generic in GENERIC_STARTERS:
        if len(starters) >= n:
            break
        starters.append(generic)
    return tuple(starters)


def vector_score(pair: PairContext) -> float:
    """The vector-only score: ``vector_score`` (a cosine similarity) mapped to 0-100, clipped."""
    return score_of(pair.vector_score)


def score_of(vector_score: float) -> float:
    """``vector_score`` mapped to 0-100 and clipped, as :func:`vector_score` scores a pair."""
    return round(min(100.0, max(0.0, float(vector_score) * 100.0)), 1)


class LocalAnalyzer:
    """``ports.CompatibilityAnalyzer`` without any network: used when no provider is configured or all fail."""

    name = "fallback"

    def analyze(self, pairs: Sequence[PairContext]) -> list[PairAnalysis]:
        """One ``source='fallback'`` analysis per pair, in input order."""
        return [self.analyze_one(p) for p in pairs]

    def analyze_one(self, pair: PairContext) -> PairAnalysis:
        score = vector_score(pair)
        factors = tuple(
            (_label(k), round(min(100.0, max(0.0, float(v) * 100.0)), 1), f"Vector similarity of {_label(k).lower()}.")
            for k, v in sorted(pair.similarities.items())
        )
        summary, detail = next((s, d) for lo, s, d in INSIGHTS if score >= lo)
        weakest = sorted(pair.similarities.items(), key=lambda kv: kv[1])[:2]
        challenges = tuple(f"{_label(k)} is where your answers differ most." for k, _ in weakest)
        if len(challenges) < 2:
            challenges = (challenges + GENERIC_CHALLENGES)[:2]
        return PairAnalysis(
            pair_id=pair.pair_id,
            score=score,
            source="fallback",
            factors=factors,
            summary=summary,
            detailed_analysis=detail,
            conversation_starters=template_starters(pair),
            challenges=challenges,
        )

    def profile(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """A generic profile analysis: answered-question count and the first few answered topics."""
        topics = [_label(str(k)) for k in sorted(data) if not is_pii_key(str(k))][:5]
        traits = topics[:3] if len(topics) >= 3 else [*topics, "Open to new people", "Thoughtful"][:3]
        return {
            "summary": f"Answered {len(data)} questionnaire items.",
            "key_traits": traits,
        }

"""Premium AI conversation starters for an open conversation, through the AI port."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from perfectmatch.billing.entitlements import Feature
from perfectmatch.models import UserId
from perfectmatch.onboarding import profile_data
from perfectmatch.ports import PairContext
from perfectmatch.social.chat import open_conversation
from perfectmatch.social.errors import PremiumRequiredError
from perfectmatch.social.likes import pair


@dataclass(frozen=True)
class Starters:
    """Suggested openers for ``viewer`` to send ``other``; ``source`` is llm, cache or fallback."""

    viewer: UserId
    other: UserId
    starters: tuple[str, ...]
    source: str


def conversation_starters(app: Any, viewer: UserId, other: UserId) -> Starters:
    """3-5 conversation starters for a mutual pair, for a premium ``viewer``.

    The analyzer sees only questionnaire data and the pair's vector score (no names, places or
    photos). Analyzers with a ``conversation_starters(pair)`` method (``ai.ResilientAnalyzer``: cached,
    with a local fallback) are asked directly; any other ``CompatibilityAnalyzer`` through ``analyze``.

    Raises
    ------
    SelfActionError, NotFound, BlockedError, NotMutualError
        No open conversation between the two.
    PremiumRequiredError
        ``viewer`` is on the free tier.
    """
    with app.uow as uow:
        open_conversation(uow, viewer, other)
        if not app.entitlements.can(viewer, Feature.AI_STARTERS):
            raise PremiumRequiredError(f"user {viewer} is on the free tier: AI conversation starters are premium")
        lo, hi = pair(viewer, other)
        match = uow.matches.get((lo, hi))
        responses = {r.user_id: r for r in uow.responses.find_many([lo, hi])}
    data = {u: profile_data(r) for u, r in responses.items()}
    ctx = PairContext(pair_id=f"chat:{lo}:{hi}", user_a=lo, user_b=hi, data_a=data.get(lo, {}),
                      data_b=data.get(hi, {}), vector_score=match.vector_score)
    ask = getattr(app.analyzer, "conversation_starters", None)
    if callable(ask):
        got = ask(ctx)
        return Starters(viewer, other, tuple(got.conversation_starters), str(got.source))
    (analysis,) = app.analyzer.analyze([ctx])
    return Starters(viewer, other, tuple(analysis.conversation_starters), analysis.source)

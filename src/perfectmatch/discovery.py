"""Match discovery for backends: a user's match list and one match's details, by tier.

Free users see their most recent day's matches with basic insights (overall score, top 3
factors, brief summary); premium users see every match and the full analysis (all factors,
detailed analysis, conversation starters, challenges). Blocked or unmatched pairs never show.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from perfectmatch.ai.content import stored_content
from perfectmatch.billing.entitlements import Feature
from perfectmatch.errors import NotFound
from perfectmatch.models import MatchStatus, UserId, UserStatus

HIDDEN = (MatchStatus.UNMATCHED, MatchStatus.BLOCKED)


@dataclass(frozen=True)
class MatchView:
    """One entry of a match list, as shown to ``viewer``."""

    user_id: UserId
    display_name: str
    age: int
    place: str
    score: float
    day: date
    source: str
    summary: str


def _visible(uow: Any, viewer: UserId) -> tuple[Any, list[Any]]:
    user = uow.users.get(viewer)
    if user.status is not UserStatus.ACTIVE:
        raise NotFound(f"user {viewer} is {user.status.value}")
    blocked = {b.blocked for b in uow.blocks.where(blocker=viewer)}
    blocked |= {b.blocker for b in uow.blocks.where(blocked=viewer)}
    matches = [m for m in uow.batch.matches_of(viewer) if m.status not in HIDDEN
               and (m.user_b if m.user_a == viewer else m.user_a) not in blocked]
    others = sorted({m.user_b if m.user_a == viewer else m.user_a for m in matches})
    live = {u.id for u in uow.users.find_many(others) if u.status is UserStatus.ACTIVE}  # not suspended/erased
    return user, [m for m in matches if (m.user_b if m.user_a == viewer else m.user_a) in live]


def list_matches(app: Any, viewer: UserId, *, limit: int | None = None) -> list[MatchView]:
    """``viewer``'s matches, best score first (free tier: only the most recent day's).

    Raises
    ------
    NotFound
        ``viewer`` does not exist or is not active.
    """
    today = app.clock.now().date()
    with app.uow as uow:
        _, matches = _visible(uow, viewer)
        if matches and not app.entitlements.can(viewer, Feature.FULL_MATCH_LIST):
            latest = max(m.day for m in matches)
            matches = [m for m in matches if m.day == latest]
        matches = matches[:limit] if limit is not None else matches
        others = [m.user_b if m.user_a == viewer else m.user_a for m in matches]
        profiles = {p.user_id: p for p in uow.profiles.find_many(others)}
        insights = uow.batch.insights([m.insight_id for m in matches if m.insight_id])
    views = []
    for m, other in zip(matches, others, strict=True):
        p = profiles.get(other)
        if p is None:
            continue
        ins = insights.get(m.insight_id) if m.insight_id else None
        views.append(MatchView(
            user_id=other, display_name=p.display_name, age=p.age_on(today), place=p.location.place,
            score=m.final_score, day=m.day, source=m.source.value,
            summary=stored_content(ins)[0].get("summary", "") if ins else "",
        ))
    return views


def match_details(app: Any, viewer: UserId, other: UserId) -> dict[str, Any]:
    """The match between ``viewer`` and ``other`` with insight content for ``viewer``'s tier.

    Raises
    ------
    NotFound
        No visible match between the two users.
    """
    with app.uow as uow:
        _, matches = _visible(uow, viewer)
        match = next((m for m in matches if other in (m.user_a, m.user_b)), None)
        if match is None:
            raise NotFound(f"user {viewer} has no match with user {other}")
        profile = uow.profiles.get(other)
        insight = uow.batch.insight(match.insight_id) if match.insight_id else None
    premium = app.entitlements.can(viewer, Feature.PREMIUM_INSIGHTS)
    content: dict[str, Any] = {}
    if insight is not None:
        basic, full = stored_content(insight)
        content = {**basic, **(full if premium else {})}
    return {
        "user_id": other, "display_name": profile.display_name, "age": profile.age_on(app.clock.now().date()),
        "place": profile.location.place, "score": match.final_score, "vector_score": match.vector_score,
        "ai_score": match.ai_score, "source": match.source.value, "day": match.day.isoformat(),
        "tier_view": "premium" if premium else "basic", "insight": content,
    }


def top_matches(app: Any, day: date, *, limit: int = 10) -> list[dict[str, Any]]:
    """The best-scoring matches delivered on ``day`` with both users' names (for operators and demos)."""
    with app.uow as uow:
        best = sorted(uow.batch.matches_on(day), key=lambda m: -m.final_score)[:limit]
        profiles = {p.user_id: p for p in uow.profiles.find_many([u for m in best for u in (m.user_a, m.user_b)])}
    return [
        {"user_a": m.user_a, "name_a": profiles[m.user_a].display_name, "user_b": m.user_b,
         "name_b": profiles[m.user_b].display_name, "score": m.final_score, "source": m.source.value}
        for m in best
    ]

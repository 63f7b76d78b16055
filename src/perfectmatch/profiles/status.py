"""Profile completion status (journey 1's last step): basic profile, photo, questionnaire, analysis.

Read from what is stored, never kept as a flag that could drift: a profile is complete when the
basic profile (profile and preferences) exists, at least one photo is on it, the questionnaire is
completed and the AI profile analysis is done or queued (the AI being down never blocks a user).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select

from perfectmatch.adapters.storage import schema as s
from perfectmatch.adapters.storage.queue import KIND as ANALYSIS_KIND
from perfectmatch.profiles.errors import UnknownUser

STEPS = ("basic_profile", "photo", "questionnaire", "analysis")


@dataclass(frozen=True)
class CompletionStatus:
    """Where ``user_id`` stands; ``analysis`` is ``done``, ``queued`` or ``missing``; ``missing``
    names the unmet steps in journey order (empty when ``complete``)."""

    user_id: int
    basic_profile: bool
    photos: int
    questionnaire: bool
    analysis: str
    missing: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.missing

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "missing": list(self.missing), "complete": self.complete}


def completion_status(app: Any, user_id: int) -> CompletionStatus:
    """The completion status of ``user_id``; ``UnknownUser`` for an unknown id."""

    def has(table: Any, *where: Any) -> bool:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one() > 0

    with app.engine.connect() as conn:
        if conn.execute(select(s.users.c.id).where(s.users.c.id == user_id)).first() is None:
            raise UnknownUser(user_id)
        basic = has(s.profiles, s.profiles.c.user_id == user_id) and has(
            s.preferences, s.preferences.c.user_id == user_id
        )
        photos = int(
            conn.execute(select(func.count()).select_from(s.photos).where(s.photos.c.user_id == user_id)).scalar_one()
        )
        answered = has(s.responses, s.responses.c.user_id == user_id, s.responses.c.completed_at.is_not(None))
        if has(s.profile_insights, s.profile_insights.c.user_id == user_id):
            analysis = "done"
        elif has(s.analysis_queue, s.analysis_queue.c.user_id == user_id, s.analysis_queue.c.kind == ANALYSIS_KIND):
            analysis = "queued"
        else:
            analysis = "missing"
    done = {"basic_profile": basic, "photo": photos > 0, "questionnaire": answered, "analysis": analysis != "missing"}
    return CompletionStatus(user_id, basic, photos, answered, analysis, tuple(k for k in STEPS if not done[k]))

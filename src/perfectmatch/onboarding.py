"""Journey 1's last steps: a completed questionnaire becomes a stored response, a profile vector and
a profile analysis — or, when the AI is unavailable, a durably queued analysis request, so the
profile still completes (the spec's "queued for later processing"). ``drain_profile_queue`` retries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from perfectmatch.models import QuestionnaireResponse, UserId
from perfectmatch.questionnaire.completion import CompletionReport
from perfectmatch.questionnaire.session import Session


@dataclass(frozen=True)
class OnboardingResult:
    """``analysis`` is ``"done"``, ``"queued"`` (AI unavailable) or ``"not requested"`` (incomplete)."""

    user_id: UserId
    complete: bool
    report: CompletionReport
    analysis: str
    summary: str = ""


def profile_data(response: QuestionnaireResponse) -> dict[str, Any]:
    """What the AI may see of a profile: structured answers with importance and open answers."""
    return {
        "answers": {a.question_id: list(a.value) if isinstance(a.value, tuple) else a.value for a in response.answers},
        "importance": {a.question_id: a.importance for a in response.answers},
        "open_answers": dict(response.open_texts),
    }


def complete_questionnaire(app: Any, user_id: UserId, session: Session) -> OnboardingResult:
    """Store ``session``'s response and vector when complete, then request the profile analysis.

    Incomplete sessions change nothing and report which completion criteria are missing.
    """
    from perfectmatch.batch_stages import build_vectors
    from perfectmatch.ports import NO_PROGRESS

    result = session.result(user_id, now=app.clock.now())
    if not result.complete:
        return OnboardingResult(user_id, False, result.report, "not requested")
    with app.uow as uow:
        uow.users.get(user_id)  # NotFound for an unknown user, before anything is written
        uow.responses.add(result.response)
        uow.vector_matrix.save_matrix(build_vectors(uow, app.vector_spec, [user_id], NO_PROGRESS))
        uow.commit()
    analysis = _analyze_or_queue(app, user_id, profile_data(result.response))
    return OnboardingResult(user_id, True, result.report, "queued" if analysis is None else "done",
                            "" if analysis is None else analysis.summary)


def _analyze_or_queue(app: Any, user_id: UserId, data: dict[str, Any]) -> Any:
    analysis = app.analyzer.analyze_profile(data)
    if analysis.source == "fallback":  # no model could answer: keep the request for later
        app.analysis_queue.enqueue(user_id, data)
        return None
    store_profile_insight(app, user_id, analysis)
    return analysis


def store_profile_insight(app: Any, user_id: UserId, analysis: Any) -> None:
    from perfectmatch.adapters.storage import schema as s
    from perfectmatch.adapters.storage.repositories import upsert

    row = {"user_id": int(user_id), "summary": analysis.summary, "key_traits": list(analysis.key_traits),
           "source": analysis.source, "created_at": app.clock.now()}
    with app.engine.begin() as conn:
        conn.execute(upsert(conn, s.profile_insights, ("user_id",)), [row])


def drain_profile_queue(app: Any, *, limit: int = 100) -> dict[str, Any]:
    """Analyse queued profiles; results are stored before their request leaves the queue."""
    from perfectmatch.ai import drain_queue

    report = drain_queue(app.analysis_queue, app.analyzer, limit=limit,
                         store=lambda uid, analysis: store_profile_insight(app, uid, analysis))
    return {"provider": getattr(app.analyzer, "description", ""), "analysed": report.analysed,
            "released": report.released, "remaining": report.remaining}

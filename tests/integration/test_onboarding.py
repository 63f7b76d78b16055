"""Journey 1 (questionnaire part): complete -> response + vector stored -> profile analysis, or
queued while the AI is down and drained when it is back (fake OpenAI-compatible server)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from perfectmatch.adapters.clock import FakeClock
from perfectmatch.adapters.storage import schema as s
from perfectmatch.ai.fake_server import FakeOpenAIServer
from perfectmatch.bootstrap import App, build_app
from perfectmatch.config import Settings
from perfectmatch.models import User
from perfectmatch.onboarding import complete_questionnaire, drain_profile_queue
from perfectmatch.questionnaire import default_bank
from perfectmatch.questionnaire.respondents import make_respondents
from perfectmatch.questionnaire.session import Session

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


def app_for(url: str, monkeypatch: pytest.MonkeyPatch, server: FakeOpenAIServer | None) -> App:
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "DEEPSEEK_API_KEY", "DEEPSEEK_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    if server is not None:
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    return build_app(Settings(_env_file=None, db_url=url, cache={"backend": "none"}), clock=FakeClock(NOW))


def finished_session(seed: int) -> Session:
    bank = default_bank()
    respondent = make_respondents(1, seed=seed, fatigue=False)[0]
    session = Session(bank, seed=seed)
    while (q := session.next_question()) is not None:
        value, importance, seconds = respondent.answer(q)
        session.answer(q.id, value, importance=importance, seconds=max(seconds, 4.0))
    return session


def test_incomplete_session_changes_nothing(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app = app_for(db_url, monkeypatch, None)
    with app.uow as uow:
        uid = uow.users.add(User(created_at=NOW, last_active_at=NOW)).id
        uow.commit()
    result = complete_questionnaire(app, uid, Session(default_bank()))
    assert not result.complete and result.analysis == "not requested"
    assert {c.name for c in result.report.unmet}  # tells the UI what is missing
    with app.uow as uow:
        assert uow.responses.find(uid) is None
    app.close()


def test_ai_down_queues_then_drain_stores(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app = app_for(db_url, monkeypatch, None)  # no provider: only the local fallback can answer
    with app.uow as uow:
        uid = uow.users.add(User(created_at=NOW, last_active_at=NOW)).id
        uow.commit()
    session = finished_session(3)
    result = complete_questionnaire(app, uid, session)
    assert result.complete, result.report
    assert result.analysis == "queued" and app.analysis_queue.pending() == 1
    with app.uow as uow:
        assert uow.responses.get(uid).completed_at == NOW
        assert uow.vector_matrix.load_matrix(app.vector_spec.version, ids=[uid]).ids.tolist() == [uid]
    app.close()

    server = FakeOpenAIServer().start()
    try:
        back = app_for(db_url, monkeypatch, server)  # a restart later, with the AI reachable again
        assert back.analysis_queue.pending() == 1  # nothing was lost
        report = drain_profile_queue(back)
        assert report["analysed"] == 1 and report["remaining"] == 0
        with back.engine.connect() as conn:
            row = conn.execute(s.profile_insights.select()).mappings().one()
        assert row["user_id"] == uid and row["source"] == "llm" and row["summary"]
        back.close()
    finally:
        server.stop()

"""A full batch against the fake OpenAI server logs JSON lines with a run id and no secret or personal text."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import String, select

from perfectmatch.adapters.cache.memory import MemoryCache
from perfectmatch.adapters.clock import FakeClock
from perfectmatch.adapters.notify.basic import RecordingNotifier
from perfectmatch.adapters.storage.schema import responses, users
from perfectmatch.ai.fake_server import FakeOpenAIServer
from perfectmatch.bootstrap import build_app
from perfectmatch.config import Settings
from perfectmatch.ops.logs import configure, run_context, settings_secrets
from perfectmatch.pipeline import run_daily_batch
from perfectmatch.populations.store import simulate_and_store

DAY = date(2026, 11, 25)
API_KEY = "sk-test-Zq9vN3pL7xW2rT8yK4mB"


@pytest.fixture
def captured() -> io.StringIO:
    buf = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure("DEBUG", json=True, stream=buf, secrets=[API_KEY])
    yield buf
    root.removeHandler(handler)
    root.setLevel(level)


def test_full_batch_logs_carry_run_id_and_no_key_email_or_answer(
        tmp_path: Path, captured: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "DEEPSEEK_API_KEY", "DEEPSEEK_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    with FakeOpenAIServer() as fake:
        clock = FakeClock(datetime(2026, 11, 25, 3, tzinfo=UTC))
        settings = Settings(_env_file=None, db_url=f"sqlite:///{tmp_path / 'pm.db'}", cache={"backend": "none"},
                            ai={"openai_api_key": API_KEY, "openai_base_url": fake.base_url}, seed=2)
        assert settings_secrets(settings) == [API_KEY]
        app = build_app(settings, clock=clock, cache=MemoryCache(clock), notifier=RecordingNotifier())
        simulate_and_store(app.uow, 300, 9, today=DAY)
        with app.uow as uow:  # simulated users have no email: give them real-looking ones
            uow.connection.execute(users.update().values(email="member" + users.c.id.cast(String) + "@example.org"))
            uow.commit()
            emails = [e for e in uow.connection.execute(select(users.c.email)).scalars() if e]
            open_texts = [t for row in uow.connection.execute(select(responses.c.open_texts)).scalars()
                          for t in (row.values() if isinstance(row, dict) else row) if isinstance(t, str)]
        with run_context("run-test-1"):
            log = logging.getLogger("perfectmatch.ops")
            # careless log lines a developer might add: the filter must still keep the data out
            log.info("batch starting for %s with key %s", emails[0], API_KEY)
            log.debug("first answer %r, member %s", open_texts[0], {"email": emails[1], "api_key": API_KEY})
            log.warning(f"user {emails[2]} wrote: {max(open_texts, key=len)}")
            report = run_daily_batch(app, day=DAY)
            try:
                raise ValueError(f"bad answer {open_texts[1]!r} from {emails[3]}")
            except ValueError:
                log.exception("analysis failed")
        app.close()
        assert fake.total_requests > 0  # the answers really went over HTTP (and openai/httpx logged them)
    assert report.counts["matches"] > 0
    assert emails and len(open_texts) > 100
    text = captured.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) > 10
    assert any(rec["logger"].startswith(("openai", "httpx", "httpcore")) for rec in lines)
    first = next(i for i, rec in enumerate(lines) if rec["logger"] == "perfectmatch.ops")
    assert all(rec["run_id"] == "run-test-1" for rec in lines[first:])  # everything logged during the run
    assert API_KEY not in text and API_KEY[3:] not in text
    leaked_emails = [e for e in emails if e in text]
    assert leaked_emails == []
    assert "@" not in text.replace("[email]", "")
    long_texts = [t for t in open_texts if len(t) >= 12]
    leaked = [t for t in long_texts if t in text or json.dumps(t)[1:-1] in text]
    assert leaked == []

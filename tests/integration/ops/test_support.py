"""Containment and support data on real SQLite and PostgreSQL: suspend/reinstate, show, export, erase."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import String, select
from typer.testing import CliRunner

from perfectmatch.adapters.cache.memory import MemoryCache
from perfectmatch.adapters.clock import FakeClock
from perfectmatch.adapters.notify.basic import RecordingNotifier
from perfectmatch.adapters.storage.schema import messages, metadata, responses, users, webhook_events
from perfectmatch.bootstrap import App, build_app
from perfectmatch.cli import app as cli_app
from perfectmatch.config import Settings
from perfectmatch.discovery import list_matches
from perfectmatch.errors import InvalidInputError, NotFound
from perfectmatch.models import UserStatus
from perfectmatch.ops.audit import ERASED, EXPORTED, REINSTATED, SUSPENDED, audit, audit_events
from perfectmatch.ops.containment import reinstate_user, suspend_user
from perfectmatch.ops.support import DELETED_BODY, DELETED_NAME, erase_user, export_user, show_user
from perfectmatch.pipeline import run_daily_batch
from perfectmatch.populations.store import simulate_and_store
from perfectmatch.social import chat, likes
from perfectmatch.social.delivery import RetryPolicy
from perfectmatch.social.wiring import install

DAY = date(2026, 11, 25)
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def app(db_url: str) -> Iterator[App]:
    clock = FakeClock(NOW)
    settings = Settings(_env_file=None, db_url=db_url, cache={"backend": "none"}, seed=5)
    app = build_app(settings, clock=clock, cache=MemoryCache(clock), notifier=RecordingNotifier())
    install(app, policy=RetryPolicy(attempts=3, base_s=0.01, sleep=lambda s: None))
    simulate_and_store(app.uow, 500, 7, today=DAY, vector_spec=app.vector_spec)
    with app.uow as uow:  # simulated users have no email: give them real-looking ones
        uow.connection.execute(users.update().values(email="member" + users.c.id.cast(String) + "@example.org"))
        uow.commit()
    report = run_daily_batch(app, day=DAY)
    assert report.status == "done" and report.counts["matches"] > 0
    yield app
    app.close()


def mutual_pair(app: App) -> tuple[int, int]:
    """The best match of the day, liked both ways (so the two can message)."""
    with app.uow as uow:
        best = max(uow.batch.matches_on(DAY), key=lambda m: m.final_score)
    a, b = best.user_a, best.user_b
    likes.like(app, a, b)
    assert likes.like(app, b, a).mutual
    return a, b


def active_ids(app: App) -> set[int]:
    with app.uow as uow:
        return {int(i) for i in uow.population.load(active_on=DAY).ids}


def batch_users(app: App, day: date) -> set[int]:
    assert run_daily_batch(app, day=day).status == "done"
    with app.uow as uow:
        return {u for m in uow.batch.matches_on(day) for u in (m.user_a, m.user_b)}


def test_suspend_refuses_lists_messages_and_batches_then_reinstate(app: App) -> None:
    a, b = mutual_pair(app)
    chat.send_message(app, a, b, "before")
    assert app.cache.get(f"recent_matches:{a}") is not None
    out = suspend_user(app, a, reason="spam reports", actor="ops")
    assert out == {"user_id": a, "status": "suspended", "previous": "active", "changed": True}
    assert app.cache.get(f"recent_matches:{a}") is None
    with pytest.raises(NotFound, match="suspended"):
        list_matches(app, a)
    with pytest.raises(NotFound, match="suspended"):
        chat.send_message(app, a, b, "still here?")
    with pytest.raises(NotFound, match="suspended"):
        chat.send_message(app, b, a, "hello?")
    assert a not in [v.user_id for v in list_matches(app, b)]  # gone from the other side's list at once
    assert a not in active_ids(app)
    assert a not in batch_users(app, DAY + timedelta(days=1))
    assert suspend_user(app, a)["changed"] is False  # idempotent: no second audit row
    events = audit_events(app, user_id=a)
    assert [(e["kind"], e["actor"], e["detail"]) for e in events] == [
        (SUSPENDED, "ops", {"reason": "spam reports", "from": "active"})]
    assert events[0]["at"] == NOW

    assert reinstate_user(app, a)["status"] == "active"
    assert b in [v.user_id for v in list_matches(app, a)]
    assert a in [v.user_id for v in list_matches(app, b)]
    chat.send_message(app, a, b, "back")
    assert a in active_ids(app)
    assert [e["kind"] for e in audit_events(app, user_id=a)] == [SUSPENDED, REINSTATED]
    with pytest.raises(NotFound):
        suspend_user(app, 10**9)


def test_suspended_liker_leaves_who_liked_me_at_once(app: App) -> None:
    with app.uow as uow:
        best = max(uow.batch.matches_on(DAY), key=lambda m: m.final_score)
    a, b = best.user_a, best.user_b
    with app.engine.begin() as conn:
        conn.execute(users.update().where(users.c.id == b).values(tier="premium"))
    likes.like(app, a, b)
    assert [x["user_id"] for x in likes.likers_of(app, b)] == [a]
    suspend_user(app, a)
    assert likes.likers_of(app, b) == []
    reinstate_user(app, a)
    assert [x["user_id"] for x in likes.likers_of(app, b)] == [a]


def test_audit_accepts_events_without_a_user_inside_a_transaction(app: App) -> None:
    with app.engine.begin() as conn:
        audit(conn, "auth.login_failed", None, {"ip": "192.0.2.1"}, actor="api")
    with app.engine.connect() as conn:
        try:
            with conn.begin():
                audit(conn, "webhook.signature_failed", None, {"event": "evt_1"})
                raise RuntimeError("rolled back with the caller's transaction")
        except RuntimeError:
            pass
    assert [(e["kind"], e["user_id"]) for e in audit_events(app)] == [("auth.login_failed", None)]


def dump_all(app: App) -> str:
    """Every row of every table as text (bytes decoded leniently), for searching."""
    parts = []
    with app.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)):
                parts.append(json.dumps([v.decode("latin-1") if isinstance(v, bytes) else v for v in row],
                                        default=str, ensure_ascii=False))
    return "\n".join(parts)


def make_open_texts_unique(app: App, uid: int) -> list[str]:
    """Simulated answers come from a shared pool; a real person's are their own: make ``uid``'s unique."""
    with app.engine.begin() as conn:
        row = conn.execute(select(responses.c.open_texts).where(responses.c.user_id == uid)).scalar_one()
        if isinstance(row, dict):
            row = {k: f"{v} (as member {uid} wrote, ref q{k}x)" if isinstance(v, str) else v for k, v in row.items()}
        else:
            row = [f"{v} (as member {uid} wrote, ref q{i}x)" if isinstance(v, str) else v for i, v in enumerate(row)]
        conn.execute(responses.update().where(responses.c.user_id == uid).values(open_texts=row))
    values = row.values() if isinstance(row, dict) else row
    return [t for t in values if isinstance(t, str)]


def test_export_then_erase_leaves_no_personal_data_anywhere(app: App, tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    a, b = mutual_pair(app)
    email = f"member{a}@example.org"
    texts = make_open_texts_unique(app, a)
    assert texts, "the simulated user should have open answers"
    secret = f"my real name is {texts[0]}"
    chat.send_message(app, a, b, secret)
    chat.send_message(app, b, a, "kept: the other side's own words")
    with app.engine.begin() as conn:
        conn.execute(webhook_events.insert().values(
            event_id="evt_1", event_type="customer.updated", received_at=NOW, outcome="applied",
            detail=json.dumps({"customer": {"email": email, "id": "cus_1"}})))
    haystack = dump_all(app)
    assert email in haystack and texts[0] in haystack  # the search below can find them
    assert app.cache.get(f"recent_matches:{a}") is not None

    result = export_user(app, a, tmp_path / "a.json", actor="support")
    data = json.loads((tmp_path / "a.json").read_text())
    assert data["user"]["email"] == email and data["user"]["id"] == a
    assert data["audit_events"] == []  # the export itself is audited after it is written
    assert texts[0] in json.dumps(data["questionnaire_response"])
    assert [m["body"] for m in data["messages_sent"]] == [secret]  # only their own messages
    assert data["vector"]["dim"] > 0 and "data" not in data["vector"]
    assert data["likes_given"] == [dict(data["likes_given"][0], liker=a, likee=b)]
    assert len(data["conversations"]) == 1 and data["notifications"]
    assert result["sections"]["matches"] == len(data["matches"]) > 0
    shown = show_user(app, a)
    assert shown["counts"]["matches"] == len(data["matches"]) and shown["counts"]["messages_sent"] == 1

    assert a in [v.user_id for v in list_matches(app, b)]
    with caplog.at_level(logging.DEBUG):
        erased = erase_user(app, a, actor="support")
    assert email not in caplog.text and all(t not in caplog.text for t in texts)
    assert erased["rows"]["responses"] == 1 and erased["rows"]["messages"] == 1
    assert erased["rows"]["webhook_events"] == 1
    text = dump_all(app)
    assert email not in text
    assert [t for t in texts if t in text or json.dumps(t)[1:-1] in text] == []
    assert secret not in text and "kept: the other side's own words" in text
    cache_text = json.dumps(app.cache._data)  # type: ignore[attr-defined]
    assert f"recent_matches:{a}" not in cache_text and email not in cache_text
    assert all(t not in cache_text for t in texts)
    with app.engine.connect() as conn:
        bodies = dict(conn.execute(select(messages.c.sender_id, messages.c.body)).all())
    assert bodies[a] == DELETED_BODY

    after = show_user(app, a)
    assert after["user"]["status"] == UserStatus.DELETED.value and after["user"]["email"] is None
    assert after["profile"]["display_name"] == DELETED_NAME and after["profile"]["photos"] == []
    assert after["counts"]["matches"] == shown["counts"]["matches"]  # aggregates kept
    assert after["preferences"] is None
    assert a not in active_ids(app)
    assert a not in batch_users(app, DAY + timedelta(days=1))
    with pytest.raises(NotFound):
        list_matches(app, a)
    assert a not in [v.user_id for v in list_matches(app, b)]  # gone from the other side's list too
    with pytest.raises(NotFound):
        chat.send_message(app, b, a, "anyone there?")
    with pytest.raises(InvalidInputError):
        reinstate_user(app, a)
    assert [e["kind"] for e in audit_events(app, user_id=a)] == [EXPORTED, ERASED]
    again = erase_user(app, a)  # idempotent: nothing personal left to touch
    assert again["rows"]["responses"] == 0 and "webhook_events" not in again["rows"]  # no email left to look for
    assert dump_all(app).count(email) == 0
    assert email not in json.dumps(audit_events(app), default=str)


def test_cli_user_commands_and_unknown_id(app: App, db_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    with app.uow as uow:
        uid = int(sorted(uow.population.load().ids)[0])
    base = ["--db", db_url, "--json"]
    shown = runner.invoke(cli_app, [*base, "user", "show", str(uid)])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["user"]["email"] == f"member{uid}@example.org"
    res = runner.invoke(cli_app, [*base, "user", "suspend", str(uid), "--reason", "fraud"])
    assert res.exit_code == 0 and json.loads(res.stdout)["status"] == "suspended"
    res = runner.invoke(cli_app, [*base, "user", "reinstate", str(uid)])
    assert res.exit_code == 0 and json.loads(res.stdout)["status"] == "active"
    out = tmp_path / "u.json"
    res = runner.invoke(cli_app, [*base, "user", "export", str(uid), "--out", str(out)])
    assert res.exit_code == 0 and json.loads(out.read_text())["user"]["id"] == uid
    res = runner.invoke(cli_app, [*base, "user", "erase", str(uid)])
    assert res.exit_code == 0 and json.loads(res.stdout)["status"] == "deleted"
    assert [e["kind"] for e in audit_events(app, user_id=uid)] == [SUSPENDED, REINSTATED, EXPORTED, ERASED]


@pytest.mark.parametrize("argv", [["show", "999999"], ["export", "999999", "--out", "x.json"],
                                  ["erase", "999999"], ["suspend", "999999"], ["reinstate", "999999"]])
def test_cli_unknown_user_is_one_error_line(db_url: str, argv: list[str], capsys: pytest.CaptureFixture[str],
                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from perfectmatch.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["--db", db_url, "user", *argv]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["Error: user 999999 not found"]
    assert not (tmp_path / "x.json").exists()

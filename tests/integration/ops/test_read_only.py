"""Read-only mode on SQLite and PostgreSQL: every write path is refused and changes nothing, reads
keep working, every process on the database follows the runtime switch, and turning it off restores writes."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from perfectmatch.adapters.cache.memory import MemoryCache
from perfectmatch.adapters.clock import FakeClock
from perfectmatch.adapters.notify.basic import RecordingNotifier
from perfectmatch.adapters.storage.billing import SqlAlchemyBillingStore
from perfectmatch.adapters.storage.population import bulk_insert
from perfectmatch.adapters.storage.readonly import (
    READ_ONLY_OFF,
    READ_ONLY_ON,
    describe_statement,
    is_write,
    read_only_state,
    set_read_only,
)
from perfectmatch.adapters.storage.schema import metadata
from perfectmatch.billing.webhooks import handle_webhook, signature_header
from perfectmatch.bootstrap import App, build_app
from perfectmatch.cli import main
from perfectmatch.config import Settings
from perfectmatch.errors import ReadOnlyError
from perfectmatch.models import User
from perfectmatch.onboarding import complete_questionnaire
from perfectmatch.ops.audit import audit_events
from perfectmatch.pipeline import run_daily_batch
from perfectmatch.populations.store import simulate_and_store
from perfectmatch.questionnaire import default_bank
from perfectmatch.questionnaire.respondents import make_respondents
from perfectmatch.questionnaire.session import Session
from perfectmatch.social.likes import like

DAY = date(2026, 11, 25)
NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def make_app(url: str, **settings: object) -> App:
    clock = FakeClock(NOW)
    cfg = Settings(
        _env_file=None,
        db_url=url,
        cache={"backend": "none"},
        seed=3,
        read_only_check_s=0,
        matching={"ai_stage": False},
        **settings,
    )
    return build_app(cfg, clock=clock, cache=MemoryCache(clock), notifier=RecordingNotifier())


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one()) for t in metadata.sorted_tables
        }


def finished_session(seed: int) -> Session:
    respondent = make_respondents(1, seed=seed, fatigue=False)[0]
    session = Session(default_bank(), seed=seed)
    while (q := session.next_question()) is not None:
        value, importance, seconds = respondent.answer(q)
        session.answer(q.id, value, importance=importance, seconds=max(seconds, 4.0))
    return session


def webhook(user_id: int) -> tuple[bytes, str]:
    start, end = int(NOW.timestamp()) - 10, int(NOW.timestamp()) + 30 * 86400
    payload = (
        b'{"id": "evt_ro", "type": "invoice.paid", "created": 1, "data": {"object": {"id": "in_1",'
        b' "subscription": "sub_1", "customer": "cus_9", "amount_paid": 1999, "currency": "usd",'
        b' "subscription_details": {"metadata": {"user_id": "%d"}}, "lines": {"data": [{"period":'
        b' {"start": %d, "end": %d}}]}}}}' % (user_id, start, end)
    )
    return payload, signature_header(payload, ["whsec_1"], int(NOW.timestamp()))


def apply_webhook(app: App, user_id: int) -> object:
    payload, header = webhook(user_id)
    with app.uow as uow:
        outcome = handle_webhook(
            payload, header, store=SqlAlchemyBillingStore(uow.connection), clock=app.clock, secrets="whsec_1"
        )
        uow.commit()
    return outcome


def test_every_write_refused_reads_work_then_off_restores(db_url: str) -> None:
    app = make_app(db_url)
    simulate_and_store(app.uow, 300, 5, today=DAY)
    run_daily_batch(app, day=DAY)
    with app.uow as uow:
        match = uow.batch.matches_on(DAY)[0]
        newcomer = uow.users.add(User(created_at=NOW, last_active_at=NOW)).id
        uow.commit()
    before = counts(app.engine)
    other = make_app(db_url)  # a second process on the same database

    state = set_read_only(app.engine, True, at=NOW, actor="oncall", reason="incident 42")
    assert state.on and state.source == "switch" and state.reason == "incident 42"
    tomorrow = date(2026, 11, 26)
    refusals = {
        "batch run": lambda: run_daily_batch(app, day=tomorrow),
        "like": lambda: like(app, match.user_a, match.user_b),
        "billing webhook": lambda: apply_webhook(app, match.user_a),
        "questionnaire completion": lambda: complete_questionnaire(app, newcomer, finished_session(7)),
        "other process: like": lambda: like(other, match.user_b, match.user_a),
        "raw bulk path (COPY on PostgreSQL)": lambda: _bulk_like(app, match.user_a, match.user_b),
    }
    if app.engine.dialect.name == "postgresql":  # a write hidden in a SELECT: the database itself refuses it
        refusals["nextval in a SELECT"] = lambda: _nextval(app)
    for name, attempt in refusals.items():
        with pytest.raises(ReadOnlyError, match=r"read-only mode is ON .*incident 42") as info:
            attempt()
        assert "read-only off" in str(info.value), name
    switch_row = {"audit_log": before["audit_log"] + 1}  # the switch itself is audited
    assert counts(app.engine) == {**before, **switch_row}, "a refused write changed something"
    # reads keep working; cache writes are skipped, not stored
    with app.uow as uow:
        assert uow.batch.matches_on(DAY)[0] == match
        assert uow.users.get(newcomer).id == newcomer
    app.cache.set("probe", 1)
    assert app.cache.get("probe") is None
    assert read_only_state(other.engine).on

    assert not set_read_only(app.engine, False, at=NOW, actor="oncall").on
    assert like(other, match.user_a, match.user_b).new
    assert apply_webhook(app, match.user_a).value == "applied"
    assert complete_questionnaire(app, newcomer, finished_session(7)).complete
    assert run_daily_batch(app, day=tomorrow).status == "done"
    app.cache.set("probe", 1)
    assert app.cache.get("probe") == 1
    assert [e["kind"] for e in audit_events(app)] == [READ_ONLY_ON, READ_ONLY_OFF]
    other.close()
    app.close()


def _nextval(app: App) -> None:
    with app.uow as uow:
        uow.connection.exec_driver_sql("SELECT nextval(pg_get_serial_sequence('users', 'id'))")


def _bulk_like(app: App, a: int, b: int) -> None:
    with app.uow as uow:
        bulk_insert(uow.connection, "likes", ("liker", "likee", "created_at"), [(a, b, NOW)])
        uow.commit()


def test_setting_makes_one_process_read_only_whatever_the_switch(tmp_path: Path, sqlite_template: Path) -> None:
    path = tmp_path / "ro.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    app = make_app(url, read_only=True)
    assert app.read_only.state.source == "setting"
    with pytest.raises(ReadOnlyError, match="PERFECTMATCH_READ_ONLY") as info, app.uow as uow:
        uow.users.add(User(created_at=NOW, last_active_at=NOW))
    assert "INSERT on users" in str(info.value)
    set_read_only(app.engine, False, at=NOW)  # the runtime switch cannot lift the setting
    with pytest.raises(ReadOnlyError), app.uow as uow:
        uow.users.add(User(created_at=NOW, last_active_at=NOW))
    writer = make_app(url)  # another process without the setting writes normally
    with writer.uow as uow:
        uow.users.add(User(created_at=NOW, last_active_at=NOW))
        uow.commit()
    writer.close()
    app.close()


@pytest.mark.parametrize(
    ("sql", "write"),
    [
        ("SELECT * FROM users", False),
        ("  /* hint */ select 1", False),
        ("(SELECT 1) UNION (SELECT 2)", False),
        ("WITH x AS (SELECT 1) SELECT * FROM x", False),
        ("EXPLAIN SELECT 1", False),
        ("PRAGMA table_info(users)", False),
        ("SAVEPOINT sa_1", False),
        ("RELEASE SAVEPOINT sa_1", False),
        ("SHOW server_version", False),
        ("INSERT INTO likes VALUES (1)", True),
        ("update users set tier='x'", True),
        ("DELETE FROM likes", True),
        ("WITH x AS (DELETE FROM likes RETURNING *) SELECT * FROM x", True),
        ("CREATE TABLE t (x int)", True),
        ("DROP TABLE t", True),
        ("ALTER TABLE t ADD y int", True),
        ("TRUNCATE likes", True),
        ("VACUUM", True),
        ("ANALYZE", True),
        ("EXPLAIN ANALYZE DELETE FROM likes", True),
        ("PRAGMA user_version = 3", True),
        ("COPY likes FROM STDIN", True),
        ("-- note\nREPLACE INTO likes VALUES (1)", True),
        ("MERGE INTO t", True),
    ],
)
def test_statement_classification(sql: str, write: bool) -> None:
    assert is_write(sql) is write


def test_refusal_names_statement_and_table() -> None:
    assert describe_statement('INSERT INTO "likes" (liker) VALUES (1)') == "INSERT on likes"
    assert describe_statement("UPDATE users SET tier = 'premium'") == "UPDATE on users"


def test_cli_switch_status_and_one_line_refusal(
    tmp_path: Path, sqlite_template: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cli.db"
    shutil.copy(sqlite_template, path)
    db = ["--db", f"sqlite:///{path}"]
    assert main([*db, "read-only", "on", "--reason", "incident 7", "--actor", "alice"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("read-only mode is ON") and "alice: incident 7" in out and len(out.splitlines()) == 1
    assert main([*db, "simulate", "--users", "20"]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("Error: ") and "read-only mode is ON" in err[0], err
    assert "Traceback" not in err[0]
    assert main([*db, "read-only", "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["read_only"] is True
    assert main([*db, "read-only", "off"]) == 0
    assert capsys.readouterr().out.strip() == "read-only mode is off: writes are allowed"
    assert main([*db, "simulate", "--users", "20"]) == 0

"""The social commands end to end on SQLite and PostgreSQL: like, chat, notifications, block, bad input."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

import sample_images as si
from perfectmatch.adapters.clock import FakeClock
from perfectmatch.adapters.notify.basic import RecordingNotifier
from perfectmatch.bootstrap import build_app
from perfectmatch.cli import main
from perfectmatch.config import Settings
from perfectmatch.models import Match, ScoreSource, Tier
from perfectmatch.populations.store import simulate_and_store

DAY = date(2026, 11, 25)


@pytest.fixture
def matched(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, int, int]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PERFECTMATCH_CACHE__BACKEND", "none")
    app = build_app(Settings(_env_file=None, db_url=db_url, cache={"backend": "none"}),
                    clock=FakeClock(datetime(2026, 11, 25, 12, tzinfo=UTC)), notifier=RecordingNotifier())
    simulate_and_store(app.uow, 10, 4, today=DAY, vector_spec=app.vector_spec)
    with app.uow as uow:
        a, b = sorted(int(u.id) for u in uow.users.where(status="active"))[:2]
        for uid in (a, b):
            uow.users.add(uow.users.get(uid).model_copy(update={"tier": Tier.FREE}))
        uow.matches.add(Match(user_a=a, user_b=b, day=DAY, vector_score=0.6, final_score=81.0,
                              source=ScoreSource.VECTOR))
        uow.commit()
    app.close()
    return db_url, a, b


def run(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, Any, str]:
    code = main(["--db", url, "--json", *args])
    out = capsys.readouterr()
    return code, (json.loads(out.out) if out.out.strip() else None), out.err


def test_social_commands(matched: tuple[str, int, int], capsys: pytest.CaptureFixture[str]) -> None:
    url, a, b = matched
    code, out, _ = run(capsys, url, "like", str(a), str(b))
    assert code == 0 and out["mutual"] is False
    code, out, _ = run(capsys, url, "like", str(b), str(a))
    assert code == 0 and out["mutual"] is True and out["conversation_id"]
    code, out, _ = run(capsys, url, "chat", "send", str(a), str(b), "hello from the CLI")
    assert code == 0 and out["delivery"] == "delivered"
    code, out, _ = run(capsys, url, "chat", "history", str(b), str(a))
    assert [m["body"] for m in out["messages"]] == ["hello from the CLI"]
    code, out, err = run(capsys, url, "chat", "starters", str(a), str(b))
    assert code == 1 and "premium" in err  # both were made free above
    code, out, _ = run(capsys, url, "notifications", str(b))
    assert code == 0 and out["badge"] == 3  # the (anonymous) like, the mutual match and the message
    assert {n["type"] for n in out["notifications"]} == {"like", "message", "mutual_match"}
    first = out["notifications"][0]["notificationId"]
    code, out, _ = run(capsys, url, "notifications", str(b), "--read", first)
    assert out["badge"] == 2

    code, out, _ = run(capsys, url, "notification-prefs", str(a), "--quiet", "22:00-07:00", "--tz",
                       "Europe/Berlin", "--off", "like", "--email", "--max-per-hour", "5")
    assert code == 0 and out["quiet_start"] == "22:00:00" and out["timezone"] == "Europe/Berlin"
    assert out["enabled"] == {"like": False} and out["channels"]["email"] and out["max_per_hour"] == 5
    code, out, _ = run(capsys, url, "notification-prefs", str(a))
    assert out["quiet_end"] == "07:00:00"  # stored
    code, out, err = run(capsys, url, "notification-prefs", str(a), "--off", "pokes")
    assert code == 1 and "unknown notification type" in err
    code, out, err = run(capsys, url, "notification-prefs", str(a), "--tz", "Mars/Base")
    assert code == 1 and "time zone" in err
    code, out, _ = run(capsys, url, "notifications-flush", "--purge")
    assert code == 0 and out["due"] == 0 and out["purged"] == 0

    Path("not-a-picture.jpg").write_text("hello")
    code, out, err = run(capsys, url, "chat", "send-image", str(a), str(b), "not-a-picture.jpg")
    assert code == 1 and out is None and err.startswith("Error:") and "not-a-picture.jpg" in err
    Path("pic.png").write_bytes(si.no_face())
    code, out, _ = run(capsys, url, "chat", "send-image", str(a), str(b), "pic.png")
    assert code == 0 and out["kind"] == "image" and out["body"].startswith(f"blob:messages/{a}/")

    code, out, _ = run(capsys, url, "block", str(b), str(a))
    assert code == 0 and out["status"] == "blocked" and out["conversation_disabled"]
    code, out, err = run(capsys, url, "chat", "send", str(a), str(b), "hello?")
    assert code == 1 and out is None and err.startswith("Error:") and "blocked" in err
    code, out, err = run(capsys, url, "like", str(a), str(a))
    assert code == 1 and "yourself" in err
    code, out, err = run(capsys, url, "notifications", "999999")
    assert code == 1 and "999999" in err
    code, out, _ = run(capsys, url, "notifications", str(b))
    assert all(n["content"].get("userId") != a and n["content"].get("senderId") != a
               for n in out["notifications"])

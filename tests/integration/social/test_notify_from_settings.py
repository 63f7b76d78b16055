"""Notification channels built from Settings, and the daily batch's ``new_match`` notifications routed
through the notification service: email through a real local SMTP server (aiosmtpd), preferences,
quiet hours, a later flush, and no second send when the day is run again."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from email import message_from_bytes
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from perfectmatch.adapters.cache.memory import MemoryCache
from perfectmatch.adapters.clock import FakeClock
from perfectmatch.adapters.notify.channels import ChannelNotifier, notifier_from_settings
from perfectmatch.adapters.notify.smtp import SmtpNotifier
from perfectmatch.bootstrap import App, build_app
from perfectmatch.config import NotifySettings, Settings
from perfectmatch.errors import ConfigError
from perfectmatch.models import Channels, Notification, NotificationPreferences, NotificationType
from perfectmatch.pipeline import run_daily_batch
from perfectmatch.populations.store import simulate_and_store
from perfectmatch.social.delivery import RetryPolicy
from perfectmatch.social.wiring import install

DAY = date(2026, 11, 25)
NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def make_app(url: str, port: int) -> App:
    clock = FakeClock(NOW)
    notify = {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_from": "matches@perfectmatch.test"}
    settings = Settings(
        _env_file=None,
        db_url=url,
        cache={"backend": "none"},
        seed=3,
        notify=notify,
        matching={"ai_stage": False, "min_compatibility": 0.0},
    )
    app = build_app(settings, clock=clock, cache=MemoryCache(clock))
    install(app, policy=RetryPolicy(attempts=2, base_s=0.01, sleep=lambda s: None))
    return app


def test_batch_new_match_goes_through_preferences_quiet_hours_and_smtp(
    db_url: str, smtp_server: tuple[Inbox, int]
) -> None:
    inbox, port = smtp_server
    app = make_app(db_url, port)
    assert isinstance(app.notifier, ChannelNotifier) and isinstance(app.notifier.email, SmtpNotifier)
    assert app.notifier.push is None  # no FCM project configured
    simulate_and_store(app.uow, 300, 5, today=DAY)
    with app.uow as uow:
        ids = [u.id for u in uow.users.where()]
        for uid in ids:
            uow.users.add(uow.users.get(uid).model_copy(update={"email": f"user{uid}@example.org"}))
        uow.commit()
    emailed, quiet, muted = set(ids[0::3]), set(ids[1::3]), set(ids[2::9])
    service = app.notification_service
    for uid in emailed:
        service.set_preferences(NotificationPreferences(user_id=uid, channels=Channels(email=True)))
    for uid in quiet - muted:  # 03:00 UTC is inside 01:00-07:00 quiet hours
        service.set_preferences(NotificationPreferences(user_id=uid, quiet_start=time(1), quiet_end=time(7)))
    for uid in muted - emailed:
        service.set_preferences(NotificationPreferences(user_id=uid, enabled={NotificationType.NEW_MATCH: False}))

    report = run_daily_batch(app, day=DAY)
    with app.uow as uow:
        matched = {u for m in uow.batch.matches_on(DAY) for u in (m.user_a, m.user_b)}
        stored = {n.user_id: n for n in uow.notifications.where(type="new_match")}
    deferred = (quiet - muted) & matched
    suppressed = (muted - emailed) & matched
    assert matched and deferred and suppressed and emailed & matched
    assert set(stored) == matched - suppressed  # muted users get no notification at all
    assert {u for u, n in stored.items() if n.delivered} == matched - suppressed - deferred
    assert report.counts["notifications_deferred"] == len(deferred)
    assert report.counts["notifications_suppressed"] == len(suppressed)
    assert report.counts["notifications_sent"] == len(matched - suppressed - deferred)
    # email only to users whose preferences switch email on (and who got matches)
    rcpts = sorted(r for rs, _ in inbox.messages for r in rs)
    assert rcpts == sorted(f"user{u}@example.org" for u in emailed & matched - deferred)
    msg = message_from_bytes(inbox.messages[0][1])
    assert msg["Subject"] == "You have new matches" and msg["From"] == "matches@perfectmatch.test"
    assert msg["X-PerfectMatch-Notification"].startswith(f"batch:{DAY.isoformat()}:")

    # quiet hours over: flush delivers the deferred ones, once
    app.clock.set(datetime(2026, 11, 25, 7, 1, tzinfo=UTC))  # type: ignore[attr-defined]
    assert {o.status for o in service.flush()} == {"delivered"}
    with app.uow as uow:
        assert all(n.delivered for n in uow.notifications.where(type="new_match"))
    sent = len(inbox.messages)
    assert run_daily_batch(app, day=DAY).status == "already_done"
    assert service.flush() == []
    assert len(inbox.messages) == sent
    app.close()


def test_fcm_channel_from_settings(tmp_path: Path) -> None:
    seen: list[tuple[str, str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = request.read().decode()
        seen.append((request.url.path, request.headers["Authorization"], body))
        return httpx.Response(200, json={"name": "projects/p/messages/1"})

    token_file = tmp_path / "token"
    token_file.write_text("ya29.first\n")
    cfg = NotifySettings(fcm_project_id="pm-test", fcm_token_file=token_file, fcm_base_url="https://fcm.test")
    notifier = notifier_from_settings(
        cfg,
        address_of=lambda u: None,
        tokens_of=lambda u: [f"device-{u}"],
        fcm_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    assert notifier.email is None and notifier.push is not None
    note = Notification(id="n1", user_id=4, type=NotificationType.LIKE, created_at=NOW, content={"count": 1})
    notifier.send(note)
    token_file.write_text("ya29.second\n")  # refreshed outside: the next send uses it
    notifier.send(note)
    assert [s[0] for s in seen] == ["/v1/projects/pm-test/messages:send"] * 2
    assert [s[1] for s in seen] == ["Bearer ya29.first", "Bearer ya29.second"]
    assert '"token":"device-4"' in seen[0][2].replace(" ", "")
    with pytest.raises(ConfigError, match="FCM_ACCESS_TOKEN"):
        notifier_from_settings(
            NotifySettings(fcm_project_id="pm-test"), address_of=lambda u: None, tokens_of=lambda u: []
        )


def test_smtp_password_is_a_secret() -> None:
    cfg = NotifySettings(smtp_host="mail.test", smtp_password="hunter2-long")  # type: ignore[arg-type]
    assert "hunter2" not in repr(cfg) and "hunter2" not in str(cfg.model_dump())


def test_batch_send_failures_are_deferred_then_flushed_once(db_url: str) -> None:
    from perfectmatch.adapters.notify.basic import RecordingNotifier

    clock = FakeClock(NOW)
    settings = Settings(
        _env_file=None,
        db_url=db_url,
        cache={"backend": "none"},
        seed=3,
        matching={"ai_stage": False, "min_compatibility": 0.0},
    )
    broken = RecordingNotifier(fail_after=3)
    app = build_app(settings, clock=clock, cache=MemoryCache(clock), notifier=broken)
    install(app, policy=RetryPolicy(attempts=2, base_s=0.01, sleep=lambda s: None))
    simulate_and_store(app.uow, 200, 5, today=DAY)
    report = run_daily_batch(app, day=DAY)
    users = report.counts["notifications"]
    assert report.counts["notifications_sent"] == 3 and report.counts["notifications_deferred"] == users - 3
    with app.uow as uow:
        failed = [n for n in uow.notifications.where(type="new_match") if not n.delivered]
    assert len(failed) == users - 3 and all(n.content["_failures"] == 1 for n in failed)
    working = RecordingNotifier()
    app.notification_service.notifier = working
    clock.advance(60)
    assert [o.status for o in app.notification_service.flush()] == ["delivered"] * (users - 3)
    assert sorted(n.id for n in broken.sent + working.sent) == sorted(
        f"batch:{DAY.isoformat()}:{u}" for u in {n.user_id for n in broken.sent + working.sent}
    )
    assert len(broken.sent) + len(working.sent) == users
    app.close()

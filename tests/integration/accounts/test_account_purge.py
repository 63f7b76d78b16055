"""``db maintain`` purges account state that no longer matters, and keeps what still does."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from perfectmatch.accounts import AccountService
from perfectmatch.adapters.storage import schema as s
from perfectmatch.bootstrap import App
from perfectmatch.errors import InvalidCredentials, LoginThrottled
from perfectmatch.ops.maintenance import maintain


def count(app: App, table: Any) -> int:
    with app.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def fail(service: AccountService, email: str, n: int = 1) -> None:
    for _ in range(n):
        with pytest.raises((InvalidCredentials, LoginThrottled)):
            service.login(email, "wrong-password-1")


def test_stale_throttle_rows_and_finished_tokens_are_purged(app: App, service: AccountService) -> None:
    clock: Any = app.clock
    done = service.register("ann@example.com", "violet-harbour-42")
    service.verify_email(done.token)  # used
    pending = service.register("bob@example.com", "violet-harbour-42")  # unused, will expire
    fail(service, "ghost@example.com")  # one failure: stale after the 15-minute window
    fail(service, "locked@example.com", 5)  # locked for 15 minutes
    clock.advance(10 * 60)
    assert maintain(app).purged["login_throttle"] == 0  # both still count
    clock.advance(6 * 60)
    fail(service, "fresh@example.com")
    purged = maintain(app).purged
    assert purged["login_throttle"] == 2 and count(app, s.login_throttle) == 1  # only the fresh one is left
    assert purged["email_tokens"] == 0  # tokens are kept for the retention period
    clock.advance(31 * 24 * 3600)
    assert maintain(app).purged["email_tokens"] == 2
    assert count(app, s.email_tokens) == 0
    assert service.account(pending.user_id).email == "bob@example.com"  # accounts themselves stay
    clock.advance(timedelta(minutes=1).total_seconds())
    assert service.resend_verification("bob@example.com") is not None

"""The account service on real SQLite and PostgreSQL: registration, verification, login, throttling."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from perfectmatch.accounts import AccountService
from perfectmatch.adapters.storage import schema as s
from perfectmatch.bootstrap import App
from perfectmatch.errors import (
    AccountDisabled,
    ConfigError,
    EmailNotVerified,
    EmailTaken,
    InvalidCredentials,
    InvalidEmailError,
    InvalidToken,
    LoginThrottled,
    NotFound,
    WeakPasswordError,
)
from perfectmatch.models import NotificationType
from perfectmatch.ops.audit import LOGIN, LOGIN_FAILED, audit_events
from perfectmatch.ops.containment import suspend_user

PASSWORD = "violet-harbour-42"


def counts(app: App) -> dict[str, int]:
    tables = (s.users, s.credentials, s.email_tokens, s.external_identities, s.login_throttle)
    with app.engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in tables}


def sent_tokens(app: App) -> list[str]:
    return [n.content["token"] for n in app.notifier.sent]  # type: ignore[attr-defined]


def test_register_sends_email_and_stores_only_a_hash(app: App, service: AccountService) -> None:
    reg = service.register("  Ann@Example.com ", PASSWORD)
    assert reg.email == "ann@example.com" and reg.verification_sent
    assert reg.verification_expires_at == app.clock.now() + timedelta(hours=24)
    [note] = app.notifier.sent  # type: ignore[attr-defined]
    assert note.type is NotificationType.ACCOUNT and note.channels.email and not note.channels.in_app
    assert note.user_id == reg.user_id and note.content["token"] == reg.token
    with app.engine.connect() as conn:
        cred = conn.execute(select(s.credentials)).one()
        stored = conn.execute(select(s.email_tokens.c.token_hash)).scalar_one()
        assert conn.execute(select(s.users.c.email)).scalar_one() == "ann@example.com"
        assert conn.execute(select(func.count()).select_from(s.notifications)).scalar_one() == 0
    assert cred.password_hash.startswith("$argon2id$") and PASSWORD not in cred.password_hash
    assert cred.verified_at is None
    assert stored != reg.token and reg.token not in stored
    info = service.account(reg.user_id)
    assert (info.email, info.verified, info.has_password) == ("ann@example.com", False, True)


def test_register_verify_login(app: App, service: AccountService) -> None:
    reg = service.register("ann@example.com", PASSWORD)
    with pytest.raises(EmailNotVerified):
        service.login("ann@example.com", PASSWORD)
    app.clock.advance(3600)  # type: ignore[attr-defined]
    assert service.verify_email(reg.token) == reg.user_id
    assert service.account(reg.user_id).verified
    login = service.login("ANN@example.com", PASSWORD)
    assert (login.user_id, login.method) == (reg.user_id, "password")
    kinds = [(e["kind"], e["detail"].get("reason")) for e in audit_events(app, user_id=reg.user_id)]
    assert kinds == [(LOGIN_FAILED, "unverified"), (LOGIN, None)]
    assert all("ann" not in str(e["detail"]) for e in audit_events(app))


def test_bad_registrations_change_nothing(app: App, service: AccountService) -> None:
    service.register("ann@example.com", PASSWORD)
    before = counts(app)
    with pytest.raises(EmailTaken):
        service.register("ANN@EXAMPLE.COM", "another-good-one-7")
    with pytest.raises(WeakPasswordError, match="too short"):
        service.register("bob@example.com", "short")
    with pytest.raises(InvalidEmailError):
        service.register("bob@", PASSWORD)
    assert counts(app) == before
    assert len(app.notifier.sent) == 1  # type: ignore[attr-defined]


def test_expired_reused_and_forged_tokens_are_refused_and_change_nothing(app: App, service: AccountService) -> None:
    reg = service.register("ann@example.com", PASSWORD)
    forged = reg.token[:-2] + ("AA" if not reg.token.endswith("AA") else "BB")
    with pytest.raises(InvalidToken) as err:
        service.verify_email(forged)
    assert err.value.reason == "forged"
    app.clock.advance(24 * 3600)  # type: ignore[attr-defined]
    with pytest.raises(InvalidToken, match="expired") as err:
        service.verify_email(reg.token)
    assert err.value.reason == "expired"
    assert not service.account(reg.user_id).verified
    # a fresh token works once
    again = service.resend_verification("ann@example.com")
    assert again is not None and again.sent
    assert service.verify_email(again.token) == reg.user_id
    with pytest.raises(InvalidToken) as err:
        service.verify_email(again.token)
    assert err.value.reason == "used"


def test_resend_supersedes_older_tokens_and_reveals_nothing(app: App, service: AccountService) -> None:
    reg = service.register("ann@example.com", PASSWORD)
    app.clock.advance(59)  # type: ignore[attr-defined]
    assert service.resend_verification("ann@example.com") is None  # too soon: no email bombing
    app.clock.advance(1)  # type: ignore[attr-defined]
    newer = service.resend_verification("ann@example.com")
    assert newer is not None and sent_tokens(app) == [reg.token, newer.token]
    with pytest.raises(InvalidToken) as err:
        service.verify_email(reg.token)
    assert err.value.reason == "superseded"
    service.verify_email(newer.token)
    assert service.resend_verification("ann@example.com") is None  # verified already
    assert service.resend_verification("nobody@example.com") is None  # unknown
    assert len(app.notifier.sent) == 2  # type: ignore[attr-defined]


def test_unknown_user_and_missing_secret(app: App, service: AccountService, db_url: str) -> None:
    with pytest.raises(NotFound, match="user 999"):
        service.account(999)
    from perfectmatch.accounts import accounts

    app.extras.pop("accounts")
    app.settings.accounts.token_secret = None
    with pytest.raises(ConfigError, match="TOKEN_SECRET"):
        accounts(app)


def _verified(service: AccountService, email: str = "ann@example.com") -> int:
    reg = service.register(email, PASSWORD)
    service.verify_email(reg.token)
    return reg.user_id


def test_login_errors_do_not_tell_whether_the_email_exists(app: App, service: AccountService) -> None:
    _verified(service)
    with pytest.raises(InvalidCredentials) as wrong:
        service.login("ann@example.com", "wrong-password-1")
    with pytest.raises(InvalidCredentials) as unknown:
        service.login("nobody@example.com", "wrong-password-1")
    with pytest.raises(InvalidCredentials) as malformed:
        service.login("not an email", "wrong-password-1")
    assert str(wrong.value) == str(unknown.value) == str(malformed.value)


def test_throttling_locks_after_five_failures_and_unlocks_with_time(app: App, service: AccountService) -> None:
    uid = _verified(service)
    clock: Any = app.clock
    for _ in range(4):
        with pytest.raises(InvalidCredentials):
            service.login("ann@example.com", "wrong-password-1")
        clock.advance(10)
    with pytest.raises(LoginThrottled) as err:
        service.login("ann@example.com", "wrong-password-1")
    locked_at = clock.now()
    assert err.value.retry_after == locked_at + timedelta(minutes=15)
    clock.advance(60)
    with pytest.raises(LoginThrottled) as err:  # even the right password waits
        service.login("ann@example.com", PASSWORD)
    assert "try again after" in str(err.value)
    clock.set(locked_at + timedelta(minutes=15))
    assert service.login("ann@example.com", PASSWORD).user_id == uid
    assert counts(app)["login_throttle"] == 0  # success clears the count
    events = audit_events(app, user_id=uid)
    assert [e["detail"]["reason"] for e in events if e["kind"] == LOGIN_FAILED] == ["bad_credentials"] * 5 + [
        "throttled"
    ]
    assert events[-1]["kind"] == LOGIN


def test_unknown_emails_are_throttled_too(app: App, service: AccountService) -> None:
    for _ in range(5):
        with pytest.raises((InvalidCredentials, LoginThrottled)):
            service.login("ghost@example.com", "wrong-password-1")
    with pytest.raises(LoginThrottled):
        service.login("ghost@example.com", "wrong-password-1")
    failed = audit_events(app, kind=LOGIN_FAILED)
    assert len(failed) == 6 and all(e["user_id"] is None for e in failed)


def test_suspended_account_cannot_log_in(app: App, service: AccountService) -> None:
    uid = _verified(service)
    suspend_user(app, uid, reason="test", actor="t")
    with pytest.raises(AccountDisabled, match="suspended"):
        service.login("ann@example.com", PASSWORD)

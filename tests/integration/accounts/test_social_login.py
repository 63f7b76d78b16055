"""Social login on SQLite and PostgreSQL: create, find again, link by verified email, refuse forgeries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select

from fake_idp import FakeIdP
from perfectmatch.accounts import AccountService
from perfectmatch.adapters.storage import schema as s
from perfectmatch.bootstrap import App
from perfectmatch.errors import AccountLinkRefused, InvalidCredentials, InvalidIdToken, InvalidToken
from perfectmatch.ops.audit import LOGIN, LOGIN_FAILED, audit_events

PASSWORD = "violet-harbour-42"


def rows(app: App) -> dict[str, int]:
    tables = (s.users, s.credentials, s.email_tokens, s.external_identities)
    with app.engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in tables}


def test_first_login_creates_a_verified_account_then_finds_it(app: App, service: AccountService, idp: FakeIdP) -> None:
    now = app.clock.now()
    first = service.social_login("idp", idp.token(now, nonce="n1"), nonce="n1")
    assert first.created and not first.linked and first.method == "idp"
    info = service.account(first.user_id)
    assert info.email == "ann@example.com" and info.verified and not info.has_password  # no verification email
    assert app.notifier.sent == []  # type: ignore[attr-defined]
    again = service.social_login("idp", idp.token(now, alg="ES256"))
    assert again.user_id == first.user_id and not again.created
    assert [e["kind"] for e in audit_events(app, user_id=first.user_id)] == [LOGIN, LOGIN]
    with pytest.raises(InvalidCredentials):  # a social-only account has no password to guess
        service.login("ann@example.com", PASSWORD)


def test_verified_email_links_to_a_password_account(app: App, service: AccountService, idp: FakeIdP) -> None:
    reg = service.register("ann@example.com", PASSWORD)
    service.verify_email(reg.token)
    login = service.social_login("idp", idp.token(app.clock.now()))
    assert login.user_id == reg.user_id and login.linked
    assert service.login("ann@example.com", PASSWORD).user_id == reg.user_id  # password still works


def test_linking_an_unverified_password_account_drops_its_password(
    app: App, service: AccountService, idp: FakeIdP
) -> None:
    """Someone pre-registered the victim's address; the provider proves the victim owns it."""
    squat = service.register("ann@example.com", PASSWORD)
    login = service.social_login("idp", idp.token(app.clock.now()))
    assert login.user_id == squat.user_id and login.linked
    info = service.account(squat.user_id)
    assert info.verified and not info.has_password
    with pytest.raises(InvalidCredentials):
        service.login("ann@example.com", PASSWORD)
    with pytest.raises(InvalidToken) as err:  # the squatter's verification token was revoked
        service.verify_email(squat.token)
    assert err.value.reason == "superseded"


def test_unverified_provider_email_never_links(app: App, service: AccountService, idp: FakeIdP) -> None:
    reg = service.register("ann@example.com", PASSWORD)
    before = rows(app)
    with pytest.raises(AccountLinkRefused):
        service.social_login("idp", idp.token(app.clock.now(), email_verified=False))
    assert rows(app) == before
    assert audit_events(app, kind=LOGIN_FAILED)[-1]["user_id"] == reg.user_id
    # with no account on that address, the unverified email is simply not kept as a login email
    other = service.social_login(
        "idp", idp.token(app.clock.now(), sub="s2", email="zoe@example.com", email_verified=False)
    )
    assert other.created and service.account(other.user_id).email is None


@pytest.mark.parametrize("case", ["wrong_key", "wrong_iss", "wrong_aud", "expired", "unknown_provider", "nonce"])
def test_forged_or_stale_tokens_change_nothing(app: App, service: AccountService, idp: FakeIdP, case: str) -> None:
    now = app.clock.now()
    token = {
        "wrong_key": lambda: idp.token(now, key=rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        "wrong_iss": lambda: idp.token(now, iss="https://evil.example"),
        "wrong_aud": lambda: idp.token(now, aud="another-app"),
        "expired": lambda: idp.token(now - timedelta(hours=2)),
        "unknown_provider": lambda: idp.token(now),
        "nonce": lambda: idp.token(now, nonce="other"),
    }[case]()
    provider = "nope" if case == "unknown_provider" else "idp"
    before = rows(app)
    with pytest.raises(InvalidIdToken) as err:
        service.social_login(provider, token, nonce="n1" if case == "nonce" else None)
    assert rows(app) == before
    [event] = audit_events(app, kind=LOGIN_FAILED)
    assert event["user_id"] is None and event["detail"]["reason"] == err.value.reason

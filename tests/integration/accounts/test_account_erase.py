"""Erasure and export cover account data: credentials, tokens, identities and the throttle row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from fake_idp import FakeIdP
from perfectmatch.accounts import AccountService
from perfectmatch.adapters.storage import schema as s
from perfectmatch.bootstrap import App
from perfectmatch.errors import InvalidCredentials, InvalidToken
from perfectmatch.ops.support import erase_user, export_user

PASSWORD = "violet-harbour-42"


def count(app: App, table: object) -> int:
    with app.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()  # type: ignore[arg-type]


def test_export_lists_login_data_without_secrets(
    app: App, service: AccountService, idp: FakeIdP, tmp_path: Path
) -> None:
    reg = service.register("ann@example.com", PASSWORD)
    service.social_login("idp", idp.token(app.clock.now()))  # links: provider verified the email
    out = export_user(app, reg.user_id, tmp_path / "ann.json")
    text = (tmp_path / "ann.json").read_text()
    login = json.loads(text)["login"]
    assert login["credentials"]["email"] == "ann@example.com" and login["credentials"]["verified_at"]
    assert [i["provider"] for i in login["external_identities"]] == ["idp"]
    assert len(login["verification_tokens"]) == 1
    assert "$argon2" not in text and reg.token not in text and "token_hash" not in text
    assert out["sections"]["login"] == 1


def test_erase_removes_credentials_tokens_identities_and_throttle(
    app: App, service: AccountService, idp: FakeIdP
) -> None:
    reg = service.register("ann@example.com", PASSWORD)
    service.social_login("idp", idp.token(app.clock.now()))
    with pytest.raises(InvalidCredentials):
        service.login("ann@example.com", "wrong-password-1")
    assert count(app, s.login_throttle) == 1
    result = erase_user(app, reg.user_id, actor="test")
    for table in (s.credentials, s.email_tokens, s.external_identities, s.login_throttle):
        assert count(app, table) == 0, table.name
    assert result["rows"]["credentials"] == 1 and result["rows"]["login_throttle"] == 1
    with pytest.raises(InvalidToken) as err:
        service.verify_email(reg.token)
    assert err.value.reason == "unknown"
    # the address is free again, and the same social identity makes a new account
    again = service.social_login("idp", idp.token(app.clock.now()))
    assert again.created and again.user_id != reg.user_id

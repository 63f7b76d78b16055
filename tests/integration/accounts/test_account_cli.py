"""``perfectmatch user register|verify|resend-verification|login|social-login`` end to end."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from fake_idp import AUDIENCE, ISSUER, SECRET, FakeIdP, JwksServer
from perfectmatch.cli import app as cli_app
from perfectmatch.cli import main

PASSWORD = "violet-harbour-42"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERFECTMATCH_ACCOUNTS__TOKEN_SECRET", SECRET)
    monkeypatch.setenv("PERFECTMATCH_CACHE__BACKEND", "none")
    monkeypatch.setenv("PERFECTMATCH_ACCOUNTS__RESEND_INTERVAL_S", "0")  # the CLI runs on the wall clock


def test_register_verify_login_resend(db_url: str, env: None) -> None:
    runner = CliRunner()
    base = ["--db", db_url, "--json", "user"]
    res = runner.invoke(
        cli_app, [*base, "register", "Ann@Example.com", "--password-stdin", "--show-token"], input=PASSWORD + "\n"
    )
    assert res.exit_code == 0, res.output
    reg = json.loads(res.stdout)
    assert reg["email"] == "ann@example.com" and reg["verified"] is False and reg["token"].startswith("v1.")
    assert PASSWORD not in res.stdout
    res = runner.invoke(cli_app, [*base, "resend-verification", "ann@example.com", "--show-token"])
    newer = json.loads(res.stdout)["token"]
    assert newer != reg["token"]
    res = runner.invoke(cli_app, [*base, "verify", newer])
    assert res.exit_code == 0 and json.loads(res.stdout) == {"user_id": reg["user_id"], "verified": True}
    res = runner.invoke(cli_app, [*base, "login", "ann@example.com", "--password-stdin"], input=PASSWORD + "\n")
    assert res.exit_code == 0 and json.loads(res.stdout)["user_id"] == reg["user_id"]
    unknown = runner.invoke(cli_app, [*base, "resend-verification", "nobody@example.com", "--show-token"])
    assert "token" not in json.loads(unknown.stdout)


def test_errors_are_one_line(
    db_url: str, env: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["--db", db_url, "user", "verify", "v1.forged.token"]) == 1
    assert capsys.readouterr().err.strip() == "Error: verification token is not valid (damaged or not issued by us)"
    monkeypatch.setattr("sys.stdin", io.StringIO("wrong-password-1\n"))
    assert main(["--db", db_url, "user", "login", "ann@example.com", "--password-stdin"]) == 1
    assert capsys.readouterr().err.strip() == "Error: email or password is wrong"
    monkeypatch.delenv("PERFECTMATCH_ACCOUNTS__TOKEN_SECRET")
    assert main(["--db", db_url, "user", "verify", "x"]) == 1
    assert "PERFECTMATCH_ACCOUNTS__TOKEN_SECRET must be set" in capsys.readouterr().err


def test_social_login_from_stdin(db_url: str, env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The provider comes from settings; its keys from the JWKS URL (a local server)."""
    idp, server = FakeIdP(), JwksServer()
    server.doc = idp.jwks()
    try:
        providers = {"idp": {"issuer": ISSUER, "audience": AUDIENCE, "jwks_url": server.url}}
        monkeypatch.setenv("PERFECTMATCH_ACCOUNTS__OIDC_PROVIDERS", json.dumps(providers))
        token = idp.token(datetime.now(UTC))
        res = CliRunner().invoke(
            cli_app, ["--db", db_url, "--json", "user", "social-login", "idp", "--id-token-stdin"], input=token + "\n"
        )
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout)["created"] is True
    finally:
        server.close()

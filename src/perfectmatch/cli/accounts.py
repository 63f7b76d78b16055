"""Account commands under ``user``: ``register``, ``verify``, ``resend-verification``, ``login``, ``social-login``.

Passwords and ID tokens never go on the command line (shell history, ``ps``): they are read from
stdin with ``--password-stdin`` / ``--id-token-stdin``, or prompted for without echo. Verification
tokens are emailed through the configured notifier; ``--show-token`` also prints one (for operators
and the embedded demo, where no email channel is configured).
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from perfectmatch.cli import state
from perfectmatch.cli._output import emit
from perfectmatch.errors import InvalidInputError

EmailArg = Annotated[str, typer.Argument(help="email address")]
PasswordStdin = Annotated[bool, typer.Option("--password-stdin", help="read the password from the first stdin line")]
ShowToken = Annotated[bool, typer.Option("--show-token", help="also print the verification token")]


def _secret(from_stdin: bool, what: str, *, confirm: bool = False) -> str:
    if from_stdin:
        value = sys.stdin.readline().rstrip("\r\n")
    else:
        value = typer.prompt(what.capitalize(), hide_input=True, confirmation_prompt=confirm)
    if not value:
        raise InvalidInputError(f"no {what} given on stdin")
    return value


def _service(ctx: typer.Context) -> Any:
    from perfectmatch.accounts import accounts

    return accounts(state(ctx).app)


def register(app: typer.Typer) -> None:
    """Add the account commands to the ``user`` group ``app``."""

    @app.command("register")
    def register_cmd(
        ctx: typer.Context, email: EmailArg, password_stdin: PasswordStdin = False, show_token: ShowToken = False
    ) -> None:
        """Create a password account and email its verification token."""
        service = _service(ctx)
        reg = service.register(email, _secret(password_stdin, "password", confirm=True))
        out = {
            "user_id": reg.user_id,
            "email": reg.email,
            "verified": False,
            "verification_expires_at": reg.verification_expires_at,
            "verification_sent": reg.verification_sent,
        }
        if show_token:
            out["token"] = reg.token
        emit(out, as_json=state(ctx).json, title="registered")

    @app.command("verify")
    def verify_cmd(ctx: typer.Context, token: Annotated[str, typer.Argument(help="the emailed token")]) -> None:
        """Verify an email address with its token (each token works once, until it expires)."""
        emit(
            {"user_id": _service(ctx).verify_email(token), "verified": True}, as_json=state(ctx).json, title="verified"
        )

    @app.command("resend-verification")
    def resend_cmd(ctx: typer.Context, email: EmailArg, show_token: ShowToken = False) -> None:
        """Send a new verification token (older ones stop working); says nothing about whether EMAIL exists."""
        sent = _service(ctx).resend_verification(email)
        out: dict[str, Any] = {"message": "if an unverified account uses this address, a new token was sent"}
        if show_token and sent is not None:
            out["token"] = sent.token
        emit(out, as_json=state(ctx).json, title="resend-verification")

    @app.command("login")
    def login_cmd(ctx: typer.Context, email: EmailArg, password_stdin: PasswordStdin = False) -> None:
        """Check EMAIL's password (failed attempts count towards the lock); audited."""
        login = _service(ctx).login(email, _secret(password_stdin, "password"))
        emit(login, as_json=state(ctx).json, title="logged in")

    @app.command("social-login")
    def social_cmd(
        ctx: typer.Context,
        provider: Annotated[str, typer.Argument(help="a provider name from PERFECTMATCH_ACCOUNTS__OIDC_PROVIDERS")],
        id_token_stdin: Annotated[bool, typer.Option("--id-token-stdin", help="read the ID token from stdin")] = False,
        nonce: Annotated[str | None, typer.Option("--nonce", help="the nonce sent with the login request")] = None,
    ) -> None:
        """Log in with a provider's ID token: finds, links or creates the account; audited."""
        login = _service(ctx).social_login(provider, _secret(id_token_stdin, "ID token"), nonce=nonce)
        emit(login, as_json=state(ctx).json, title="logged in")

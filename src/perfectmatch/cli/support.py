"""Support and containment commands: ``user show|export|erase|suspend|reinstate``; profile and photo
commands (``user profile|status|photo ...``) come from ``cli.profiles``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from perfectmatch.cli import state
from perfectmatch.cli._output import emit
from perfectmatch.cli.profiles import photo_app, profile_cmd, status_cmd

app = typer.Typer(help="Support data and containment: show, export, erase, suspend or reinstate a user.",
                  no_args_is_help=True)

UserArg = Annotated[int, typer.Argument(help="user id")]
ACTOR = "cli"


@app.command("show")
def show_cmd(ctx: typer.Context, user_id: UserArg) -> None:
    """Profile, preferences, subscription state and counts of matches, likes and messages."""
    from perfectmatch.ops.support import show_user

    st = state(ctx)
    emit(show_user(st.app, user_id), as_json=st.json, title=f"user {user_id}")


@app.command("export")
def export_cmd(
    ctx: typer.Context,
    user_id: UserArg,
    out: Annotated[Path, typer.Option("--out", help="JSON file to write")],
) -> None:
    """Write everything held about the user as JSON (audited)."""
    from perfectmatch.ops.support import export_user

    st = state(ctx)
    emit(export_user(st.app, user_id, out, actor=ACTOR), as_json=st.json, title=f"user {user_id} exported")


@app.command("erase")
def erase_cmd(ctx: typer.Context, user_id: UserArg) -> None:
    """Remove the user's personal data, keep aggregates, keep them out of future batches (audited)."""
    from perfectmatch.ops.support import erase_user

    st = state(ctx)
    emit(erase_user(st.app, user_id, actor=ACTOR), as_json=st.json, title=f"user {user_id} erased")


@app.command("suspend")
def suspend_cmd(
    ctx: typer.Context,
    user_id: UserArg,
    reason: Annotated[str, typer.Option("--reason", help="why (kept in the audit log)")] = "",
) -> None:
    """Suspend the user at once: no batches, no match lists, no messaging (audited)."""
    from perfectmatch.ops.containment import suspend_user

    st = state(ctx)
    emit(suspend_user(st.app, user_id, reason=reason, actor=ACTOR), as_json=st.json, title=f"user {user_id}")


@app.command("reinstate")
def reinstate_cmd(
    ctx: typer.Context,
    user_id: UserArg,
    reason: Annotated[str, typer.Option("--reason", help="why (kept in the audit log)")] = "",
) -> None:
    """Make a suspended user active again (audited)."""
    from perfectmatch.ops.containment import reinstate_user

    st = state(ctx)
    emit(reinstate_user(st.app, user_id, reason=reason, actor=ACTOR), as_json=st.json, title=f"user {user_id}")


# --- profiles and photos (issue 6): journey 1's profile steps
app.command("profile")(profile_cmd)
app.command("status")(status_cmd)
app.add_typer(photo_app, name="photo")


def _register_accounts() -> None:
    from perfectmatch.cli.accounts import register

    register(app)


_register_accounts()

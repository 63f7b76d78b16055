"""Profile and photo commands under ``user``: ``profile``, ``status``, ``photo add|list|delete|order``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from perfectmatch.cli import state
from perfectmatch.cli._output import emit
from perfectmatch.errors import InvalidInputError

photo_app = typer.Typer(help="A user's profile photos: add, list, delete, order.", no_args_is_help=True)

UserArg = Annotated[int, typer.Argument(help="user id")]


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def profile_cmd(
    ctx: typer.Context,
    user_id: UserArg,
    file: Annotated[Path, typer.Argument(help="JSON: display_name, birth_date, gender, location, genders_sought ...")],
) -> None:
    """Create or update the user's basic profile (and what they look for) from a JSON file."""
    from perfectmatch.profiles import save_basic_profile

    try:
        data = json.loads(_read(file, "profile file"))
    except ValueError as exc:
        raise InvalidInputError(f"{file}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"{file}: expected a JSON object of profile fields")
    st = state(ctx)
    profile, prefs = save_basic_profile(st.app, user_id, data)
    emit({"profile": profile, "preferences": prefs}, as_json=st.json, title=f"user {user_id} profile")


def status_cmd(ctx: typer.Context, user_id: UserArg) -> None:
    """Profile completion: basic profile, photos, questionnaire, analysis (done or queued)."""
    from perfectmatch.profiles import completion_status

    st = state(ctx)
    emit(completion_status(st.app, user_id).as_dict(), as_json=st.json, title=f"user {user_id} completion")


@photo_app.command("add")
def add_cmd(
    ctx: typer.Context,
    user_id: UserArg,
    files: Annotated[list[Path], typer.Argument(help="JPEG, PNG or WebP photos (each must show a face)")],
) -> None:
    """Check and add photos to the user's profile (each file all or nothing, in the order given)."""
    from perfectmatch.profiles import add_photo

    st = state(ctx)
    added = [add_photo(st.app, user_id, _read(f, "photo"), name=f.name).as_dict() for f in files]
    emit(added, as_json=st.json, title=f"user {user_id}: photos added")


@photo_app.command("list")
def list_cmd(ctx: typer.Context, user_id: UserArg) -> None:
    """The user's photos in display order (metadata)."""
    from perfectmatch.profiles import list_photos

    st = state(ctx)
    emit([p.as_dict() for p in list_photos(st.app, user_id)], as_json=st.json, title=f"user {user_id} photos")


@photo_app.command("delete")
def delete_cmd(ctx: typer.Context, user_id: UserArg, photo_id: Annotated[int, typer.Argument(help="photo id")]) -> None:
    """Delete one photo (row and stored bytes); the rest move up."""
    from perfectmatch.profiles import delete_photo

    st = state(ctx)
    emit([p.as_dict() for p in delete_photo(st.app, user_id, photo_id)], as_json=st.json, title="photos left")


@photo_app.command("order")
def order_cmd(
    ctx: typer.Context,
    user_id: UserArg,
    photo_ids: Annotated[list[int], typer.Argument(help="every photo id of the user, in the new order")],
) -> None:
    """Put the user's photos in a new order (the first is the main photo)."""
    from perfectmatch.profiles import reorder_photos

    st = state(ctx)
    emit([p.as_dict() for p in reorder_photos(st.app, user_id, photo_ids)], as_json=st.json, title="photos")

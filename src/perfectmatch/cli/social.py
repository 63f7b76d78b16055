"""``perfectmatch like|unmatch|block|likers|notifications`` and ``perfectmatch chat``: the social journeys."""

from __future__ import annotations

from typing import Annotated

import typer

from perfectmatch.cli import state
from perfectmatch.cli._output import emit

chat_app = typer.Typer(help="Conversations: send messages and read history.", no_args_is_help=True)

UserArg = Annotated[int, typer.Argument(help="user id")]


def like_cmd(ctx: typer.Context, liker: UserArg, likee: UserArg) -> None:
    """LIKER likes LIKEE (hidden from LIKEE until mutual; a mutual like opens a conversation)."""
    from perfectmatch.social.likes import like

    st = state(ctx)
    emit(like(st.app, liker, likee), as_json=st.json, title="like")


def unmatch_cmd(ctx: typer.Context, user: UserArg, other: UserArg) -> None:
    """USER ends the match with OTHER: gone from both lists, conversation disabled."""
    from perfectmatch.social.blocks import unmatch

    st = state(ctx)
    emit(unmatch(st.app, user, other), as_json=st.json, title="unmatch")


def block_cmd(ctx: typer.Context, blocker: UserArg, blocked: UserArg) -> None:
    """BLOCKER blocks BLOCKED: nothing of either stays visible to the other, in any future batch too."""
    from perfectmatch.social.blocks import block

    st = state(ctx)
    emit(block(st.app, blocker, blocked), as_json=st.json, title="block")


def likers_cmd(ctx: typer.Context, user: UserArg) -> None:
    """Who liked USER and is waiting for a like back (premium users only)."""
    from perfectmatch.social.likes import likers_of

    st = state(ctx)
    emit(likers_of(st.app, user) or {"likers": 0}, as_json=st.json, title=f"who liked user {user}")


def notifications_cmd(
    ctx: typer.Context,
    user: UserArg,
    read: Annotated[str | None, typer.Option("--read", help="mark this notification id read first")] = None,
    archive: Annotated[str | None, typer.Option("--archive", help="archive this notification id first")] = None,
    archived: Annotated[bool, typer.Option("--archived", help="list archived notifications instead")] = False,
    limit: Annotated[int, typer.Option(min=1, max=500, help="at most this many")] = 20,
) -> None:
    """USER's in-app notifications (spec JSON shape) and badge count; delivers any that are due first."""
    from perfectmatch.social.notify import to_spec_json
    from perfectmatch.social.wiring import services

    st = state(ctx)
    service = services(st.app).notifications
    service.flush()
    if read:
        service.mark_read(user, read)
    if archive:
        service.archive(user, archive)
    notes = [to_spec_json(n) for n in service.inbox(user, archived=archived, limit=limit)]
    emit({"user_id": user, "badge": service.badge_count(user), "notifications": notes}, as_json=st.json,
         title=f"notifications of user {user}")


@chat_app.command("send")
def send_cmd(
    ctx: typer.Context,
    sender: UserArg,
    recipient: UserArg,
    text: Annotated[str, typer.Argument(help="message text (or image URL with --image)")],
    image: Annotated[bool, typer.Option("--image", help="TEXT is an https:// URL or blob: key of a picture")] = False,
) -> None:
    """SENDER sends a message to RECIPIENT (needs a mutual like); prints its delivery status."""
    from perfectmatch.models import MessageKind
    from perfectmatch.social.chat import send_message

    st = state(ctx)
    kind = MessageKind.IMAGE if image else MessageKind.TEXT
    emit(send_message(st.app, sender, recipient, text, kind=kind), as_json=st.json, title="message")


@chat_app.command("history")
def history_cmd(
    ctx: typer.Context,
    viewer: UserArg,
    other: UserArg,
    before: Annotated[int | None, typer.Option(help="only messages with an id below this (next page)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="page size")] = 50,
) -> None:
    """Messages between VIEWER and OTHER, newest first, one page at a time."""
    from perfectmatch.social.chat import history

    st = state(ctx)
    page = history(st.app, viewer, other, before=before, limit=limit)
    emit({"messages": [m.model_dump(mode="json") for m in page.messages], "next_before": page.next_before},
         as_json=st.json, title=f"chat {viewer} <-> {other}")


@chat_app.command("list")
def list_cmd(ctx: typer.Context, user: UserArg) -> None:
    """USER's open conversations."""
    from perfectmatch.social.chat import conversations_of

    st = state(ctx)
    emit(conversations_of(st.app, user) or {"conversations": 0}, as_json=st.json, title=f"conversations of {user}")


@chat_app.command("starters")
def starters_cmd(ctx: typer.Context, viewer: UserArg, other: UserArg) -> None:
    """AI conversation starters for VIEWER to send OTHER (premium; needs a mutual like)."""
    from perfectmatch.social.starters import conversation_starters

    st = state(ctx)
    emit(conversation_starters(st.app, viewer, other), as_json=st.json, title="conversation starters")


def register(app: typer.Typer) -> None:
    """Add the social commands to the root ``perfectmatch`` app."""
    app.command("like")(like_cmd)
    app.command("unmatch")(unmatch_cmd)
    app.command("block")(block_cmd)
    app.command("likers")(likers_cmd)
    app.command("notifications")(notifications_cmd)
    app.add_typer(chat_app, name="chat")

"""``perfectmatch like|unmatch|block|likers|notifications`` and ``perfectmatch chat``: the social journeys."""

from __future__ import annotations

from pathlib import Path
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
    badge = service.badge_count(user)
    if st.json:
        emit({"user_id": user, "badge": badge, "notifications": notes}, as_json=True)
        return
    rows = [{"id": n["notificationId"], "type": n["type"], "priority": n["priority"],
             "read": n["status"]["read"], "created": n["timestamps"]["created"],
             "content": ", ".join(f"{k}={v}" for k, v in n["content"].items())} for n in notes]
    emit(rows or {"notifications": 0}, as_json=False, title=f"notifications of user {user} (badge {badge})")


def prefs_cmd(
    ctx: typer.Context,
    user: UserArg,
    quiet: Annotated[str | None, typer.Option(help="quiet hours HH:MM-HH:MM in local time; 'off' clears")] = None,
    tz: Annotated[str | None, typer.Option("--tz", help="IANA time zone, e.g. Europe/Berlin")] = None,
    off: Annotated[list[str] | None, typer.Option("--off", help="turn a type off (repeatable)")] = None,
    on: Annotated[list[str] | None, typer.Option("--on", help="turn a type on (repeatable)")] = None,
    push: Annotated[bool | None, typer.Option("--push/--no-push", help="push channel")] = None,
    email: Annotated[bool | None, typer.Option("--email/--no-email", help="email channel")] = None,
    in_app: Annotated[bool | None, typer.Option("--in-app/--no-in-app", help="in-app channel")] = None,
    max_per_hour: Annotated[int | None, typer.Option(min=1, max=1000, help="hourly limit")] = None,
) -> None:
    """Show USER's notification preferences, changing any given option first."""
    from datetime import time

    from perfectmatch.errors import InvalidInputError
    from perfectmatch.models import NotificationType
    from perfectmatch.social.wiring import services

    st = state(ctx)
    service = services(st.app).notifications
    prefs = service.preferences(user)
    changes: dict[str, object] = {}
    if quiet is not None:
        if quiet == "off":
            changes.update(quiet_start=None, quiet_end=None)
        else:
            try:
                start, end = (time.fromisoformat(p) for p in quiet.split("-"))
            except ValueError as exc:
                raise InvalidInputError(f"--quiet must look like 22:00-07:00, got {quiet!r}") from exc
            changes.update(quiet_start=start, quiet_end=end)
    try:
        enabled = {**prefs.enabled, **{NotificationType(t): False for t in off or []},
                   **{NotificationType(t): True for t in on or []}}
    except ValueError as exc:
        kinds = ", ".join(t.value for t in NotificationType)
        raise InvalidInputError(f"unknown notification type ({exc}); use one of {kinds}") from exc
    channels = prefs.channels.model_copy(update={k: v for k, v in
                                                 (("push", push), ("email", email), ("in_app", in_app))
                                                 if v is not None})
    changes.update(enabled=enabled, channels=channels)
    if tz is not None:
        changes["timezone"] = tz
    if max_per_hour is not None:
        changes["max_per_hour"] = max_per_hour
    new = prefs.model_copy(update=changes)
    if new != prefs:
        service.set_preferences(type(prefs).model_validate(new.model_dump()))
    emit(new.model_dump(mode="json"), as_json=st.json, title=f"notification preferences of user {user}")


def flush_cmd(
    ctx: typer.Context,
    purge: Annotated[bool, typer.Option("--purge", help="also delete expired, unarchived notifications")] = False,
) -> None:
    """Deliver every waiting notification that is due (run every few minutes, e.g. from cron)."""
    from perfectmatch.social.wiring import services

    st = state(ctx)
    service = services(st.app).notifications
    outcomes = service.flush()
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    next_due = service.next_due()
    result: dict[str, object] = {"due": len(outcomes), **counts,
                                 "next_due": next_due.isoformat() if next_due else None}
    if purge:
        result["purged"] = service.purge_expired()
    emit(result, as_json=st.json, title="notifications flushed")


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


@chat_app.command("send-image")
def send_image_cmd(
    ctx: typer.Context,
    sender: UserArg,
    recipient: UserArg,
    file: Annotated[Path, typer.Argument(help="the picture (JPEG, PNG or WebP)")],
) -> None:
    """SENDER sends a picture to RECIPIENT: checked like a profile photo, stored without metadata."""
    from perfectmatch.cli.profiles import _read
    from perfectmatch.social.chat import send_image

    st = state(ctx)
    emit(send_image(st.app, sender, recipient, _read(file, "picture"), name=file.name), as_json=st.json,
         title="message")


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
    if st.json:
        emit({"messages": [m.model_dump(mode="json") for m in page.messages], "next_before": page.next_before},
             as_json=True)
        return
    rows = [{"id": m.id, "from": m.sender_id, "kind": m.kind.value, "body": m.body, "delivery": m.delivery.value,
             "sent": m.created_at.isoformat()} for m in page.messages]
    more = f" (older: --before {page.next_before})" if page.next_before else ""
    emit(rows or {"messages": 0}, as_json=False, title=f"chat {viewer} <-> {other}{more}")


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
    app.command("notification-prefs")(prefs_cmd)
    app.command("notifications-flush")(flush_cmd)
    app.add_typer(chat_app, name="chat")

"""Conversations and messages: only after a mutual like, never with a blocked pair.

A message is stored as ``pending``, then pushed to the recipient through the ``Notifier`` with
retries and exponential backoff; its ``delivery`` becomes ``delivered`` or ``failed`` and the sender
can read it (``delivery_status``) and retry a failed one (``redeliver``). The recipient's *alert*
is separate: a ``MessageReceived`` event goes to the notification service, which applies their
preferences, quiet hours and rate limit (so an alert can wait while the message is already there).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from perfectmatch.errors import InvalidInputError, NotFound, describe_validation_error
from perfectmatch.models import (
    Channels,
    Conversation,
    DeliveryStatus,
    MatchStatus,
    Message,
    MessageKind,
    Notification,
    NotificationType,
    Priority,
    UserId,
)
from perfectmatch.social.delivery import send_with_retry
from perfectmatch.social.errors import DeliveryFailed, NotMutualError, SelfActionError
from perfectmatch.social.events import MessageReceived
from perfectmatch.social.likes import active_user, check_pair, is_blocked, lock_pair, pair
from perfectmatch.social.wiring import services

IMAGE_PREFIXES = ("https://", "blob:")
MESSAGE_BLOBS = "messages/"  # blob-store prefix of pictures sent in conversations
MAX_PAGE = 200


@dataclass(frozen=True)
class Page:
    """One page of history, newest first; pass ``next_before`` to get the older page (None: no more)."""

    messages: list[Message]
    next_before: int | None


def open_conversation(uow: Any, a: UserId, b: UserId) -> Conversation:
    """The pair's active conversation, with every rule checked (self, users, block, mutual like).

    Raises
    ------
    SelfActionError, NotFound, BlockedError, NotMutualError
    """
    check_pair(uow, a, b, "message")
    lo, hi = pair(a, b)
    found = uow.conversations.where(user_a=lo, user_b=hi)
    match = uow.matches.find((lo, hi))
    if not found or not found[0].active or match is None or match.status is not MatchStatus.MUTUAL:
        raise NotMutualError(f"users {a} and {b} have no open conversation (it needs a mutual like)")
    return found[0]  # type: ignore[no-any-return]


def send_message(app: Any, sender: UserId, recipient: UserId, body: str, *,
                 kind: MessageKind = MessageKind.TEXT) -> Message:
    """Store a text or image message and deliver it to ``recipient``.

    Parameters
    ----------
    body
        The text (1-10000 characters), or for ``kind=image`` the picture's ``https://`` URL or the
        ``blob:`` key of a picture the sender uploaded (:func:`send_image` does both steps).

    Returns
    -------
    Message
        With its id and final ``delivery`` status (``delivered`` or ``failed`` after every retry).

    Raises
    ------
    SelfActionError, NotFound, BlockedError, NotMutualError, InvalidInputError
        Nothing is stored in any of these cases.
    """
    now = app.clock.now()
    kind = MessageKind(kind)
    if kind is MessageKind.IMAGE and not body.startswith(IMAGE_PREFIXES):
        raise InvalidInputError(f"an image message needs an https:// URL or blob: key, got {body[:40]!r}")
    if kind is MessageKind.IMAGE and body.startswith("blob:"):
        key = body.removeprefix("blob:")
        if not key.startswith(f"{MESSAGE_BLOBS}{int(sender)}/") or not app.blob_store.exists(key):
            raise InvalidInputError(f"image message: {key[:60]!r} is not a picture user {sender} uploaded "
                                    "(send pictures with chat.send_image)")
    if sender == recipient:
        raise SelfActionError(f"cannot message yourself (user {sender})")
    with app.uow as uow:
        lock_pair(uow, sender, recipient)  # a block committing now cannot let this message slip in
        conv = open_conversation(uow, sender, recipient)
        try:
            draft = Message(conversation_id=int(conv.id), sender_id=sender, kind=kind, body=body, created_at=now)
        except ValidationError as exc:
            raise InvalidInputError(describe_validation_error(exc)) from exc
        message = uow.messages.add(draft)
        uow.commit()
    message = _deliver(app, message, recipient)
    preview = body[:80] if kind is MessageKind.TEXT else "(image)"
    services(app).bus.publish(MessageReceived(message_id=int(message.id), conversation_id=message.conversation_id,
                                              sender=sender, recipient=recipient, kind=kind.value,
                                              preview=preview, at=now))
    return message


def send_image(app: Any, sender: UserId, recipient: UserId, data: bytes, *, name: str = "image") -> Message:
    """Send a picture: checked like a profile photo (real JPEG/PNG/WebP, byte and pixel limits read
    before decoding, re-encoded without metadata such as GPS; no face needed), stored in the app's
    blob store under ``messages/<sender>/<sha256>.jpg`` and sent as an image message ``blob:<key>``.

    Raises
    ------
    InvalidImage, SelfActionError, NotFound, BlockedError, NotMutualError
        Nothing is stored in any of these cases (the bytes are removed again if the message fails).
    """
    from perfectmatch.profiles.images import check_image

    image = check_image(data, app.settings.photos, name=name)
    with app.uow as uow:
        check_pair(uow, sender, recipient, "message")  # refuse before any bytes are written
    key = f"{MESSAGE_BLOBS}{int(sender)}/{image.sha256}.jpg"
    fresh = not app.blob_store.exists(key)  # the same picture sent before shares the key
    app.blob_store.put(key, image.data)
    try:
        return send_message(app, sender, recipient, f"blob:{key}", kind=MessageKind.IMAGE)
    except Exception:
        if fresh:
            app.blob_store.delete(key)
        raise


def _deliver(app: Any, message: Message, recipient: UserId) -> Message:
    note = Notification(
        id=f"chat:{message.id}", user_id=recipient, type=NotificationType.MESSAGE, priority=Priority.HIGH,
        channels=Channels(push=True, in_app=False, email=False), created_at=message.created_at,
        content={"conversationId": message.conversation_id, "messageId": message.id,
                 "senderId": message.sender_id, "kind": message.kind.value},
    )
    try:
        send_with_retry(app.notifier, note, services(app).policy)
        status = DeliveryStatus.DELIVERED
    except DeliveryFailed:
        status = DeliveryStatus.FAILED
    message = message.model_copy(update={"delivery": status})
    with app.uow as uow:
        uow.messages.add(message)
        uow.commit()
    return message


def _own_message(uow: Any, sender: UserId, message_id: int) -> Message:
    message = uow.messages.find(message_id)
    if message is None or message.sender_id != sender:
        raise NotFound(f"user {sender} sent no message {message_id}")
    return message  # type: ignore[no-any-return]


def delivery_status(app: Any, sender: UserId, message_id: int) -> DeliveryStatus:
    """The delivery status of a message, for its sender.

    Raises
    ------
    NotFound
        No such message sent by ``sender``.
    """
    with app.uow as uow:
        return _own_message(uow, sender, message_id).delivery


def redeliver(app: Any, sender: UserId, message_id: int) -> Message:
    """Try again to deliver a ``failed`` message (a delivered one is returned unchanged).

    Raises
    ------
    NotFound, BlockedError, NotMutualError
        Unknown message, or the conversation closed since.
    """
    with app.uow as uow:
        message = _own_message(uow, sender, message_id)
        conv = uow.conversations.get(message.conversation_id)
        recipient = conv.user_b if conv.user_a == sender else conv.user_a
        open_conversation(uow, sender, recipient)
    return message if message.delivery is DeliveryStatus.DELIVERED else _deliver(app, message, recipient)


def history(app: Any, viewer: UserId, other: UserId, *, before: int | None = None, limit: int = 50) -> Page:
    """Messages between ``viewer`` and ``other``, newest first, ``limit`` at a time.

    Raises
    ------
    InvalidInputError
        ``limit`` outside 1..200.
    SelfActionError, NotFound, BlockedError, NotMutualError
        No open conversation between them (a blocked or unmatched pair shows nothing).
    """
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInputError(f"history limit must be 1..{MAX_PAGE}, got {limit}")
    from sqlalchemy import select

    from perfectmatch.adapters.storage.mappings import MESSAGES
    from perfectmatch.adapters.storage.schema import messages as t

    with app.uow as uow:
        conv = open_conversation(uow, viewer, other)
        stmt = select(t).where(t.c.conversation_id == conv.id)  # index (conversation_id, id): one range scan
        if before is not None:
            stmt = stmt.where(t.c.id < before)
        rows = uow.connection.execute(stmt.order_by(t.c.id.desc()).limit(limit + 1)).mappings()
        older = [MESSAGES.from_row(r) for r in rows]
    page = older[:limit]
    return Page(messages=page, next_before=page[-1].id if len(older) > limit else None)


def conversations_of(app: Any, user_id: UserId) -> list[dict[str, Any]]:
    """The user's open conversations (never with a blocked user), most recently created first."""
    with app.uow as uow:
        active_user(uow, user_id)
        convs = uow.conversations.where(user_a=user_id, active=True) + uow.conversations.where(
            user_b=user_id, active=True)
        out = []
        for c in sorted(convs, key=lambda c: (c.created_at, c.id), reverse=True):
            other = c.user_b if c.user_a == user_id else c.user_a
            if not is_blocked(uow, user_id, other):
                out.append({"conversation_id": c.id, "user_id": other, "created_at": c.created_at.isoformat()})
    return out


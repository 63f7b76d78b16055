"""Likes, unmatch and chat rules on a small simulated population (SQLite)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from perfectmatch.adapters.notify.basic import RecordingNotifier
from perfectmatch.errors import InvalidInputError, NotFound
from perfectmatch.models import DeliveryStatus, MatchStatus, MessageKind, Notification, NotificationType, Tier
from perfectmatch.social import blocks, chat, likes
from perfectmatch.social.errors import NotMatchedError, NotMutualError, PremiumRequiredError, SelfActionError
from perfectmatch.social.wiring import services

MakeApp = Callable[..., Any]


def ids_of(app: Any) -> list[int]:
    with app.uow as uow:
        return sorted(int(u.id) for u in uow.users.where())


def set_tier(app: Any, uid: int, tier: Tier) -> None:
    with app.uow as uow:
        uow.users.add(uow.users.get(uid).model_copy(update={"tier": tier}))
        uow.commit()


def mutual(app: Any, a: int, b: int) -> int:
    likes.like(app, a, b)
    result = likes.like(app, b, a)
    assert result.mutual and result.conversation_id is not None
    return result.conversation_id


def test_one_sided_likes_are_hidden_and_premium_sees_likers(make_app: MakeApp) -> None:
    app = make_app()
    a, b, c = ids_of(app)[:3]
    likes.like(app, a, c)
    likes.like(app, b, c)
    again = likes.like(app, b, c)
    assert not again.new and not again.mutual  # liking twice changes nothing
    with pytest.raises(PremiumRequiredError):
        likes.likers_of(app, c)
    like_notes = [n for n in services(app).notifications.inbox(c) if n.type is NotificationType.LIKE]
    assert len(like_notes) <= 2 and all(set(n.content) == {"count"} for n in like_notes)  # anonymous
    set_tier(app, c, Tier.PREMIUM)
    assert sorted(r["user_id"] for r in likes.likers_of(app, c)) == [a, b]
    likes.like(app, c, a)  # now mutual with a: no longer "waiting"
    assert [r["user_id"] for r in likes.likers_of(app, c)] == [b]


def test_likes_need_a_visible_match(make_app: MakeApp) -> None:
    app = make_app()
    ids = ids_of(app)
    a, stranger = ids[0], ids[-1]  # the template matches only the first six users
    with pytest.raises(NotMatchedError):
        likes.like(app, a, stranger)
    with pytest.raises(SelfActionError):
        likes.like(app, a, a)
    with pytest.raises(NotFound):
        likes.like(app, 10**9, a)
    with app.uow as uow:
        assert uow.likes.count() == 0


def test_text_and_image_messages_paginate_newest_first(make_app: MakeApp) -> None:
    app = make_app()
    a, b = ids_of(app)[:2]
    mutual(app, a, b)
    sent = [chat.send_message(app, a if k % 2 else b, b if k % 2 else a, f"m{k}") for k in range(5)]
    img = chat.send_message(app, a, b, "https://cdn.example.org/p/1.jpg", kind=MessageKind.IMAGE)
    assert img.kind is MessageKind.IMAGE
    page1 = chat.history(app, a, b, limit=4)
    assert [m.body for m in page1.messages] == [img.body, "m4", "m3", "m2"]
    page2 = chat.history(app, b, a, before=page1.next_before, limit=4)
    assert [m.body for m in page2.messages] == ["m1", "m0"] and page2.next_before is None
    assert all(m.delivery is DeliveryStatus.DELIVERED for m in sent)
    with pytest.raises(InvalidInputError):
        chat.send_message(app, a, b, "not a url", kind=MessageKind.IMAGE)
    with pytest.raises(InvalidInputError):
        chat.send_message(app, a, b, "")
    with pytest.raises(InvalidInputError):
        chat.history(app, a, b, limit=0)
    assert len(chat.history(app, a, b, limit=200).messages) == 6  # bad input stored nothing


class Down:
    """A notifier that is down until ``up`` is set."""

    def __init__(self) -> None:
        self.up = False
        self.sent: list[Notification] = []

    def send(self, note: Notification) -> None:
        if not self.up:
            raise ConnectionError("push service unavailable")
        self.sent.append(note)


def test_failed_delivery_is_visible_to_the_sender_and_can_be_retried(make_app: MakeApp) -> None:
    notifier = Down()
    app = make_app(notifier)
    a, b = ids_of(app)[:2]
    mutual(app, a, b)
    msg = chat.send_message(app, a, b, "are you there?")
    assert msg.delivery is DeliveryStatus.FAILED
    assert chat.delivery_status(app, a, int(msg.id)) is DeliveryStatus.FAILED
    with pytest.raises(NotFound):
        chat.delivery_status(app, b, int(msg.id))  # only the sender sees delivery status
    notifier.up = True
    assert chat.redeliver(app, a, int(msg.id)).delivery is DeliveryStatus.DELIVERED
    assert chat.delivery_status(app, a, int(msg.id)) is DeliveryStatus.DELIVERED
    assert services(app).notifications.flush() == []  # failed alerts wait for their retry time
    app.clock.advance(60)
    assert {o.status for o in services(app).notifications.flush()} == {"delivered"}
    assert {n.id for n in notifier.sent} >= {f"chat:{msg.id}", f"message:{msg.id}", f"mutual:{a}:{b}:{a}"}


def test_unmatch_closes_the_conversation_and_hides_the_match(make_app: MakeApp) -> None:
    app = make_app()
    a, b = ids_of(app)[:2]
    mutual(app, a, b)
    chat.send_message(app, a, b, "hi")
    sep = blocks.unmatch(app, b, a)
    assert sep.status == "unmatched" and sep.match_changed and sep.conversation_disabled
    with app.uow as uow:
        assert uow.matches.get((a, b)).status is MatchStatus.UNMATCHED
    for x, y in ((a, b), (b, a)):
        with pytest.raises(NotMutualError):
            chat.send_message(app, x, y, "hello again")
        with pytest.raises(NotMatchedError):
            likes.like(app, x, y)
        with pytest.raises(NotMatchedError):
            blocks.unmatch(app, x, y)
    assert chat.conversations_of(app, a) == []
    with pytest.raises(SelfActionError):
        blocks.block(app, a, a)


def test_ai_conversation_starters_are_premium_and_need_an_open_conversation(make_app: MakeApp) -> None:
    from perfectmatch.social.starters import conversation_starters

    app = make_app()
    a, b, c = ids_of(app)[:3]
    mutual(app, a, b)
    with pytest.raises(PremiumRequiredError):
        conversation_starters(app, a, b)
    set_tier(app, a, Tier.PREMIUM)
    got = conversation_starters(app, a, b)
    assert 1 <= len(got.starters) <= 5 and all(isinstance(s, str) and s for s in got.starters)
    assert got.source in ("llm", "cache", "fallback")
    with pytest.raises(NotMutualError):
        conversation_starters(app, a, c)


def test_a_block_drops_alerts_still_waiting_for_quiet_hours_to_end(make_app: MakeApp) -> None:
    from datetime import time

    from perfectmatch.models import NotificationPreferences

    notifier = RecordingNotifier()
    app = make_app(notifier)
    a, b = ids_of(app)[:2]
    service = services(app).notifications
    service.set_preferences(NotificationPreferences(user_id=b, quiet_start=time(11), quiet_end=time(14)))
    mutual(app, a, b)
    chat.send_message(app, a, b, "see you?")
    assert all(n.id.startswith("chat:") for n in notifier.sent if n.user_id == b)  # only the silent transport
    blocks.block(app, b, a)
    app.clock.advance(3 * 3600)
    assert [o.status for o in service.flush()] == ["suppressed"] * 3  # the like, the mutual match, the message
    assert not any(n.user_id == b and not n.id.startswith("chat:") for n in notifier.sent)
    assert service.inbox(b) == []

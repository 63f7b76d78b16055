"""Journey 3 end to end on real SQLite and PostgreSQL: batch -> view matches -> like -> mutual ->
conversation -> message -> notification read; then block -> gone everywhere, also in the next batch."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from perfectmatch.adapters.cache.memory import MemoryCache
from perfectmatch.adapters.clock import FakeClock
from perfectmatch.adapters.notify.basic import RecordingNotifier
from perfectmatch.bootstrap import App, build_app
from perfectmatch.config import Settings
from perfectmatch.discovery import list_matches
from perfectmatch.errors import NotFound
from perfectmatch.models import DeliveryStatus, MatchStatus, NotificationType
from perfectmatch.pipeline import run_daily_batch
from perfectmatch.populations.store import simulate_and_store
from perfectmatch.social import blocks, chat, likes
from perfectmatch.social.delivery import RetryPolicy
from perfectmatch.social.errors import BlockedError, NotMutualError, SelfActionError
from perfectmatch.social.notify import to_spec_json
from perfectmatch.social.wiring import install, services

DAY = date(2026, 11, 25)
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def app(db_url: str) -> Iterator[App]:
    clock = FakeClock(NOW)
    settings = Settings(_env_file=None, db_url=db_url, cache={"backend": "none"}, seed=5)
    app = build_app(settings, clock=clock, cache=MemoryCache(clock), notifier=RecordingNotifier())
    install(app, policy=RetryPolicy(attempts=3, base_s=0.01, sleep=lambda s: None))
    simulate_and_store(app.uow, 500, 7, today=DAY, vector_spec=app.vector_spec)
    report = run_daily_batch(app, day=DAY)
    assert report.status == "done" and report.counts["matches"] > 0
    yield app
    app.close()


def a_match(app: App) -> tuple[int, int]:
    with app.uow as uow:
        best = max(uow.batch.matches_on(DAY), key=lambda m: m.final_score)
    return best.user_a, best.user_b


def test_like_mutual_conversation_message_notification(app: App) -> None:
    a, b = a_match(app)
    assert b in [v.user_id for v in list_matches(app, a)]
    notifier: RecordingNotifier = app.notifier  # type: ignore[assignment]
    sent_before = len(notifier.sent)

    first = likes.like(app, a, b)
    assert first.new and not first.mutual and first.conversation_id is None
    with pytest.raises(NotMutualError):  # no conversation before the like is mutual
        chat.send_message(app, a, b, "hi")
    assert likes.likes_sent(app, a) == [b]

    second = likes.like(app, b, a)
    assert second.mutual and second.conversation_id is not None
    with app.uow as uow:
        assert uow.matches.get((a, b)).status is MatchStatus.MUTUAL
    assert chat.conversations_of(app, a)[0]["user_id"] == b
    mutual = [n for n in notifier.sent[sent_before:] if n.type is NotificationType.MUTUAL_MATCH]
    assert sorted(n.user_id for n in mutual) == [a, b]

    msg = chat.send_message(app, a, b, "Hello there!")
    assert msg.delivery is DeliveryStatus.DELIVERED
    assert chat.delivery_status(app, a, int(msg.id)) is DeliveryStatus.DELIVERED
    page = chat.history(app, b, a)
    assert [m.body for m in page.messages] == ["Hello there!"] and page.next_before is None

    service = services(app).notifications
    inbox = service.inbox(b)
    message_note = next(n for n in inbox if n.type is NotificationType.MESSAGE)
    assert message_note.content["senderId"] == a
    badge = service.badge_count(b)
    read = service.mark_read(b, message_note.id)
    assert read.read and read.read_at == NOW
    assert service.badge_count(b) == badge - 1
    spec = to_spec_json(read)
    assert spec["status"]["read"] and spec["timestamps"]["read"] == "2026-11-25T12:00:00Z"
    assert set(spec) == {"notificationId", "userId", "type", "priority", "content", "channels", "status",
                         "timestamps"}


def test_block_removes_the_pair_everywhere_and_for_good(app: App) -> None:
    a, b = a_match(app)
    likes.like(app, a, b)
    likes.like(app, b, a)
    chat.send_message(app, a, b, "hi")
    assert app.cache is not None
    app.cache.set(f"recent_matches:{a}", [{"user": b}])
    app.cache.set(f"recent_matches:{b}", [{"user": a}])

    blocks.block(app, b, a)

    assert a not in [v.user_id for v in list_matches(app, b)]
    assert b not in [v.user_id for v in list_matches(app, a)]
    assert app.cache.get(f"recent_matches:{a}") is None and app.cache.get(f"recent_matches:{b}") is None
    assert chat.conversations_of(app, a) == [] and chat.conversations_of(app, b) == []
    for sender, recipient in ((a, b), (b, a)):
        with pytest.raises(BlockedError):
            chat.send_message(app, sender, recipient, "still there?")
        with pytest.raises(BlockedError):
            chat.history(app, sender, recipient)
        with pytest.raises(BlockedError):
            likes.like(app, sender, recipient)
    service = services(app).notifications
    for me, other in ((a, b), (b, a)):
        assert all(other not in (n.content.get("userId"), n.content.get("senderId")) for n in service.inbox(me))

    app.clock.advance(86400)  # type: ignore[attr-defined]
    run_daily_batch(app, day=DAY + timedelta(days=1))
    with app.uow as uow:
        later = uow.batch.matches_on(DAY + timedelta(days=1))
        assert uow.matches.get((a, b)).status is MatchStatus.BLOCKED
    assert (a, b) not in {(m.user_a, m.user_b) for m in later}


def test_bad_input_changes_nothing(app: App) -> None:
    a, b = a_match(app)
    with app.uow as uow:
        counts = (uow.likes.count(), uow.blocks.count(), uow.conversations.count(), uow.messages.count())
    with pytest.raises(SelfActionError):
        likes.like(app, a, a)
    with pytest.raises(NotFound):
        likes.like(app, a, 10**9)
    with pytest.raises(NotFound):
        blocks.block(app, a, 10**9)
    with pytest.raises(NotMutualError):
        chat.send_message(app, a, b, "too early")
    with app.uow as uow:
        assert (uow.likes.count(), uow.blocks.count(), uow.conversations.count(), uow.messages.count()) == counts

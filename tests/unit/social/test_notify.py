"""The notification service: preferences, quiet hours, hourly limit, batching, priority, inbox, retries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from perfectmatch.adapters.clock import FakeClock
from perfectmatch.adapters.notify.basic import RecordingNotifier
from perfectmatch.errors import InvalidInputError, NotFound
from perfectmatch.models import Channels, Notification, NotificationPreferences, NotificationType, Priority
from perfectmatch.social.delivery import RetryPolicy, send_with_retry
from perfectmatch.social.errors import DeliveryFailed
from perfectmatch.social.events import LikeReceived, SubscriptionChanged
from perfectmatch.social.notify import notes_for, quiet_until, to_spec_json
from perfectmatch.social.wiring import services

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe")
TYPES = (NotificationType.LIKE, NotificationType.MESSAGE, NotificationType.NEW_MATCH)
MakeApp = Callable[..., Any]


def first_user(app: Any) -> int:
    with app.uow as uow:
        return min(int(u.id) for u in uow.users.where())


def note(uid: int, key: str, kind: NotificationType = NotificationType.MESSAGE, *, at: datetime = NOW,
         priority: Priority = Priority.MEDIUM, channels: Channels | None = None) -> Notification:
    return Notification(id=key, user_id=uid, type=kind, priority=priority, content={"count": 1}, created_at=at,
                        channels=channels or Channels())


def stored(app: Any, uid: int) -> list[Notification]:
    with app.uow as uow:
        return uow.notifications.where(user_id=uid)


# ------------------------------------------------------------------------------ quiet hours (pure)
def test_quiet_until_handles_windows_across_midnight_in_local_time() -> None:
    prefs = NotificationPreferences(user_id=1, quiet_start=time(22), quiet_end=time(7), timezone="Europe/Berlin")
    # 22:30 UTC is 23:30 in Berlin (CET, +1): quiet until 07:00 Berlin = 06:00 UTC next day
    assert quiet_until(prefs, datetime(2026, 11, 25, 22, 30, tzinfo=UTC)) == datetime(2026, 11, 26, 6, tzinfo=UTC)
    assert quiet_until(prefs, datetime(2026, 11, 26, 5, 0, tzinfo=UTC)) == datetime(2026, 11, 26, 6, tzinfo=UTC)
    assert quiet_until(prefs, datetime(2026, 11, 26, 6, 0, tzinfo=UTC)) is None
    assert quiet_until(prefs, datetime(2026, 11, 25, 12, 0, tzinfo=UTC)) is None
    same = prefs.model_copy(update={"quiet_end": time(22)})
    assert quiet_until(same, datetime(2026, 11, 25, 21, 30, tzinfo=UTC)) is None


# ------------------------------------------------------------------------------ preferences
def test_preferences_switch_types_and_channels(make_app: MakeApp) -> None:
    notifier = RecordingNotifier()
    app = make_app(notifier)
    uid, service = first_user(app), services(app).notifications
    service.set_preferences(NotificationPreferences(
        user_id=uid, enabled={NotificationType.LIKE: False}, channels=Channels(push=False, in_app=True, email=False)))
    assert service.submit(note(uid, "l1", NotificationType.LIKE)).status == "suppressed"
    assert [n.id for n in stored(app, uid)] == []
    out = service.submit(note(uid, "m1", channels=Channels(push=True, in_app=True, email=True)))
    assert out.status == "delivered" and notifier.sent == []  # in-app only: stored, nothing pushed
    (m1,) = stored(app, uid)
    assert m1.channels == Channels(push=False, in_app=True, email=False) and m1.delivered
    with pytest.raises(InvalidInputError):
        service.set_preferences(NotificationPreferences(user_id=uid, timezone="Mars/Olympus"))
    with pytest.raises(NotFound):
        service.submit(note(10**9, "x"))


def test_subscription_events_use_email_only_when_allowed(make_app: MakeApp) -> None:
    notifier = RecordingNotifier()
    app = make_app(notifier)
    uid, social = first_user(app), services(app)
    social.bus.publish(SubscriptionChanged(user_id=uid, state="active", plan_id="premium_monthly", at=NOW))
    assert notifier.sent[-1].channels.email is False  # default preferences: no email
    social.notifications.set_preferences(NotificationPreferences(user_id=uid, channels=Channels(email=True)))
    social.bus.publish(SubscriptionChanged(user_id=uid, state="past_due", plan_id="premium_monthly", at=NOW))
    assert notifier.sent[-1].channels.email is True and notifier.sent[-1].content["state"] == "past_due"


# ------------------------------------------------------------------------------ properties
windows = st.tuples(st.integers(0, 23), st.sampled_from([0, 30]), st.integers(0, 23), st.sampled_from([0, 45]))
arrivals = st.lists(st.tuples(st.integers(0, 180), st.sampled_from(TYPES)), min_size=1, max_size=12)


def drive(app: Any, uid: int, gaps: list[tuple[int, NotificationType]]) -> int:
    """Submit one notification after each gap (minutes), flushing as time passes; then run a worker
    that sleeps until ``next_due()`` and flushes, until nothing waits."""
    clock: FakeClock = app.clock
    service = services(app).notifications
    for k, (gap, kind) in enumerate(gaps):
        clock.advance(gap * 60)
        service.flush()
        service.submit(note(uid, f"n{k}", kind, at=clock.now(), priority=Priority.LOW))
    for _ in range(200):
        due = service.next_due()
        if due is None:
            break
        clock.set(max(due, clock.now()))
        service.flush()
    return len(gaps)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(window=windows, zone=st.sampled_from(ZONES), gaps=arrivals)
@example(window=(1, 0, 0, 45), zone="UTC", gaps=[(0, NotificationType.LIKE)])  # a 15-minute open gap
def test_quiet_hours_never_deliver_inside_the_window_and_never_lose(
        make_app: MakeApp, window: tuple[int, int, int, int], zone: str, gaps: list) -> None:
    app = make_app(clock=FakeClock(NOW))
    uid = first_user(app)
    prefs = NotificationPreferences(user_id=uid, quiet_start=time(window[0], window[1]),
                                    quiet_end=time(window[2], window[3]), timezone=zone, max_per_hour=1000)
    services(app).notifications.set_preferences(prefs)
    submitted = drive(app, uid, gaps)
    notes = stored(app, uid)
    assert all(n.delivered for n in notes), "a deferred notification was never delivered"
    assert all(quiet_until(prefs, n.delivered_at) is None for n in notes)
    assert sum(n.content["count"] for n in notes) == submitted  # batched, never dropped


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(limit=st.integers(1, 4), gaps=arrivals)
def test_rate_limit_is_never_exceeded(make_app: MakeApp, limit: int, gaps: list) -> None:
    app = make_app(clock=FakeClock(NOW))
    uid = first_user(app)
    services(app).notifications.set_preferences(NotificationPreferences(user_id=uid, max_per_hour=limit))
    submitted = drive(app, uid, gaps)
    notes = stored(app, uid)
    times = sorted(n.delivered_at for n in notes)
    assert all(n.delivered for n in notes)
    for t in times:
        assert sum(t - timedelta(hours=1) <= u <= t for u in times) <= limit
    assert sum(n.content["count"] for n in notes) == submitted


# ------------------------------------------------------------------------------ batching and priority
def test_waiting_notifications_are_batched_and_delivered_by_priority(make_app: MakeApp) -> None:
    notifier = RecordingNotifier()
    app = make_app(notifier)
    uid, service = first_user(app), services(app).notifications
    service.set_preferences(NotificationPreferences(user_id=uid, quiet_start=time(11), quiet_end=time(13)))
    for k in range(3):
        out = service.handle(LikeReceived(liker=1000 + k, likee=uid, at=NOW))[0]
        assert out.status == ("deferred" if k == 0 else "batched")
    service.submit(note(uid, "m", NotificationType.MESSAGE, priority=Priority.HIGH))
    service.submit(note(uid, "nm", NotificationType.NEW_MATCH, priority=Priority.MEDIUM))
    assert notifier.sent == [] and service.badge_count(uid) == 0
    app.clock.advance(1800)
    assert service.flush() == []  # still quiet at 12:30 (11:00-13:00 UTC)
    app.clock.advance(1800)
    assert [o.status for o in service.flush()] == ["delivered"] * 3
    assert [n.priority for n in notifier.sent] == [Priority.HIGH, Priority.MEDIUM, Priority.LOW]
    likes = notifier.sent[-1]
    assert likes.type is NotificationType.LIKE and likes.content == {"count": 3}  # internal keys not sent
    assert "likerId" not in likes.content  # one-sided likes stay anonymous
    assert service.badge_count(uid) == 3


# ------------------------------------------------------------------------------ inbox
def test_inbox_read_archive_and_retention(make_app: MakeApp) -> None:
    app = make_app()
    uid, service = first_user(app), services(app).notifications
    for k in range(3):
        service.submit(note(uid, f"k{k}", TYPES[k], at=NOW))
        app.clock.advance(60)
    assert [n.id for n in service.inbox(uid)] == ["k2", "k1", "k0"] and service.badge_count(uid) == 3
    service.mark_read(uid, "k2")
    first_read = service.mark_read(uid, "k2").read_at
    assert first_read is not None and service.badge_count(uid) == 2
    service.archive(uid, "k0")
    assert [n.id for n in service.inbox(uid)] == ["k2", "k1"]
    assert [n.id for n in service.inbox(uid, archived=True)] == ["k0"]
    with pytest.raises(NotFound):
        service.mark_read(uid + 1, "k1")  # someone else's notification
    app.clock.advance(31 * 86400)
    assert service.inbox(uid) == [] and service.purge_expired() == 2
    assert [n.id for n in service.inbox(uid, archived=True)] == ["k0"]  # archived ones are kept
    spec = to_spec_json(service.inbox(uid, archived=True)[0])
    assert spec["status"]["archived"] and "_archived" not in spec["content"]


def test_notes_for_every_event_have_stable_ids() -> None:
    event = LikeReceived(liker=1, likee=2, at=NOW)
    assert [n.id for n in notes_for(event)] == [n.id for n in notes_for(event)] == ["like:1:2"]
    with pytest.raises(TypeError):
        notes_for(object())


# ------------------------------------------------------------------------------ retries
class FlakyNotifier(RecordingNotifier):
    """Fails the first ``failures`` sends, then works."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.calls = 0

    def send(self, note: Notification) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError(f"down (call {self.calls})")
        super().send(note)


def test_send_with_retry_backs_off_exponentially() -> None:
    waits: list[float] = []
    policy = RetryPolicy(attempts=4, base_s=0.5, max_s=1.5, sleep=waits.append)
    flaky = FlakyNotifier(3)
    assert send_with_retry(flaky, note(1, "r"), policy) == 4
    assert waits == policy.waits() == [0.5, 1.0, 1.5]
    with pytest.raises(DeliveryFailed) as info:
        send_with_retry(FlakyNotifier(10), note(1, "r"), policy)
    assert info.value.attempts == 4 and isinstance(info.value.__cause__, ConnectionError)


def test_failed_notification_is_kept_and_retried_later(make_app: MakeApp) -> None:
    notifier = FlakyNotifier(3)  # policy: 3 attempts per try
    app = make_app(notifier)
    uid, service = first_user(app), services(app).notifications
    out = service.submit(note(uid, "f"))
    assert out.status == "deferred" and notifier.sent == []
    assert service.flush() == []  # not due yet
    app.clock.advance(60)
    assert [o.status for o in service.flush()] == ["delivered"]
    assert [n.id for n in notifier.sent] == ["f"] and "_failures" not in stored(app, uid)[0].content

"""Operations view of notifications and payment webhooks on SQLite and PostgreSQL: Prometheus counters
by channel and outcome, webhook signature failures counted and written to the audit log."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from perfectmatch.adapters.cache.memory import MemoryCache
from perfectmatch.adapters.clock import FakeClock
from perfectmatch.adapters.notify.basic import RecordingNotifier
from perfectmatch.adapters.storage.billing import SqlAlchemyBillingStore
from perfectmatch.billing.webhooks import Applied, handle_webhook, signature_header
from perfectmatch.bootstrap import App, build_app
from perfectmatch.config import Settings
from perfectmatch.errors import WebhookSignatureError
from perfectmatch.models import Channels, Notification, NotificationPreferences, NotificationType, User
from perfectmatch.ops.audit import WEBHOOK_SIGNATURE_FAILED, audit_events
from perfectmatch.ops.metrics import OpsMetrics
from perfectmatch.social.delivery import RetryPolicy
from perfectmatch.social.wiring import install

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(m: OpsMetrics) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(m.text())
        for s in fam.samples
    }


def make_app(url: str, notifier: RecordingNotifier) -> App:
    clock = FakeClock(NOW)
    app = build_app(
        Settings(_env_file=None, db_url=url, cache={"backend": "none"}),
        clock=clock,
        cache=MemoryCache(clock),
        notifier=notifier,
    )
    install(app, policy=RetryPolicy(attempts=2, base_s=0.01, sleep=lambda s: None))
    return app


def note(i: int, uid: int, **channels: bool) -> Notification:
    return Notification(
        id=f"t:{i}",
        user_id=uid,
        type=NotificationType.LIKE,
        created_at=NOW,
        channels=Channels(**channels),
        content={"count": 1},
    )


def test_notification_outcomes_counted_by_channel(db_url: str) -> None:
    notifier = RecordingNotifier()
    app = make_app(db_url, notifier)
    with app.uow as uow:
        ids = [uow.users.add(User(created_at=NOW, last_active_at=NOW)).id for _ in range(3)]
        uow.commit()
    awake, asleep, muted = ids
    service = app.notification_service
    service.set_preferences(NotificationPreferences(user_id=awake, channels=Channels(email=True)))
    service.set_preferences(NotificationPreferences(user_id=asleep, quiet_start=time(1), quiet_end=time(7)))
    service.set_preferences(NotificationPreferences(user_id=muted, enabled={NotificationType.LIKE: False}))
    metrics = OpsMetrics()
    metrics.watch_notifications(service)

    assert service.submit(note(1, awake)).status == "delivered"  # push + in-app
    assert service.submit(note(2, awake, push=False, email=True)).status == "delivered"  # in-app + email
    assert service.submit(note(3, asleep)).status == "deferred"
    assert service.submit(note(4, muted)).status == "suppressed"
    broken = RecordingNotifier(fail_after=0)
    service.notifier = broken
    failed = Notification(id="t:5", user_id=awake, type=NotificationType.MESSAGE, created_at=NOW, content={})
    assert service.submit(failed).status == "deferred"

    s = samples(metrics)

    def count(channel: str, outcome: str) -> float:
        return s.get(("perfectmatch_notifications_total", (("channel", channel), ("outcome", outcome))), 0.0)

    assert (count("push", "delivered"), count("in_app", "delivered"), count("email", "delivered")) == (1, 2, 1)
    assert (count("push", "deferred"), count("in_app", "deferred")) == (1, 1)
    assert (count("push", "suppressed"), count("in_app", "suppressed")) == (1, 1)
    assert (count("push", "failed"), count("in_app", "failed")) == (1, 1)
    assert len(notifier.sent) == 2
    app.close()


def test_webhook_signature_failure_is_counted_and_audited(db_url: str) -> None:
    app = make_app(db_url, RecordingNotifier())
    metrics = OpsMetrics()
    metrics.watch_database(app.engine)
    payload = b'{"id": "evt_x", "type": "customer.created", "created": 1, "data": {"object": {"id": "cus_1"}}}'
    header = signature_header(payload, ["whsec_right"], int(NOW.timestamp()))
    with app.uow as uow:
        store = SqlAlchemyBillingStore(uow.connection)
        with pytest.raises(WebhookSignatureError):
            handle_webhook(
                payload, header, store=store, clock=app.clock, secrets="whsec_wrong", observe=metrics.observe_webhook
            )
        uow.commit()  # the rejection is durable (as the CLI does)
    with app.uow as uow:
        outcome = handle_webhook(
            payload,
            header,
            store=SqlAlchemyBillingStore(uow.connection),
            clock=app.clock,
            secrets="whsec_right",
            observe=metrics.observe_webhook,
        )
        uow.commit()
    assert outcome is Applied.IGNORED
    events = audit_events(app, kind=WEBHOOK_SIGNATURE_FAILED)
    assert len(events) == 1
    event = events[0]
    assert event["user_id"] is None and event["actor"] == "webhook" and event["at"] == NOW
    assert "signature" in event["detail"]["reason"] and "whsec" not in str(event["detail"])
    s = samples(metrics)
    assert s[("perfectmatch_webhook_signature_failures_total", ())] == 1
    assert s[("perfectmatch_webhook_events_total", (("outcome", "rejected"),))] == 1
    assert s[("perfectmatch_webhook_events_total", (("outcome", "ignored"),))] == 1
    # read from the database at scrape time: what any process recorded
    assert s[("perfectmatch_audit_events_total", (("kind", WEBHOOK_SIGNATURE_FAILED),))] == 1
    app.close()

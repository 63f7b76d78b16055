"""The social services of one ``App``: its event bus, notification service and retry policy.

Built on first use and kept in ``app.extras["social"]``; ``install`` replaces the parts (a
different bus, a test retry policy that never sleeps) before first use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from perfectmatch.social.delivery import RetryPolicy
from perfectmatch.social.events import EventBus, InProcessEventBus
from perfectmatch.social.notify import NotificationService


@dataclass
class Social:
    """The bus events go to, the notification service subscribed to it, and the delivery policy."""

    bus: EventBus
    notifications: NotificationService
    policy: RetryPolicy


def install(app: Any, *, bus: EventBus | None = None, policy: RetryPolicy | None = None,
            retention_days: int = 30) -> Social:
    """Wire the social services for ``app`` (replacing earlier ones) and return them."""
    bus = bus or InProcessEventBus()
    notify = getattr(getattr(app, "settings", None), "notify", None)
    policy = policy or RetryPolicy(**({"attempts": notify.retry_attempts} if notify is not None else {}))
    service = NotificationService(lambda: app.uow, app.clock, app.notifier, policy=policy,
                                  retention_days=retention_days)
    service.subscribe_to(bus)
    social = Social(bus=bus, notifications=service, policy=policy)
    app.extras["social"] = social
    return social


def services(app: Any) -> Social:
    """The app's social services, wired with defaults on first use."""
    social = app.extras.get("social")
    return social if isinstance(social, Social) else install(app)

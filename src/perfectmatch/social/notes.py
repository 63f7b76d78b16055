"""Notifications as data: which events cause which notifications, quiet hours, and the spec's JSON."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from perfectmatch.models import Channels, Notification, NotificationPreferences, NotificationType, Priority
from perfectmatch.social.events import (
    LikeReceived,
    MatchesDelivered,
    MessageReceived,
    MutualMatched,
    SubscriptionChanged,
)

ARCHIVED, LIKERS = "_archived", "_likers"
OTHER_USER_KEYS = ("userId", "senderId", "likerId")  # content keys that name the other user


def quiet_until(prefs: NotificationPreferences, now: datetime) -> datetime | None:
    """The UTC end of the quiet window ``now`` is in, or ``None`` when outside quiet hours.

    Windows are local wall-clock times in ``prefs.timezone`` and may cross midnight (22:00-07:00).
    ``quiet_start == quiet_end`` (or either unset) means no quiet hours.
    """
    start, end = prefs.quiet_start, prefs.quiet_end
    if start is None or end is None or start == end:
        return None
    tz = ZoneInfo(prefs.timezone)
    local = now.astimezone(tz)
    t = local.time().replace(tzinfo=None)
    if start < end:
        inside, day = start <= t < end, local.date()
    else:
        inside = t >= start or t < end
        day = local.date() + timedelta(days=1) if t >= start else local.date()
    if not inside:
        return None
    until = datetime.combine(day, end, tz).astimezone(now.tzinfo)
    return until if until > now else now + timedelta(minutes=1)  # DST folds: try again shortly


def to_spec_json(note: Notification) -> dict[str, Any]:
    """The spec's notification JSON: ids, type, priority, content, channels, status and timestamps."""

    def iso(t: datetime | None) -> str | None:
        return None if t is None else t.isoformat().replace("+00:00", "Z")

    return {
        "notificationId": note.id,
        "userId": note.user_id,
        "type": note.type.value,
        "priority": note.priority.value,
        "content": public_content(note.content),
        "channels": {"push": note.channels.push, "inApp": note.channels.in_app, "email": note.channels.email},
        "status": {"delivered": note.delivered, "read": note.read, "interacted": note.read,
                   "archived": bool(note.content.get(ARCHIVED, False))},
        "timestamps": {"created": iso(note.created_at), "delivered": iso(note.delivered_at), "read": iso(note.read_at)},
    }


def public_content(content: dict[str, Any]) -> dict[str, Any]:
    """``content`` without the service's internal ``_`` keys."""
    return {k: v for k, v in content.items() if not k.startswith("_")}


def notes_for(event: object) -> list[Notification]:
    """The notifications an event causes (one per recipient), with stable idempotency ids."""
    if isinstance(event, LikeReceived):  # the liker stays hidden: premium users list likers separately
        return [Notification(id=f"like:{event.liker}:{event.likee}", user_id=event.likee, type=NotificationType.LIKE,
                             priority=Priority.LOW, content={"count": 1, LIKERS: [event.liker]},
                             created_at=event.at)]
    if isinstance(event, MutualMatched):
        return [
            Notification(id=f"mutual:{event.user_a}:{event.user_b}:{me}", user_id=me,
                         type=NotificationType.MUTUAL_MATCH, priority=Priority.HIGH, created_at=event.at,
                         content={"userId": other, "conversationId": event.conversation_id,
                                  "compatibilityScore": round(event.score)})
            for me, other in ((event.user_a, event.user_b), (event.user_b, event.user_a))
        ]
    if isinstance(event, MessageReceived):
        return [Notification(id=f"message:{event.message_id}", user_id=event.recipient,
                             type=NotificationType.MESSAGE, priority=Priority.HIGH, created_at=event.at,
                             content={"senderId": event.sender, "conversationId": event.conversation_id,
                                      "messageId": event.message_id, "kind": event.kind, "preview": event.preview})]
    if isinstance(event, MatchesDelivered):
        return [Notification(id=f"new_match:{event.user_id}:{event.at.isoformat()}", user_id=event.user_id,
                             type=NotificationType.NEW_MATCH, created_at=event.at,
                             content={"newMatches": event.count, "bestScore": event.best_score})]
    if isinstance(event, SubscriptionChanged):  # critical: email too (if the user allows email)
        return [Notification(id=f"subscription:{event.user_id}:{event.state}:{event.at.isoformat()}",
                             user_id=event.user_id, type=NotificationType.SUBSCRIPTION, priority=Priority.HIGH,
                             channels=Channels(email=True), created_at=event.at,
                             content={"state": event.state, "planId": event.plan_id})]
    raise TypeError(f"no notifications defined for event {type(event).__name__}")

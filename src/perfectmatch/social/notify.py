"""The notification service: preferences, quiet hours, batching, rate limit, priority and the inbox.

Flow (spec "Notification Delivery Workflow"): an event arrives from the bus, becomes one
notification per recipient, is checked against the recipient's preferences (type switch, then
channels push / in-app / email), stored, and delivered unless the recipient is inside quiet hours
(local time, ``zoneinfo``) or over their hourly limit, in which case it is *deferred* (kept with a
``_deferUntil`` time inside ``notifications.content``) and ``flush()`` delivers it later, highest
priority first. A new notification of the same type as one still waiting is folded into it
(``content["count"]`` grows) instead of piling up. Delivery to push or email goes through the
``Notifier`` port with retries; in-app only notifications are delivered by being stored.

Internal state lives in keys starting with ``_`` inside ``content`` (``_deferUntil``, ``_failures``,
``_archived``, ``_likers``), because the schema has no columns for them; ``to_spec_json`` and the
notifier never see those keys, and the inbox never shows ``_likers`` (one-sided likes stay
anonymous). A notification about a user the recipient has blocked (or was blocked by) since it was
queued is dropped before delivery, and delivered ones about them disappear from the inbox.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from perfectmatch.errors import NotFound, PerfectMatchError
from perfectmatch.models import Channels, Notification, NotificationPreferences, NotificationType, Priority, UserId
from perfectmatch.ports import Clock, Notifier, UnitOfWork
from perfectmatch.social.delivery import RetryPolicy, send_with_retry
from perfectmatch.social.errors import DeliveryFailed
from perfectmatch.social.events import (
    EventBus,
    LikeReceived,
    MatchesDelivered,
    MessageReceived,
    MutualMatched,
    SubscriptionChanged,
)
from perfectmatch.social.notes import (
    ARCHIVED,
    LIKERS,
    OTHER_USER_KEYS,
    notes_for,
    public_content,
    quiet_until,
    to_spec_json,
)

__all__ = ["NotificationService", "Outcome", "notes_for", "public_content", "quiet_until", "to_spec_json"]

RANK = {Priority.HIGH: 0, Priority.MEDIUM: 1, Priority.LOW: 2}
DEFER, FAILURES = "_deferUntil", "_failures"
BATCH_PREFIX = "batch:"  # written and delivered by the daily batch's own notify stage
HOUR = timedelta(hours=1)
_DEFAULTS = NotificationPreferences(user_id=0)  # the settings of a user who never changed any


@dataclass(frozen=True)
class Outcome:
    """What happened to one submitted notification.

    ``status`` is ``delivered``, ``deferred`` (quiet hours, rate limit or a failed send; kept),
    ``batched`` (folded into the waiting notification ``into``), ``suppressed`` (preferences),
    or ``duplicate`` (that id exists already).
    """

    id: str
    status: str
    deliver_after: datetime | None = None
    into: str | None = None


def _limit_wait(delivered_at: list[datetime], limit: int, now: datetime) -> datetime | None:
    """When another notification may go out, if ``limit`` were delivered in the closed hour to ``now``."""
    if len(delivered_at) < limit:  # the common case (most users got nothing this hour): nothing to sort
        return None
    since = now - HOUR
    recent = sorted(t for t in delivered_at if t >= since)
    if len(recent) < limit:
        return None
    return recent[len(recent) - limit] + HOUR + timedelta(seconds=1)


def _flags(channels: Channels) -> tuple[bool, bool, bool]:
    return channels.push, channels.in_app, channels.email


def _narrowed(wanted: Channels, allowed: Channels) -> Channels:
    """The channels of ``wanted`` the recipient's preferences ``allowed``: one shared ``Channels`` per
    combination, looked up by plain flags (comparing pydantic models per note cost ~8 us each)."""
    return _channels(*(w and a for w, a in zip(_flags(wanted), _flags(allowed), strict=True)))


@lru_cache(maxsize=8)
def _channels(push: bool, in_app: bool, email: bool) -> Channels:
    return Channels(push=push, in_app=in_app, email=email)


def _with(note: Notification, **changes: Any) -> Notification:
    return note.model_copy(update=changes)


def _shown(note: Notification) -> Notification:
    """``note`` as its recipient may see it: who liked them stays hidden."""
    if LIKERS not in note.content:
        return note
    return _with(note, content={k: v for k, v in note.content.items() if k != LIKERS})


class NotificationService:
    """Applies preferences, quiet hours, batching, the hourly limit and priorities; serves the inbox.

    Parameters
    ----------
    uow_factory
        Returns a fresh unit of work (``lambda: app.uow``).
    clock
        The time source; quiet hours and rate limits use ``clock.now()``.
    notifier
        Delivers push and email notifications; retried with ``policy`` on failure.
    policy
        Retry attempts and exponential backoff for the notifier.
    retention_days
        In-app notifications older than this disappear from the inbox and are purged unless archived.
    """

    def __init__(self, uow_factory: Callable[[], UnitOfWork], clock: Clock, notifier: Notifier, *,
                 policy: RetryPolicy | None = None, retention_days: int = 30,
                 observe: Callable[[str, str], None] | None = None) -> None:
        self._uow = uow_factory
        self.clock = clock
        self.notifier = notifier
        self.policy = policy or RetryPolicy()
        self.retention = timedelta(days=retention_days)
        self.observe = observe  # (channel, outcome) per channel of each outcome: ops.metrics counts them

    def _count(self, channels: Channels, outcome: str) -> None:
        if self.observe is not None:
            for name in ("push", "in_app", "email"):
                if getattr(channels, name):
                    self.observe(name, outcome)

    # ------------------------------------------------------------------ intake
    def subscribe_to(self, bus: EventBus) -> None:
        """Handle every social event type published on ``bus``."""
        for kind in (LikeReceived, MutualMatched, MessageReceived, MatchesDelivered, SubscriptionChanged):
            bus.subscribe(kind, self.handle)

    def handle(self, event: object) -> list[Outcome]:
        """Turn ``event`` into notifications and submit each."""
        return [self.submit(note) for note in notes_for(event)]

    def submit(self, note: Notification) -> Outcome:
        """Store ``note`` for its user (after preferences) and deliver it now or later.

        Raises
        ------
        NotFound
            The recipient does not exist (nothing is stored).
        """
        with self._uow() as uow:
            if uow.users.find(note.user_id) is None:
                raise NotFound(f"user {note.user_id} not found")
            if uow.notifications.find(note.id) is not None:
                return Outcome(note.id, "duplicate")
            prefs = self._prefs(uow, note.user_id)
            ch = Channels(push=note.channels.push and prefs.channels.push,
                          in_app=note.channels.in_app and prefs.channels.in_app,
                          email=note.channels.email and prefs.channels.email)
            if not prefs.allows(note.type) or not (ch.push or ch.in_app or ch.email):
                self._count(note.channels, "suppressed")
                return Outcome(note.id, "suppressed")
            waiting = self._waiting_of_type(uow, note.user_id, note.type)
            if waiting is not None:
                count = int(waiting.content.get("count", 1)) + int(note.content.get("count", 1))
                internal = {k: v for k, v in waiting.content.items() if k.startswith("_")}
                priority = min(waiting.priority, note.priority, key=RANK.__getitem__)
                if LIKERS in waiting.content or LIKERS in note.content:
                    internal[LIKERS] = [*waiting.content.get(LIKERS, []), *note.content.get(LIKERS, [])]
                uow.notifications.add(_with(waiting, content={**note.content, **internal, "count": count},
                                            priority=priority))
                target = waiting.id
            else:
                uow.notifications.add(_with(note, channels=ch, delivered=False, delivered_at=None,
                                            read=False, read_at=None))
                target = note.id
            uow.commit()
        outcome = self._attempt(target)
        return Outcome(note.id, "batched", outcome.deliver_after, into=target) if target != note.id else outcome

    def flush(self) -> list[Outcome]:
        """Deliver every waiting notification that is due, highest priority (then oldest) first."""
        now = self.clock.now()
        with self._uow() as uow:
            due = [n for n in uow.notifications.where(delivered=False)
                   if self._flushable(n) and self._due(n, now)]
        due.sort(key=lambda n: (RANK[n.priority], n.created_at, n.id))
        return [self._attempt(n.id) for n in due]

    def next_due(self) -> datetime | None:
        """When the earliest waiting notification becomes due (``None``: nothing waits).

        A worker sleeps until then and calls ``flush()``; a cron job may simply flush every few
        minutes, though it can then miss a quiet-hours gap shorter than its period.
        """
        with self._uow() as uow:
            times = [datetime.fromisoformat(n.content[DEFER]) if DEFER in n.content else n.created_at
                     for n in uow.notifications.where(delivered=False) if self._flushable(n)]
        return min(times) if times else None

    @staticmethod
    def _flushable(note: Notification) -> bool:
        """Waiting notifications ``flush`` owns: all but the batch's own ones that are not deferred
        (those the batch's notify stage is delivering right now)."""
        return not note.id.startswith(BATCH_PREFIX) or DEFER in note.content

    def deliver_stored(self, notes: Sequence[Notification], *, chunk: int = 500) -> dict[str, int]:
        """Deliver notifications a producer has already stored under ids it owns (the daily batch's
        ``new_match``), applying preferences, quiet hours and the hourly limit as ``submit`` does.

        Idempotent and resumable: a delivered note is skipped, a deferred one is left to ``flush``,
        a suppressed one is removed, and delivered ids are marked in chunks of ``chunk`` (a crash
        re-sends at most the unmarked tail: at least once, like every channel). Preferences and
        recent deliveries are read set-based up front, so a note costs a send, not a transaction.
        Returns the count of each outcome (``delivered``, ``deferred``, ``suppressed``, ``waiting``,
        ``duplicate``).
        """
        now = self.clock.now()
        tally: Counter[str] = Counter()
        users = sorted({n.user_id for n in notes})
        with self._uow() as uow:
            prefs = {p.user_id: p for lo in range(0, len(users), 5000)
                     for p in uow.notification_prefs.find_many(users[lo : lo + 5000])}
            recent = uow.batch.delivered_since(users, now - HOUR)
        delivered: list[str] = []

        def mark(ids: list[str]) -> None:
            if ids:
                with self._uow() as uow:
                    uow.batch.mark_delivered(ids, now)
                    uow.commit()

        try:
            for note in notes:
                if note.delivered or DEFER in note.content:
                    tally["duplicate" if note.delivered else "waiting"] += 1
                    continue
                status = self._deliver_one(note, prefs.get(note.user_id), recent.get(note.user_id, []), now)
                tally[status] += 1
                if status == "delivered":
                    delivered.append(note.id)
                    if len(delivered) % chunk == 0:
                        mark(delivered[-chunk:])
        finally:
            mark(delivered[len(delivered) - len(delivered) % chunk :])
        return dict(tally)

    def _send_fast(self, note: Notification) -> None:
        """One plain attempt (no retry machinery on the common path), then the policy's remaining attempts."""
        try:
            self.notifier.send(note)
            return
        except PerfectMatchError:
            raise
        except Exception as exc:
            if self.policy.attempts <= 1:
                raise DeliveryFailed(f"notification {note.id} to user {note.user_id} failed after 1 attempt: {exc}",
                                     attempts=1) from exc
        self.policy.sleep(self.policy.waits()[0])
        send_with_retry(self.notifier, note, replace(self.policy, attempts=self.policy.attempts - 1))

    def _deliver_one(self, note: Notification, prefs: NotificationPreferences | None, recent: list[datetime],
                     now: datetime) -> str:
        prefs = prefs or _DEFAULTS  # only the settings are read here, never the owner
        ch = _narrowed(note.channels, prefs.channels)
        kept: Notification | None = note
        if prefs.allows(note.type) and (ch.push or ch.in_app or ch.email) and (
                LIKERS in note.content or any(k in note.content for k in OTHER_USER_KEYS)):
            with self._uow() as uow:
                kept = self._without_blocked(uow, note)
        if kept is None or not prefs.allows(note.type) or not (ch.push or ch.in_app or ch.email):
            with self._uow() as uow:
                uow.notifications.delete(note.id)
                uow.commit()
            self._count(note.channels, "suppressed")
            return "suppressed"
        wait = quiet_until(prefs, now) or _limit_wait(recent, prefs.max_per_hour, now)
        if wait is not None or kept is not note or ch.in_app != note.channels.in_app:  # kept: note or a copy
            content = {**kept.content, DEFER: wait.isoformat()} if wait is not None else kept.content
            stored = _with(kept, content=content,
                           channels=Channels(push=note.channels.push, in_app=ch.in_app, email=note.channels.email))
            with self._uow() as uow:
                uow.notifications.add(stored)
                uow.commit()
        if wait is not None:
            self._count(ch, "deferred")
            return "deferred"
        if ch.push or ch.email:
            try:
                public = public_content(kept.content)
                # nothing to narrow or hide:
                same = _flags(ch) == _flags(kept.channels) and len(public) == len(kept.content)
                self._send_fast(kept if same else _with(kept, channels=ch, content=public))
            except DeliveryFailed:
                retry_at = now + timedelta(seconds=self.policy.max_s)
                with self._uow() as uow:
                    stored = uow.notifications.get(note.id)
                    content = {**stored.content, DEFER: retry_at.isoformat(),
                               FAILURES: int(stored.content.get(FAILURES, 0)) + 1}
                    uow.notifications.add(_with(stored, content=content))
                    uow.commit()
                self._count(ch, "failed")
                return "deferred"
        self._count(ch, "delivered")
        return "delivered"

    # ------------------------------------------------------------------ delivery
    def _attempt(self, note_id: str) -> Outcome:
        now = self.clock.now()
        with self._uow() as uow:
            note = uow.notifications.get(note_id)
            if note.delivered:
                return Outcome(note_id, "duplicate")
            kept = self._without_blocked(uow, note)  # a block since it was queued: must never arrive
            if kept is None:
                uow.notifications.delete(note_id)
                uow.commit()
                self._count(note.channels, "suppressed")
                return Outcome(note_id, "suppressed")
            if kept != note:
                uow.notifications.add(kept)
                note = kept
            prefs = self._prefs(uow, note.user_id)
            wait = quiet_until(prefs, now) or self._rate_wait(uow, note.user_id, prefs.max_per_hour, now)
            if wait is not None:
                uow.notifications.add(_with(note, content={**note.content, DEFER: wait.isoformat()}))
                uow.commit()
                self._count(note.channels, "deferred")
                return Outcome(note_id, "deferred", wait)
        if note.channels.push or note.channels.email:
            try:
                send_with_retry(self.notifier, _with(note, content=public_content(note.content)), self.policy)
            except DeliveryFailed:
                retry_at = now + timedelta(seconds=self.policy.max_s)
                with self._uow() as uow:
                    note = uow.notifications.get(note_id)
                    content = {**note.content, DEFER: retry_at.isoformat(),
                               FAILURES: int(note.content.get(FAILURES, 0)) + 1}
                    uow.notifications.add(_with(note, content=content))
                    uow.commit()
                self._count(note.channels, "failed")
                return Outcome(note_id, "deferred", retry_at)
        with self._uow() as uow:
            note = uow.notifications.get(note_id)
            content = {k: v for k, v in note.content.items() if k not in (DEFER, FAILURES)}
            uow.notifications.add(_with(note, content=content, delivered=True, delivered_at=now))
            uow.commit()
        self._count(note.channels, "delivered")
        return Outcome(note_id, "delivered")

    def _rate_wait(self, uow: Any, user_id: UserId, limit: int, now: datetime) -> datetime | None:
        """When the user may get another notification, if ``limit`` were hit in the closed hour to ``now``."""
        recent = [n.delivered_at for n in uow.notifications.where(user_id=user_id, delivered=True)
                  if n.delivered_at is not None]
        return _limit_wait(recent, limit, now)

    @staticmethod
    def _without_blocked(uow: Any, note: Notification) -> Notification | None:
        """``note`` minus anything from a user blocked with its recipient (``None``: nothing left)."""
        def blocked(o: Any) -> bool:
            uid = note.user_id
            return uow.blocks.find((uid, o)) is not None or uow.blocks.find((o, uid)) is not None

        if any(blocked(o) for k in OTHER_USER_KEYS if (o := note.content.get(k)) is not None):
            return None
        likers = note.content.get(LIKERS)
        if not likers:
            return note
        kept = [x for x in likers if not blocked(x)]
        if not kept:
            return None
        if len(kept) == len(likers):
            return note
        count = max(1, int(note.content.get("count", len(likers))) - (len(likers) - len(kept)))
        return _with(note, content={**note.content, LIKERS: kept, "count": count})

    @staticmethod
    def _due(note: Notification, now: datetime) -> bool:
        after = note.content.get(DEFER)
        return after is None or datetime.fromisoformat(after) <= now

    @staticmethod
    def _waiting_of_type(uow: Any, user_id: UserId, kind: NotificationType) -> Notification | None:
        waiting = [n for n in uow.notifications.where(user_id=user_id, type=kind.value, delivered=False)
                   if not n.id.startswith(BATCH_PREFIX)]
        return min(waiting, key=lambda n: (n.created_at, n.id)) if waiting else None

    @staticmethod
    def _prefs(uow: Any, user_id: UserId) -> NotificationPreferences:
        return uow.notification_prefs.find(user_id) or NotificationPreferences(user_id=user_id)

    # ------------------------------------------------------------------ preferences
    def preferences(self, user_id: UserId) -> NotificationPreferences:
        """The user's preferences (defaults when never set)."""
        with self._uow() as uow:
            return self._prefs(uow, user_id)

    def set_preferences(self, prefs: NotificationPreferences) -> None:
        """Store ``prefs`` (the time zone must be a valid IANA name).

        Raises
        ------
        InvalidInputError
            Unknown time zone.
        NotFound
            Unknown user.
        """
        from zoneinfo import ZoneInfoNotFoundError

        from perfectmatch.errors import InvalidInputError

        try:
            ZoneInfo(prefs.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise InvalidInputError(f"notification preferences: unknown time zone {prefs.timezone!r}") from exc
        with self._uow() as uow:
            if uow.users.find(prefs.user_id) is None:
                raise NotFound(f"user {prefs.user_id} not found")
            uow.notification_prefs.add(prefs)
            uow.commit()

    # ------------------------------------------------------------------ inbox
    def inbox(self, user_id: UserId, *, archived: bool = False, limit: int = 50) -> list[Notification]:
        """Delivered in-app notifications, newest first: the last ``retention_days`` or, with
        ``archived=True``, the archived ones (kept past retention). Nothing about a blocked user shows."""
        now = self.clock.now()
        with self._uow() as uow:
            if uow.users.find(user_id) is None:
                raise NotFound(f"user {user_id} not found")
            notes = uow.notifications.where(user_id=user_id, delivered=True)
            hidden = {b.blocked for b in uow.blocks.where(blocker=user_id)}
            hidden |= {b.blocker for b in uow.blocks.where(blocked=user_id)}
        shown = [
            n for n in notes
            if n.channels.in_app and bool(n.content.get(ARCHIVED, False)) == archived
            and (archived or n.created_at >= now - self.retention)
            and not any(n.content.get(k) in hidden for k in OTHER_USER_KEYS)
            and not (n.content.get(LIKERS) and set(n.content[LIKERS]) <= hidden)
        ]
        shown.sort(key=lambda n: (n.created_at, n.id), reverse=True)
        return [_shown(n) for n in shown[:limit]]

    def badge_count(self, user_id: UserId) -> int:
        """Unread, unarchived in-app notifications of the user (what the app icon shows)."""
        return sum(not n.read for n in self.inbox(user_id, limit=10**9))

    def mark_read(self, user_id: UserId, note_id: str) -> Notification:
        """Mark one of the user's notifications read (idempotent: the first read time stays).

        Raises
        ------
        NotFound
            No such notification for this user.
        """
        return self._change(user_id, note_id, lambda n, now: n if n.read else _with(n, read=True, read_at=now))

    def archive(self, user_id: UserId, note_id: str) -> Notification:
        """Archive one of the user's notifications: out of the inbox and badge, kept past retention."""
        return self._change(user_id, note_id, lambda n, now: _with(n, content={**n.content, ARCHIVED: True}))

    def _change(self, user_id: UserId, note_id: str,
                edit: Callable[[Notification, datetime], Notification]) -> Notification:
        with self._uow() as uow:
            note = uow.notifications.find(note_id)
            if note is None or note.user_id != user_id:
                raise NotFound(f"user {user_id} has no notification {note_id!r}")
            changed = edit(note, self.clock.now())
            uow.notifications.add(changed)
            uow.commit()
        return _shown(changed)

    def purge_expired(self) -> int:
        """Delete delivered, unarchived notifications older than the retention period; returns how many."""
        cutoff = self.clock.now() - self.retention
        with self._uow() as uow:
            old = [n.id for n in uow.notifications.where(delivered=True)
                   if n.created_at < cutoff and not n.content.get(ARCHIVED, False)]
            for note_id in old:
                uow.notifications.delete(note_id)
            uow.commit()
        return len(old)

"""Notifiers that need no external service: ``InAppNotifier`` and ``RecordingNotifier``."""

from __future__ import annotations

import logging

from perfectmatch.models import Notification

log = logging.getLogger("perfectmatch.notify")


class InAppNotifier:
    """In-app delivery: the stored notification row is what the app shows, so sending only logs
    the id and type (never the content, which may hold personal data)."""

    def send(self, note: Notification) -> None:
        log.info("in-app notification %s (%s) for user %s", note.id, note.type.value, note.user_id)


class RecordingNotifier:
    """Keeps every notification sent, in order; ``fail_after`` makes it raise to test crashes."""

    def __init__(self, *, fail_after: int | None = None) -> None:
        self.sent: list[Notification] = []
        self._fail_after = fail_after

    def send(self, note: Notification) -> None:
        if self._fail_after is not None and len(self.sent) >= self._fail_after:
            raise ConnectionError(f"injected failure after {self._fail_after} notifications")
        self.sent.append(note)

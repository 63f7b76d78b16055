"""``ChannelNotifier``: one ``Notifier`` that hands a notification to an adapter per channel it has on."""

from __future__ import annotations

from perfectmatch.models import Notification
from perfectmatch.ports import Notifier


class ChannelNotifier:
    """Route to ``push`` (e.g. ``FcmNotifier``), ``email`` (``SmtpNotifier``) and ``in_app`` adapters.

    Channels without an adapter are skipped. The first failing adapter's error propagates (so the
    caller retries the whole notification: delivery is at least once per channel).
    """

    def __init__(self, *, push: Notifier | None = None, email: Notifier | None = None,
                 in_app: Notifier | None = None) -> None:
        self.push, self.email, self.in_app = push, email, in_app

    def send(self, note: Notification) -> None:
        for on, adapter in ((note.channels.in_app, self.in_app), (note.channels.push, self.push),
                            (note.channels.email, self.email)):
            if on and adapter is not None:
                adapter.send(note)

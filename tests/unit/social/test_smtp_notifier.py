"""``SmtpNotifier`` against a real local SMTP server (aiosmtpd) started in the test."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from perfectmatch.adapters.notify.smtp import SmtpNotifier
from perfectmatch.errors import InvalidInputError
from perfectmatch.models import Channels, Notification, NotificationType
from perfectmatch.social.delivery import RetryPolicy, send_with_retry
from perfectmatch.social.errors import DeliveryFailed

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


class Inbox:
    """An aiosmtpd handler that keeps every message; refuses rcpt 'nobody@...'."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.startswith("nobody@"):
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def note(uid: int, *, email: bool = True) -> Notification:
    return Notification(id=f"sub:{uid}", user_id=uid, type=NotificationType.SUBSCRIPTION, created_at=NOW,
                        channels=Channels(email=email), content={"state": "past_due", "_deferUntil": "x"})


def test_emails_only_the_email_channel_to_the_users_address(smtp_server: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server
    addresses = {1: "ada@example.org", 2: None}
    notifier = SmtpNotifier("127.0.0.1", port, sender="noreply@perfectmatch.test", address_of=addresses.get)
    notifier.send(note(1))
    notifier.send(note(1, email=False))  # push/in-app only: not emailed
    notifier.send(note(2))  # no address: skipped
    assert len(inbox.messages) == 1
    rcpts, raw = inbox.messages[0]
    msg = message_from_bytes(raw)
    assert rcpts == ["ada@example.org"] and msg["Subject"] == "Your subscription"
    assert msg["X-PerfectMatch-Notification"] == "sub:1"
    body = msg.get_payload()
    assert "state: past_due" in body and "_deferUntil" not in body


def test_refused_recipient_is_permanent_and_down_server_is_retried(smtp_server: tuple[Inbox, int]) -> None:
    _, port = smtp_server
    refused = SmtpNotifier("127.0.0.1", port, sender="noreply@perfectmatch.test", address_of=lambda u: "nobody@x.org")
    waits: list[float] = []
    with pytest.raises(InvalidInputError):  # not retried: a library error
        send_with_retry(refused, note(1), RetryPolicy(attempts=3, base_s=0.01, sleep=waits.append))
    assert waits == []
    down = SmtpNotifier("127.0.0.1", free_port(), sender="noreply@perfectmatch.test",
                        address_of=lambda u: "ada@example.org", timeout_s=2)
    with pytest.raises(DeliveryFailed):
        send_with_retry(down, note(1), RetryPolicy(attempts=3, base_s=0.01, sleep=waits.append))
    assert waits == [0.01, 0.02]

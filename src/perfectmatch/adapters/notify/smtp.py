"""``SmtpNotifier``: the email channel over the standard library's ``smtplib``.

Only notifications whose ``channels.email`` is set are sent (the notification service has already
applied the user's preferences); the address comes from ``address_of`` (for example the users
table), so the adapter stays independent of storage. Connection and transient server errors
propagate unchanged so the caller's retry policy retries them; a refused recipient is permanent
and becomes ``InvalidInputError`` (not retried).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage

from perfectmatch.errors import InvalidInputError
from perfectmatch.models import Notification, NotificationType, UserId

log = logging.getLogger("perfectmatch.notify.smtp")

SUBJECTS = {
    NotificationType.NEW_MATCH: "You have new matches",
    NotificationType.MESSAGE: "You have a new message",
    NotificationType.LIKE: "Someone likes you",
    NotificationType.MUTUAL_MATCH: "It's a match!",
    NotificationType.SUBSCRIPTION: "Your subscription",
    NotificationType.ACCOUNT: "Confirm your email address",
}


def render_text(note: Notification) -> str:
    """A plain-text body: the subject line, then the public content fields one per line."""
    lines = [SUBJECTS[note.type], ""]
    lines += [f"{k}: {v}" for k, v in sorted(note.content.items()) if not k.startswith("_")]
    return "\n".join(lines) + "\n"


class SmtpNotifier:
    """Send email notifications through an SMTP server (optionally STARTTLS and login).

    Parameters
    ----------
    host, port
        The SMTP server.
    sender
        The From address.
    address_of
        Returns a user's email address, or ``None`` to skip that user.
    username, password
        Login credentials, if the server needs them (use with ``starttls``).
    starttls
        Upgrade the connection with STARTTLS before logging in.
    timeout_s
        Socket timeout per connection, in seconds.
    """

    def __init__(self, host: str, port: int = 25, *, sender: str, address_of: Callable[[UserId], str | None],
                 username: str | None = None, password: str | None = None, starttls: bool = False,
                 timeout_s: float = 10.0, render: Callable[[Notification], str] = render_text) -> None:
        self.host, self.port, self.sender = host, port, sender
        self._address_of = address_of
        self._login = (username, password) if username else None
        self._starttls = starttls
        self._timeout_s = timeout_s
        self._render = render

    def send(self, note: Notification) -> None:
        """Email ``note`` to its user if its email channel is on and the user has an address."""
        if not note.channels.email:
            return
        to = self._address_of(note.user_id)
        if not to:
            log.info("notification %s: user %s has no email address, not emailed", note.id, note.user_id)
            return
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = self.sender, to, SUBJECTS[note.type]
        msg["X-PerfectMatch-Notification"] = note.id
        msg.set_content(self._render(note))
        with smtplib.SMTP(self.host, self.port, timeout=self._timeout_s) as smtp:
            if self._starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self._login is not None:
                smtp.login(self._login[0], self._login[1] or "")
            try:
                smtp.send_message(msg)
            except smtplib.SMTPRecipientsRefused as exc:
                raise InvalidInputError(f"SMTP server refused recipient of notification {note.id}") from exc
        log.info("notification %s emailed to user %s", note.id, note.user_id)

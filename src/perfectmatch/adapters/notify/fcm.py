"""``FcmNotifier``: the push channel over Firebase Cloud Messaging's HTTP v1 API, with httpx.

One ``POST /v1/projects/<project>/messages:send`` per device token of the user. The OAuth2 access
token comes from ``access_token()`` (for example google-auth credentials refreshed by the caller),
so no Google SDK is needed here. Errors are translated at the boundary:

* 429 and 5xx, timeouts and connection errors raise ``PushUnavailable`` (a ``ConnectionError``, so
  ``social.delivery.send_with_retry`` retries it with backoff);
* a token FCM reports as ``UNREGISTERED`` (404) is passed to ``on_unregistered`` and skipped;
* 401/403 raise ``ConfigError`` and any other 4xx ``InvalidInputError`` (permanent, not retried).

A retry re-sends to every token of the user, so delivery is at least once per device.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from perfectmatch.errors import ConfigError, InvalidInputError
from perfectmatch.models import Notification, Priority, UserId

log = logging.getLogger("perfectmatch.notify.fcm")

FCM_URL = "https://fcm.googleapis.com"
TITLES = {"new_match": "New matches", "message": "New message", "like": "Someone likes you",
          "mutual_match": "It's a match!", "subscription": "Subscription update"}


class PushUnavailable(ConnectionError):
    """FCM is unreachable or asked us to come back later (retry with backoff)."""


def fcm_message(note: Notification, token: str) -> dict[str, Any]:
    """The HTTP v1 request body for one device: title, body, string data and platform priority."""
    data = {k: str(v) for k, v in note.content.items() if not k.startswith("_")}
    data.update(notificationId=note.id, type=note.type.value)
    body = str(note.content.get("preview", "")) or "Open the app to see more."
    high = note.priority is Priority.HIGH
    return {"message": {
        "token": token,
        "notification": {"title": TITLES[note.type.value], "body": body},
        "data": data,
        "android": {"priority": "high" if high else "normal"},
        "apns": {"headers": {"apns-priority": "10" if high else "5"}},
    }}


class FcmNotifier:
    """Push notifications to every registered device of a user through FCM HTTP v1.

    Parameters
    ----------
    project_id
        The Firebase project.
    access_token
        Returns a valid OAuth2 bearer token (scope ``firebase.messaging``).
    tokens_of
        The user's device registration tokens.
    on_unregistered
        Called with a token FCM no longer knows, so the caller can forget it.
    client
        An ``httpx.Client`` (tests pass one with ``httpx.MockTransport``); default: one with a 10 s timeout.
    """

    def __init__(self, project_id: str, *, access_token: Callable[[], str],
                 tokens_of: Callable[[UserId], Sequence[str]],
                 on_unregistered: Callable[[str], None] | None = None,
                 client: httpx.Client | None = None, base_url: str = FCM_URL) -> None:
        self.url = f"{base_url.rstrip('/')}/v1/projects/{project_id}/messages:send"
        self._token = access_token
        self._tokens_of = tokens_of
        self._on_unregistered = on_unregistered
        self._client = client or httpx.Client(timeout=10.0)

    def send(self, note: Notification) -> None:
        """Push ``note`` to each of its user's devices if its push channel is on."""
        if not note.channels.push:
            return
        for token in self._tokens_of(note.user_id):
            self._send_one(note, token)

    def _send_one(self, note: Notification, token: str) -> None:
        try:
            resp = self._client.post(self.url, json=fcm_message(note, token),
                                     headers={"Authorization": f"Bearer {self._token()}"})
        except httpx.TransportError as exc:
            raise PushUnavailable(f"FCM unreachable: {exc}") from exc
        if resp.status_code == 200:
            return
        status = _error_status(resp)
        if resp.status_code == 429 or resp.status_code >= 500:
            raise PushUnavailable(f"FCM answered {resp.status_code} {status}")
        if resp.status_code == 404 or status == "UNREGISTERED":
            log.info("notification %s: device token of user %s is unregistered", note.id, note.user_id)
            if self._on_unregistered is not None:
                self._on_unregistered(token)
            return
        if resp.status_code in (401, 403):
            raise ConfigError(f"FCM refused the credentials ({resp.status_code} {status})")
        raise InvalidInputError(f"FCM rejected notification {note.id} ({resp.status_code} {status})")

    def close(self) -> None:
        self._client.close()


def _error_status(resp: httpx.Response) -> str:
    try:
        err = resp.json().get("error", {})
    except ValueError:
        return ""
    details = [d.get("errorCode", "") for d in err.get("details", []) if isinstance(d, dict)]
    return next((d for d in details if d), err.get("status", ""))

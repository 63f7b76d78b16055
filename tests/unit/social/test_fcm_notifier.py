"""``FcmNotifier`` against a local fake of the FCM HTTP v1 endpoint (``httpx.MockTransport``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from perfectmatch.adapters.notify.fcm import FcmNotifier
from perfectmatch.errors import ConfigError, InvalidInputError
from perfectmatch.models import Channels, Notification, NotificationType, Priority
from perfectmatch.social.delivery import RetryPolicy, send_with_retry

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


class FakeFcm:
    """Checks each request like FCM would; ``script`` gives the status codes to answer in turn."""

    def __init__(self, script: list[int] | None = None) -> None:
        self.script = list(script or [])
        self.received: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/projects/pm-test/messages:send" and request.method == "POST"
        assert request.headers["Authorization"] == "Bearer tok-1"
        body = json.loads(request.content)
        msg = body["message"]
        assert set(msg) >= {"token", "notification", "data"}
        assert all(isinstance(v, str) for v in msg["data"].values())  # FCM data values must be strings
        code = self.script.pop(0) if self.script else 200
        if code == 200:
            self.received.append(msg)
            return httpx.Response(200, json={"name": f"projects/pm-test/messages/{len(self.received)}"})
        error = {"code": code, "status": "UNAVAILABLE" if code >= 500 else "NOT_FOUND",
                 "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                              "errorCode": "UNREGISTERED" if code == 404 else "UNAVAILABLE"}]}
        return httpx.Response(code, json={"error": error})


def make(fake: FakeFcm, tokens: dict[int, list[str]], gone: list[str] | None = None) -> FcmNotifier:
    return FcmNotifier("pm-test", access_token=lambda: "tok-1", tokens_of=lambda u: tokens.get(u, []),
                       on_unregistered=(gone.append if gone is not None else None),
                       client=httpx.Client(transport=httpx.MockTransport(fake), base_url="https://fcm.test"),
                       base_url="https://fcm.test")


def note(push: bool = True) -> Notification:
    return Notification(id="message:7", user_id=1, type=NotificationType.MESSAGE, priority=Priority.HIGH,
                        created_at=NOW, channels=Channels(push=push), content={"preview": "hi", "senderId": 2,
                                                                                "_deferUntil": "x"})


def test_pushes_to_every_device_of_the_user() -> None:
    fake = FakeFcm()
    make(fake, {1: ["dev-a", "dev-b"]}).send(note())
    assert [m["token"] for m in fake.received] == ["dev-a", "dev-b"]
    msg = fake.received[0]
    assert msg["notification"] == {"title": "New message", "body": "hi"}
    assert msg["data"]["senderId"] == "2" and "_deferUntil" not in msg["data"]
    assert msg["android"]["priority"] == "high"
    make(fake, {1: ["dev-a"]}).send(note(push=False))
    assert len(fake.received) == 2  # push channel off: nothing sent


def test_unavailable_is_retried_and_unregistered_tokens_are_reported() -> None:
    fake, gone, waits = FakeFcm([503, 429]), [], []
    attempts = send_with_retry(make(fake, {1: ["dev-a"]}, gone), note(),
                               RetryPolicy(attempts=4, base_s=0.1, sleep=waits.append))
    assert attempts == 3 and waits == [0.1, 0.2] and len(fake.received) == 1
    make(FakeFcm([404]), {1: ["old"]}, gone).send(note())
    assert gone == ["old"]


@pytest.mark.parametrize(("code", "error"), [(401, ConfigError), (400, InvalidInputError)])
def test_permanent_errors_are_not_retried(code: int, error: type[Exception]) -> None:
    waits: list[float] = []
    with pytest.raises(error):
        send_with_retry(make(FakeFcm([code]), {1: ["dev-a"]}), note(), RetryPolicy(sleep=waits.append))
    assert waits == []


def test_channel_notifier_routes_by_channel() -> None:
    from perfectmatch.adapters.notify.basic import RecordingNotifier
    from perfectmatch.adapters.notify.channels import ChannelNotifier

    push, email, in_app = RecordingNotifier(), RecordingNotifier(), RecordingNotifier()
    router = ChannelNotifier(push=push, email=email, in_app=in_app)
    router.send(note())  # default channels: push and in-app
    router.send(note().model_copy(update={"channels": Channels(push=False, in_app=False, email=True)}))
    assert (len(push.sent), len(in_app.sent), len(email.sent)) == (1, 1, 1)
    assert email.sent[0].channels.email and not push.sent[0].channels.email

"""Servers speaking Stripe's API on 127.0.0.1: localstripe (PyPI) and a small fake of our own.

localstripe declines the insufficient-funds and expired-card test numbers at attach time with a
generic ``card_declined`` and no ``decline_code``, and cannot fail on purpose; ``FakeStripe`` fills
that gap: it answers the few calls ``StripeGateway.charge`` makes with scripted Stripe-shaped
responses (decline codes, 500, 429) or drops the connection (a network error).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

SERVE = ("import sys; from aiohttp import web; from localstripe.server import app; "
         "web.run_app(app, host='127.0.0.1', port=int(sys.argv[1]), print=None)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def localstripe_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start localstripe on a free loopback port for the session (its state is in memory)."""
    import localstripe  # noqa: F401 - part of the test extra; a missing install must fail, never skip
    port = _free_port()
    cwd: Path = tmp_path_factory.mktemp("localstripe")
    log = (cwd / "server.log").open("w")
    proc = subprocess.Popen([sys.executable, "-c", SERVE, str(port)], cwd=cwd, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"localstripe did not start: {(cwd / 'server.log').read_text()}") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


class FakeStripe:
    """Scripted replies for ``POST /v1/payment_intents``; a customer with one default Visa card."""

    def __init__(self) -> None:
        self.replies: deque[tuple[int, dict[str, Any]] | str] = deque()
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def decline(self, code: str, decline_code: str | None = None) -> None:
        error = {"type": "card_error", "code": code, "message": "Your card was declined."}
        if decline_code:
            error["decline_code"] = decline_code
        self.replies.append((402, {"error": error}))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                fake.requests.append(("GET", self.path, dict(self.headers)))
                if self.path.startswith("/v1/customers/"):
                    cid = self.path.rsplit("/", 1)[1]
                    self._send(200, {"id": cid, "object": "customer",
                                     "invoice_settings": {"default_payment_method": "pm_fake"}})
                elif self.path.startswith("/v1/payment_methods/"):
                    self._send(200, {"id": "pm_fake", "object": "payment_method", "type": "card",
                                     "card": {"last4": "9995", "brand": "visa", "exp_month": 4, "exp_year": 2031}})
                else:
                    self._send(404, {"error": {"type": "invalid_request_error", "message": "no such route"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                self.rfile.read(length)
                fake.requests.append(("POST", self.path, dict(self.headers)))
                reply = fake.replies.popleft() if fake.replies else (200, {
                    "id": "pi_fake", "object": "payment_intent", "status": "succeeded"})
                if reply == "drop":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.connection.close()
                    return
                assert not isinstance(reply, str)
                self._send(*reply)

        return Handler

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    fake = FakeStripe()
    yield fake
    fake.close()

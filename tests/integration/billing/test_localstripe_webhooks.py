"""Webhook deliveries made and signed by localstripe (a server we did not write) pass verification.

localstripe may send ``invoice.payment_succeeded`` before ``customer.subscription.created``, and
without the subscription's metadata; the invoice is then ``DEFERRED`` (not marked seen) and applies
on redelivery, as a non-2xx answer would make Stripe redeliver it.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import stripe  # part of the test extra: fail, never skip, when it is missing

from perfectmatch.adapters.clock import FakeClock
from perfectmatch.billing.store import InMemoryBillingStore
from perfectmatch.billing.subscription import State, is_premium
from perfectmatch.billing.webhooks import Applied, handle_webhook
from perfectmatch.errors import WebhookSignatureError


class Receiver:
    def __init__(self) -> None:
        self.got: list[tuple[bytes, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.got.append((body, self.headers["Stripe-Signature"]))
                self.send_response(200)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def types(self) -> list[str]:
        return [json.loads(body)["type"] for body, _ in self.got]


def _configure(base: str, url: str, events: list[str] | None = None) -> None:
    fields: list[tuple[str, str]] = [("url", url), ("secret", "whsec_ls")]
    fields += [("events[]", e) for e in events or []]
    req = urllib.request.Request(f"{base}/_config/webhooks/billing-test", data=urllib.parse.urlencode(fields).encode())
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 200


@pytest.fixture
def receiver(localstripe_url: str) -> Iterator[Receiver]:
    rec = Receiver()
    _configure(localstripe_url, rec.url)
    yield rec
    _configure(localstripe_url, rec.url, events=["billing-test.off"])  # stop deliveries to us
    rec.server.shutdown()
    rec.server.server_close()


def test_localstripe_deliveries_verify_and_apply(localstripe_url: str, receiver: Receiver) -> None:
    client = stripe.StripeClient("sk_test_local", base_addresses={"api": localstripe_url}, max_network_retries=0)
    customer = client.v1.customers.create(params={"metadata": {"user_id": "5"}})
    pm = client.v1.payment_methods.create(params={"type": "card", "card": {
        "number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}})
    client.v1.payment_methods.attach(pm.id, params={"customer": customer.id})
    client.v1.customers.update(customer.id, params={"invoice_settings": {"default_payment_method": pm.id}})
    plan = client.v1.plans.create(params={"amount": 1999, "currency": "usd", "interval": "month",
                                          "product": {"name": "Premium"}})
    sub = client.v1.subscriptions.create(params={"customer": customer.id, "items": [{"plan": plan.id}],
                                                 "metadata": {"user_id": "5", "plan_id": "premium_monthly"}})
    deadline = time.monotonic() + 10
    while "customer.subscription.created" not in receiver.types() and time.monotonic() < deadline:
        time.sleep(0.05)
    client.v1.subscriptions.cancel(sub.id)
    while "customer.subscription.deleted" not in receiver.types() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert {"invoice.payment_succeeded", "customer.subscription.created",
            "customer.subscription.deleted"} <= set(receiver.types())

    clock = FakeClock(datetime.now(UTC))
    store = InMemoryBillingStore()

    def deliver(body: bytes, header: str) -> Applied:
        return handle_webhook(body, header, store=store, clock=clock, secrets="whsec_rotated_out,whsec_ls")

    outcomes = [(json.loads(b)["type"], deliver(b, h)) for b, h in receiver.got]
    # localstripe sends asynchronously: the invoice may come before the subscription it belongs to
    assert dict(outcomes)["invoice.payment_succeeded"] in (Applied.DEFERRED, Applied.APPLIED)
    assert dict(outcomes)["customer.subscription.created"] in (Applied.APPLIED, Applied.IGNORED)  # after deleted
    assert ("customer.subscription.deleted", Applied.APPLIED) in outcomes
    assert all(o is not Applied.DUPLICATE for _, o in outcomes)
    deferred = [(b, h) for (b, h), (_, o) in zip(receiver.got, outcomes, strict=True) if o is Applied.DEFERRED]
    assert [deliver(b, h) for b, h in deferred] == [Applied.APPLIED] * len(deferred)  # the redelivery

    account = store.account(5)
    assert account is not None and account.provider_ref == sub.id and account.provider_deleted
    assert account.state is State.CANCELING and is_premium(account, clock.now())  # paid period runs on
    invoice = next(json.loads(b)["data"]["object"] for b, _ in receiver.got
                   if json.loads(b)["type"] == "invoice.payment_succeeded")
    assert [(p.kind, p.amount.amount_minor, p.provider_ref) for p in store.payments()] == [
        ("invoice", 1999, invoice["id"])]
    assert {deliver(b, h) for b, h in receiver.got} == {Applied.DUPLICATE}  # replaying changes nothing
    body, header = receiver.got[-1]
    with pytest.raises(WebhookSignatureError):
        deliver(body.replace(b"canceled", b"active"), header)
    with pytest.raises(WebhookSignatureError):
        handle_webhook(body, header, store=store, clock=clock, secrets="whsec_other")
    assert [r.outcome for r in store.webhook_log()][-2:] == ["rejected", "rejected"]

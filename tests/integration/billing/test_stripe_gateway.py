"""``StripeGateway`` with the official client against localstripe and against our ``FakeStripe``."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime

import pytest
import stripe  # part of the test extra: fail, never skip, when it is missing

from integration.billing.conftest import FakeStripe
from perfectmatch.adapters.clock import FakeClock
from perfectmatch.adapters.payments.stripe import StripeGateway
from perfectmatch.billing.service import BillingService
from perfectmatch.billing.store import InMemoryBillingStore
from perfectmatch.billing.subscription import Account, State
from perfectmatch.billing.webhooks import signature_header, verify
from perfectmatch.errors import BillingError, ConfigError, PaymentUnavailable
from perfectmatch.ports import Money

USD = Money(1999, "usd")


def _card(url: str, number: str) -> str:
    """Make a card payment method the way Stripe.js would (raw numbers only ever reach the fake)."""
    client = stripe.StripeClient("sk_test_local", base_addresses={"api": url}, max_network_retries=0)
    pm = client.v1.payment_methods.create(params={"type": "card", "card": {
        "number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123"}})
    return str(pm.id)


def test_success_stores_only_last4_and_brand(localstripe_url: str) -> None:
    gateway = StripeGateway("sk_test_local", api_base=localstripe_url)
    customer = gateway.create_customer(11, "eleven@example.com")
    assert customer.startswith("cus_")
    card = gateway.attach_card(customer, _card(localstripe_url, "4242424242424242"))
    assert (card.last4, card.brand, card.exp_month, card.exp_year) == ("4242", "visa", 12, 2030)
    result = gateway.charge(customer, USD, idempotency_key="t-success")
    assert result.ok and result.provider_ref and result.provider_ref.startswith("pi_")
    assert (result.card_last4, result.card_brand) == ("4242", "visa")
    assert "4242424242424242" not in repr(result)


def test_declined_at_charge_is_a_failed_result(localstripe_url: str) -> None:
    gateway = StripeGateway("sk_test_local", api_base=localstripe_url)
    customer = gateway.create_customer(12, None)
    gateway.attach_card(customer, _card(localstripe_url, "4000000000000341"))  # attaches, declines on charge
    result = gateway.charge(customer, USD, idempotency_key="t-decline")
    assert not result.ok and result.failure_code == "card_declined" and result.card_last4 == "0341"


@pytest.mark.parametrize("number", ["4000000000000002", "4000000000009995", "4000000000000069"])
def test_declined_insufficient_or_expired_at_attach(localstripe_url: str, number: str) -> None:
    gateway = StripeGateway("sk_test_local", api_base=localstripe_url)
    customer = gateway.create_customer(13, None)
    with pytest.raises(BillingError, match="card refused by the payment provider: card_declined"):
        gateway.attach_card(customer, _card(localstripe_url, number))
    assert gateway.charge(customer, USD, idempotency_key=f"t-{number}").failure_code == "no_payment_method"


def test_service_subscribes_and_renews_through_localstripe(localstripe_url: str) -> None:
    gateway = StripeGateway("sk_test_local", api_base=localstripe_url)
    clock = FakeClock(datetime(2026, 4, 1, tzinfo=UTC))
    store = InMemoryBillingStore()
    service = BillingService(store, gateway, clock)
    customer = gateway.create_customer(21, None)
    gateway.attach_card(customer, _card(localstripe_url, "4242424242424242"))
    store.save_account(Account(user_id=21, plan_id="premium_monthly", customer_ref=customer))
    assert service.subscribe(21, "premium_monthly").ok
    clock.set(datetime(2026, 4, 30, 1, tzinfo=UTC))
    assert service.run_renewals().renewed == 1
    gateway.attach_card(customer, _card(localstripe_url, "4000000000000341"))  # new default card declines
    clock.set(datetime(2026, 5, 31, 1, tzinfo=UTC))
    report = service.run_renewals()
    assert report.failed == 1 and store.account(21).state is State.PAST_DUE  # type: ignore[union-attr]
    assert [p.ok for p in store.payments(21)] == [True, True, False]
    assert store.account(21).card.last4 == "0341"  # type: ignore[union-attr]


@pytest.mark.parametrize(("code", "decline", "expected"), [
    ("card_declined", "insufficient_funds", "insufficient_funds"),
    ("expired_card", None, "expired_card"),
    ("card_declined", "generic_decline", "generic_decline"),
])
def test_decline_codes_from_fake_stripe(fake_stripe: FakeStripe, code: str, decline: str | None,
                                        expected: str) -> None:
    fake_stripe.decline(code, decline)
    gateway = StripeGateway("sk_test_fake", api_base=fake_stripe.url)
    result = gateway.charge("cus_1", USD, idempotency_key="k-decline")
    assert not result.ok and result.failure_code == expected and result.card_last4 == "9995"
    post = [r for r in fake_stripe.requests if r[0] == "POST"]
    assert post and {k.lower(): v for k, v in post[0][2].items()}["idempotency-key"] == "k-decline"


@pytest.mark.parametrize("reply", ["drop", (500, {"error": {"type": "api_error", "message": "boom"}}),
                                   (429, {"error": {"type": "invalid_request_error", "message": "slow down"}})])
def test_network_and_server_errors_are_payment_unavailable(fake_stripe: FakeStripe, reply: object) -> None:
    fake_stripe.replies.append(reply)  # type: ignore[arg-type]
    gateway = StripeGateway("sk_test_fake", api_base=fake_stripe.url, timeout_s=5)
    with pytest.raises(PaymentUnavailable, match="stripe"):
        gateway.charge("cus_1", USD, idempotency_key="k-net")
    assert gateway.charge("cus_1", USD, idempotency_key="k-net").ok  # the next try succeeds


def test_refused_connection_is_payment_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gateway = StripeGateway("sk_test_x", api_base=f"http://127.0.0.1:{port}", timeout_s=2)
    with pytest.raises(PaymentUnavailable, match="APIConnectionError"):
        gateway.create_customer(1, None)


def test_missing_key_and_env() -> None:
    with pytest.raises(ConfigError, match="STRIPE_API_KEY"):
        StripeGateway.from_env({})
    assert isinstance(StripeGateway.from_env({"STRIPE_API_KEY": "sk_test_1", "STRIPE_API_BASE": "http://127.0.0.1:1"}),
                      StripeGateway)


def test_our_signatures_match_the_official_library() -> None:
    payload = json.dumps({"id": "evt_1", "object": "event", "type": "invoice.paid", "data": {"object": {}}}).encode()
    now = int(datetime.now(UTC).timestamp())
    header = signature_header(payload, ["whsec_a", "whsec_b"], now)
    for secret in ("whsec_a", "whsec_b"):
        assert stripe.Webhook.construct_event(payload.decode(), header, secret).id == "evt_1"
    theirs = f"t={now},v1={stripe.WebhookSignature._compute_signature(f'{now}.{payload.decode()}', 'whsec_b')}"
    assert verify(payload, theirs, ["whsec_a", "whsec_b"], now=datetime.now(UTC)) == now

"""``StripeGateway``: the ``PaymentGateway`` port on the official ``stripe`` library (extra ``payments``).

Customers carry ``metadata.user_id``; a card is attached as the customer's default payment method and
renewals are off-session PaymentIntents confirmed at once, with our idempotency key. Only the card's
last four digits, brand and expiry come back to us. Stripe's errors are translated here: a card
decline is a failed ``PaymentResult`` (``failure_code`` is Stripe's decline code), a network, rate
limit or server error is ``PaymentUnavailable`` (nothing known to be charged), anything else is a
``BillingError``. The SDK's own retries are off; ``run_renewals`` simply tries again later.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from perfectmatch.billing.subscription import Card
from perfectmatch.errors import BillingError, ConfigError, PaymentUnavailable
from perfectmatch.models import UserId
from perfectmatch.ports import Money, PaymentResult


def _stripe() -> Any:
    try:
        import stripe
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError("StripeGateway needs the stripe library: pip install 'perfectmatch[payments]'") from exc
    return stripe


class StripeGateway:
    """Charges through Stripe (or any server speaking its API at ``api_base``, e.g. localstripe).

    Parameters
    ----------
    api_key
        A secret key (``sk_...``); read from ``STRIPE_API_KEY`` by ``from_env``.
    api_base
        Base URL of the API (default Stripe's); ``STRIPE_API_BASE`` points it at a local fake.
    timeout_s
        Per-request timeout.
    """

    def __init__(self, api_key: str, *, api_base: str | None = None, timeout_s: float = 20.0) -> None:
        if not api_key:
            raise ConfigError("StripeGateway needs an API key (STRIPE_API_KEY)")
        stripe = _stripe()
        self._stripe = stripe
        kwargs: dict[str, Any] = {"max_network_retries": 0, "http_client": stripe.new_default_http_client(
            timeout=timeout_s)}
        if api_base:
            kwargs["base_addresses"] = {"api": api_base.rstrip("/")}
        self._client = stripe.StripeClient(api_key, **kwargs)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StripeGateway:
        """Build from ``STRIPE_API_KEY`` and optional ``STRIPE_API_BASE``."""
        env = os.environ if env is None else env
        return cls(env.get("STRIPE_API_KEY", ""), api_base=env.get("STRIPE_API_BASE") or None)

    # ------------------------------------------------------------ port
    def create_customer(self, user_id: UserId, email: str | None) -> str:
        """Create a Stripe customer for ``user_id``; returns its id (``cus_...``)."""
        params: dict[str, Any] = {"metadata": {"user_id": str(user_id)}}
        if email:
            params["email"] = email
        return str(self._call(lambda: self._client.v1.customers.create(params=params))["id"])

    def charge(self, customer_ref: str, amount: Money, *, idempotency_key: str) -> PaymentResult:
        """Charge the customer's default card off-session; a decline is ``ok=False``, not an error."""
        customer = self._call(lambda: self._client.v1.customers.retrieve(customer_ref))
        settings = customer.get("invoice_settings") or {}
        pm_id = settings.get("default_payment_method")
        if not pm_id:
            return PaymentResult(ok=False, failure_code="no_payment_method")
        card = self.card(str(pm_id))
        params = {
            "amount": amount.amount_minor, "currency": amount.currency, "customer": customer_ref,
            "payment_method": pm_id, "confirm": True, "off_session": True,
            "metadata": {"idempotency_key": idempotency_key},
        }
        try:
            intent = self._call(lambda: self._client.v1.payment_intents.create(
                params=params, options={"idempotency_key": idempotency_key}))
        except _CardDeclined as exc:
            return _result(False, None, exc.code, card)
        if intent.get("status") == "succeeded":
            return _result(True, str(intent["id"]), None, card)
        error = intent.get("last_payment_error") or {}
        code = error.get("decline_code") or error.get("code") or f"status_{intent.get('status')}"
        return _result(False, str(intent["id"]), str(code), card)

    # ------------------------------------------------------------ cards
    def attach_card(self, customer_ref: str, payment_method_id: str) -> Card:
        """Attach a payment method (tokenised by Stripe.js) and make it the customer's default.

        Raises
        ------
        BillingError
            The card was refused at attach time (message carries Stripe's code).
        """
        try:
            self._call(lambda: self._client.v1.payment_methods.attach(
                payment_method_id, params={"customer": customer_ref}))
        except _CardDeclined as exc:
            raise BillingError(f"card refused by the payment provider: {exc.code}") from None
        self._call(lambda: self._client.v1.customers.update(
            customer_ref, params={"invoice_settings": {"default_payment_method": payment_method_id}}))
        return self.card(payment_method_id)

    def card(self, payment_method_id: str) -> Card:
        """The stored facts of a card payment method: last four digits, brand, expiry."""
        pm = self._call(lambda: self._client.v1.payment_methods.retrieve(payment_method_id))
        card = pm.get("card") or {}
        return Card(str(card.get("last4", "0000")), str(card.get("brand", "unknown")),
                    card.get("exp_month"), card.get("exp_year"))

    # ------------------------------------------------------------ errors
    def _call(self, fn: Any) -> Any:
        """Run one SDK call, returning plain dicts and translating Stripe's exceptions at this boundary."""
        stripe = self._stripe
        try:
            obj = fn()
            return obj.to_dict() if hasattr(obj, "to_dict") else obj
        except stripe.CardError as exc:
            error = (exc.json_body or {}).get("error") or {}
            raise _CardDeclined(str(error.get("decline_code") or exc.code or "card_declined")) from None
        except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
            raise PaymentUnavailable(f"stripe: {type(exc).__name__}: {exc.user_message or exc}") from None
        except stripe.APIError as exc:
            raise PaymentUnavailable(f"stripe: server error {exc.http_status}: {exc.user_message or exc}") from None
        except stripe.StripeError as exc:
            raise BillingError(f"stripe: {type(exc).__name__} ({exc.http_status}): {exc.user_message or exc}") from None


class _CardDeclined(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _result(ok: bool, ref: str | None, code: str | None, card: Card) -> PaymentResult:
    return PaymentResult(ok=ok, provider_ref=ref, failure_code=code, card_last4=card.last4, card_brand=card.brand,
                         card_exp_month=card.exp_month, card_exp_year=card.exp_year)


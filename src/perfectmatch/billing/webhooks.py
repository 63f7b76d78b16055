"""Stripe webhooks: signature verification first, then idempotent, order-tolerant processing.

The signature header is Stripe's ``t=<unix time>,v1=<hex>[,v1=<hex>...]`` where each ``v1`` is
HMAC-SHA256 over ``f"{t}.".encode() + payload`` with an endpoint secret. Nothing in a payload is
parsed or believed before one ``v1`` matches one accepted secret and ``t`` is inside the tolerance.

Processing is idempotent by event id (a replay returns ``Applied.DUPLICATE``) and tolerant of
reordering: subscription events are snapshots, and only the newest one (by ``created``, then id)
sets the state the provider asks for; paid invoices only ever extend the paid period; a deleted
subscription stays deleted, so a late ``customer.subscription.updated`` never reactivates it.
Every delivery, refused or not, is written to the store's webhook log.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from perfectmatch.billing.entitlements import EntitlementCheck
from perfectmatch.billing.service import period_key
from perfectmatch.billing.store import BillingStore, Payment, WebhookRecord, paid_run
from perfectmatch.billing.subscription import TRANSITIONS, Account, Event, State, transition
from perfectmatch.errors import InvalidTransition, WebhookSignatureError
from perfectmatch.ports import Clock, Money

DEFAULT_TOLERANCE_S = 300


class Applied(StrEnum):
    """What handling one verified event did."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"  # verified, but stale, unknown or about nothing we hold
    DEFERRED = "deferred"  # verified, about a subscription not known yet: not marked seen, so a
    # redelivery (answer non-2xx to make Stripe send it again) applies it


SUBSCRIPTION_STATUS = {
    "active": State.ACTIVE,
    "trialing": State.ACTIVE,
    "past_due": State.PAST_DUE,
    "unpaid": State.PAST_DUE,
}
_SYNC_EVENTS = (Event.CANCEL_REQUESTED, Event.RESUMED, Event.RENEWAL_FAILED, Event.RENEWAL_SUCCEEDED,
                Event.PERIOD_ENDED)
_DELETED = ("customer.subscription.deleted", "customer.subscription.canceled", "subscription.canceled",
            "subscription.deleted")


def parse_secrets(value: str | Sequence[str]) -> tuple[str, ...]:
    """Split ``STRIPE_WEBHOOK_SECRET`` (comma-separated during a rotation) into the accepted secrets."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(s.strip() for s in items if s.strip())


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """Return the ``v1`` signature Stripe would send for ``payload`` at ``timestamp``."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()


def signature_header(payload: bytes, secrets: Sequence[str], timestamp: int) -> str:
    """Build a ``Stripe-Signature`` header with one ``v1`` per secret (as during a rotation)."""
    return ",".join([f"t={timestamp}", *(f"v1={sign(payload, s, timestamp)}" for s in secrets)])


def verify(payload: bytes, header: str, secrets: Sequence[str], *, now: datetime,
           tolerance_s: float = DEFAULT_TOLERANCE_S) -> int:
    """Check a ``Stripe-Signature`` header against the raw payload; return its timestamp.

    Raises
    ------
    WebhookSignatureError
        No secret configured, a malformed header, no ``v1`` matching any accepted secret, or a
        timestamp more than ``tolerance_s`` seconds from ``now``.
    """
    if not secrets:
        raise WebhookSignatureError("no webhook secret configured (STRIPE_WEBHOOK_SECRET)")
    timestamp: int | None = None
    candidates: list[str] = []
    for item in (header or "").split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise WebhookSignatureError(f"signature header has a non-numeric timestamp {value[:20]!r}") from None
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise WebhookSignatureError("signature header lacks a 't=' timestamp or a 'v1=' signature")
    expected = [sign(payload, secret, timestamp) for secret in secrets]
    if not any(hmac.compare_digest(e, c) for e in expected for c in candidates):
        raise WebhookSignatureError("no v1 signature matches the payload with any accepted secret")
    age = now.timestamp() - timestamp
    if abs(age) > tolerance_s:
        raise WebhookSignatureError(f"timestamp is {age:.0f}s from now, outside the {tolerance_s:.0f}s tolerance")
    return timestamp


def handle_webhook(
    payload_bytes: bytes,
    signature_header: str,
    *,
    store: BillingStore,
    clock: Clock,
    secrets: str | Sequence[str],
    entitlements: EntitlementCheck | None = None,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    observe: Callable[[str], None] | None = None,
) -> Applied:
    """Verify one delivery, then apply it at most once.

    Parameters
    ----------
    payload_bytes
        The raw request body, exactly as received (the signature covers these bytes).
    signature_header
        The ``Stripe-Signature`` header.
    store, clock
        Where accounts, the ledger and the webhook log live; the source of "now".
    secrets
        Accepted endpoint secrets, a list or a comma-separated string.
    entitlements
        Invalidated for the user whenever their subscription changes.
    observe
        Called with each delivery's outcome (``applied`` ... or ``rejected`` for a failed
        verification), e.g. ``ops.metrics.OpsMetrics.observe_webhook``.

    Returns
    -------
    Applied
        ``APPLIED``, ``DUPLICATE`` (event id seen before) or ``IGNORED`` (stale or irrelevant).

    Raises
    ------
    WebhookSignatureError
        Verification failed; the delivery is logged as rejected and nothing else changes.
    """
    outcome = _handle(payload_bytes, signature_header, store=store, clock=clock, secrets=secrets,
                      entitlements=entitlements, tolerance_s=tolerance_s, observe=observe)
    if observe is not None:
        observe(outcome.value)
    return outcome


def _handle(payload_bytes: bytes, signature_header: str, *, store: BillingStore, clock: Clock,
            secrets: str | Sequence[str], entitlements: EntitlementCheck | None, tolerance_s: float,
            observe: Callable[[str], None] | None) -> Applied:
    now = clock.now()
    try:
        verify(payload_bytes, signature_header, parse_secrets(secrets), now=now, tolerance_s=tolerance_s)
    except WebhookSignatureError as exc:
        store.log_webhook(WebhookRecord(None, None, now, "rejected", str(exc)))  # the store audits it too
        if observe is not None:
            observe("rejected")
        raise
    try:
        event = json.loads(payload_bytes)
        event_id, event_type = str(event["id"]), str(event["type"])
        obj = event["data"]["object"]
    except (ValueError, KeyError, TypeError) as exc:
        store.log_webhook(WebhookRecord(None, None, now, Applied.IGNORED.value, f"unreadable event: {exc!r}"))
        return Applied.IGNORED
    if store.webhook_seen(event_id):
        store.log_webhook(WebhookRecord(event_id, event_type, now, Applied.DUPLICATE.value, "seen before"))
        return Applied.DUPLICATE
    outcome, detail, user_id = _apply(store, event, event_type, obj, now)
    store.log_webhook(WebhookRecord(event_id, event_type, now, outcome.value, detail))
    if user_id is not None and entitlements is not None:
        entitlements.invalidate(user_id)
    return outcome


def _apply(store: BillingStore, event: dict[str, Any], kind: str, obj: dict[str, Any],
           now: datetime) -> tuple[Applied, str, int | None]:
    if kind.startswith(("customer.subscription.", "subscription.")):
        return _subscription(store, event, kind, obj, now)
    if kind in ("invoice.paid", "invoice.payment_succeeded"):
        return _invoice_paid(store, obj, now)
    if kind == "invoice.payment_failed":
        account = _by_subscription(store, obj)
        if account is None:
            return Applied.IGNORED, "no account for this invoice", None
        return Applied.APPLIED, f"payment failed (attempt {obj.get('attempt_count')})", account.user_id
    if kind == "payment_method.detached":
        return _detached(store, event, obj)
    return Applied.IGNORED, f"event type {kind!r} is not handled", None


def _subscription(store: BillingStore, event: dict[str, Any], kind: str, obj: dict[str, Any],
                  now: datetime) -> tuple[Applied, str, int | None]:
    sub_id = str(obj.get("id", ""))
    account = store.account_by_provider_ref(sub_id) if sub_id else None
    if account is None:
        user = (obj.get("metadata") or {}).get("user_id")
        if user is None:
            return Applied.IGNORED, f"subscription {sub_id} names no user_id in metadata", None
        account = store.account(int(user))
        if account is not None and account.provider_ref not in (None, sub_id) and not account.provider_deleted:
            return Applied.IGNORED, f"user {user} is on subscription {account.provider_ref}, not {sub_id}", None
        plan_id = (obj.get("metadata") or {}).get("plan_id") or "premium_monthly"
        base = account or Account(user_id=int(user), plan_id=plan_id)
        account = replace(base, plan_id=plan_id, customer_ref=obj.get("customer") or base.customer_ref,
                          provider_ref=sub_id, provider_target=None, provider_deleted=False,
                          last_provider_event=None)
    stamp = (int(event.get("created", 0)), str(event["id"]))
    deleted = kind in _DELETED or obj.get("status") == "canceled"
    if account.provider_deleted and not deleted:
        return Applied.IGNORED, f"subscription {sub_id} was canceled; a late {kind} changes nothing", account.user_id
    if account.last_provider_event is not None and stamp <= account.last_provider_event and not deleted:
        return Applied.IGNORED, f"older than the applied event {account.last_provider_event[1]}", account.user_id
    target = SUBSCRIPTION_STATUS.get(str(obj.get("status")))
    if target is State.ACTIVE and obj.get("cancel_at_period_end"):
        target = State.CANCELING
    account = replace(account, last_provider_event=max(stamp, account.last_provider_event or stamp),
                      provider_target=target if not deleted else State.CANCELED,
                      provider_deleted=account.provider_deleted or deleted)
    account = _settle(account, now)
    store.save_account(account)
    return Applied.APPLIED, f"state {account.state.value}", account.user_id


def _invoice_paid(store: BillingStore, obj: dict[str, Any], now: datetime) -> tuple[Applied, str, int | None]:
    account = _by_subscription(store, obj)
    if account is None:
        user = _user_of(obj)
        if user is None or not obj.get("subscription"):
            return Applied.DEFERRED, "invoice for a subscription not known yet", None
        meta = _meta(obj)
        account = Account(user_id=user, plan_id=meta.get("plan_id") or "premium_monthly",
                          customer_ref=obj.get("customer"), provider_ref=str(obj["subscription"]))
    lines = ((obj.get("lines") or {}).get("data") or [{}])[0].get("period") or {}
    start_ts, end_ts = lines.get("start", obj.get("period_start")), lines.get("end", obj.get("period_end"))
    if start_ts is None or end_ts is None or end_ts <= start_ts:
        return Applied.IGNORED, "invoice has no usable period", account.user_id
    start, end = datetime.fromtimestamp(start_ts, UTC), datetime.fromtimestamp(end_ts, UTC)
    key = period_key(account.user_id, start)
    paid = store.paid(key)
    if paid is not None and paid.provider_ref != obj.get("id"):
        return Applied.IGNORED, f"period {key} already paid by {paid.provider_ref}", account.user_id
    if paid is None:
        store.add_payment(Payment(
            user_id=account.user_id, plan_id=account.plan_id,
            amount=Money(int(obj.get("amount_paid", 0)), str(obj.get("currency", "usd"))), kind="invoice",
            period_key=key, ok=True, at=now, idempotency_key=str(obj.get("id")), provider_ref=obj.get("id"),
            period_start=start, period_end=end,
        ))
    start, end = paid_run(store.payments(account.user_id), now) or (start, end)
    old_start, old_end = account.period_start, account.period_end
    if old_end is not None and end <= old_end:
        if start != old_start:  # an older period of the current run arrived late: widen only
            store.save_account(replace(account, period_start=min(start, old_start or start)))
        return Applied.APPLIED, "recorded a period inside the paid run", account.user_id
    event = Event.PAYMENT_SUCCEEDED if account.state in (State.INCOMPLETE, State.CANCELED, State.EXPIRED) else (
        Event.RENEWAL_SUCCEEDED)
    if (account.state, event) in TRANSITIONS:
        account = transition(account, event, now, period_start=start, period_end=end)
    else:  # CANCELING: the period is paid; it still ends at its new end
        account = replace(account, period_start=start, period_end=end)
    account = _settle(account, now)
    store.save_account(account)
    return Applied.APPLIED, f"paid until {end.isoformat()}", account.user_id


def _detached(store: BillingStore, event: dict[str, Any], obj: dict[str, Any]) -> tuple[Applied, str, int | None]:
    customer = obj.get("customer") or ((event.get("data") or {}).get("previous_attributes") or {}).get("customer")
    card = obj.get("card") or {}
    account = next((a for a in store.accounts() if customer and a.customer_ref == customer), None)
    if account is None or account.card is None:
        return Applied.IGNORED, "no stored card for this customer", None
    if card.get("last4") not in (None, account.card.last4):
        return Applied.IGNORED, "detached card is not the stored one", account.user_id
    store.save_account(replace(account, card=None))
    return Applied.APPLIED, "card removed", account.user_id


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    """Metadata of an object, or of the subscription an invoice belongs to (``subscription_details``)."""
    return dict(obj.get("metadata") or ((obj.get("subscription_details") or {}).get("metadata") or {}))


def _user_of(obj: dict[str, Any]) -> int | None:
    user = _meta(obj).get("user_id")
    return int(user) if user is not None else None


def _by_subscription(store: BillingStore, obj: dict[str, Any]) -> Account | None:
    sub = obj.get("subscription")
    account = store.account_by_provider_ref(str(sub)) if sub else None
    if account is None:
        user = _user_of(obj)
        found = store.account(user) if user is not None else None
        if found is not None and found.provider_ref in (None, sub):
            account = found
    return account


def _settle(account: Account, now: datetime) -> Account:
    """Move the account toward the state the provider asks for, along allowed transitions only."""
    target = account.provider_target
    if target is None or account.state is target or account.state is State.INCOMPLETE:
        return account
    path = _path(account.state, target)
    for event in path:
        try:
            account = transition(account, event, now, **_effects(event, now))
        except InvalidTransition:
            break  # e.g. ending before the paid period ends: run_renewals ends it later
    return account


def _effects(event: Event, now: datetime) -> dict[str, Any]:
    if event is Event.CANCEL_REQUESTED:
        return {"cancel_requested_at": now}
    if event is Event.PERIOD_ENDED:
        return {"ended_at": now}
    return {}


def _path(start: State, goal: State) -> list[Event]:
    """Shortest sequence of provider-sync events from ``start`` to ``goal`` (empty if none)."""
    queue: deque[tuple[State, list[Event]]] = deque([(start, [])])
    seen = {start}
    while queue:
        state, path = queue.popleft()
        if state is goal:
            return path
        for event in _SYNC_EVENTS:
            nxt = TRANSITIONS.get((state, event))
            if nxt is not None and nxt not in seen:
                seen.add(nxt)
                queue.append((nxt, [*path, event]))
    return []


__all__ = ["Applied", "handle_webhook", "parse_secrets", "sign", "signature_header", "verify"]

"""Webhooks: signatures verified before anything is believed; idempotent; tolerant of reordering."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfectmatch.adapters.cache.memory import MemoryCache
from perfectmatch.adapters.clock import FakeClock
from perfectmatch.billing.entitlements import EntitlementCheck
from perfectmatch.billing.store import InMemoryBillingStore
from perfectmatch.billing.subscription import State, is_premium
from perfectmatch.billing.webhooks import Applied, handle_webhook, parse_secrets, signature_header, verify
from perfectmatch.errors import WebhookSignatureError
from perfectmatch.models import Tier

SECRET = "whsec_current"
OLD = "whsec_old"
T0 = datetime(2026, 3, 1, tzinfo=UTC)
MONTH = 30 * 86400


def ts(when: datetime) -> int:
    return int(when.timestamp())


def ev(event_id: str, kind: str, created: int, obj: dict[str, Any], **extra: Any) -> bytes:
    return json.dumps({"id": event_id, "type": kind, "created": created, "data": {"object": obj, **extra}}).encode()


def sub(status: str, *, cancel: bool = False, user: int = 9, sub_id: str = "sub_1") -> dict[str, Any]:
    return {"id": sub_id, "object": "subscription", "customer": "cus_9", "status": status,
            "cancel_at_period_end": cancel, "metadata": {"user_id": str(user), "plan_id": "premium_monthly"}}


def invoice(inv: str, start: int, end: int, sub_id: str = "sub_1") -> dict[str, Any]:
    return {"id": inv, "object": "invoice", "subscription": sub_id, "customer": "cus_9", "amount_paid": 1999,
            "currency": "usd", "lines": {"data": [{"period": {"start": start, "end": end}}]},
            "subscription_details": {"metadata": {"user_id": "9", "plan_id": "premium_monthly"}}}


class Hook:
    def __init__(self, now: datetime) -> None:
        self.clock = FakeClock(now)
        self.store = InMemoryBillingStore()
        self.cache = MemoryCache(self.clock)
        self.check = EntitlementCheck(self.store.account, self.clock, self.cache)

    def deliver(self, payload: bytes, *, secrets: tuple[str, ...] = (SECRET,), header: str | None = None,
                accept: str = SECRET) -> Applied:
        header = header if header is not None else signature_header(payload, secrets, ts(self.clock.now()))
        return handle_webhook(payload, header, store=self.store, clock=self.clock, secrets=accept,
                              entitlements=self.check)

    def snapshot(self) -> tuple[Any, ...]:
        account = self.store.account(9)
        payments = sorted((p.period_key, p.provider_ref, p.amount) for p in self.store.payments())
        if account is None:
            return (None, tuple(payments))
        return (account.state, account.period_start, account.period_end, account.provider_deleted,
                account.card, tuple(payments))


def lifecycle(n_periods: int, ending: str) -> list[bytes]:
    """A plausible Stripe event stream for user 9, in creation order."""
    c = ts(T0)
    events = [ev("evt_c", "customer.subscription.created", c, sub("incomplete"))]
    for i in range(n_periods):
        start = c + i * MONTH
        events.append(ev(f"evt_inv{i}", "invoice.paid", start + 1, invoice(f"in_{i}", start, start + MONTH)))
        events.append(ev(f"evt_up{i}", "customer.subscription.updated", start + 2, sub("active")))
    last = c + n_periods * MONTH
    if ending == "past_due":
        events.append(ev("evt_fail", "invoice.payment_failed", last, {"id": "in_f", "subscription": "sub_1"}))
        events.append(ev("evt_pd", "customer.subscription.updated", last + 1, sub("past_due")))
    if ending in ("cancel", "deleted"):
        events.append(ev("evt_cx", "customer.subscription.updated", last - 100, sub("active", cancel=True)))
    if ending == "deleted":
        events.append(ev("evt_del", "customer.subscription.deleted", last + 5, sub("canceled")))
    return events


def test_valid_event_applies_once_and_is_logged() -> None:
    hook = Hook(T0 + timedelta(days=2))
    stream = lifecycle(1, "none")
    assert [hook.deliver(p) for p in stream] == [Applied.APPLIED] * 3
    account = hook.store.account(9)
    assert account is not None and account.state is State.ACTIVE and is_premium(account, hook.clock.now())
    assert hook.check.check(9).tier is Tier.PREMIUM
    assert hook.deliver(stream[1]) is Applied.DUPLICATE
    assert [r.outcome for r in hook.store.webhook_log()] == ["applied"] * 3 + ["duplicate"]
    assert len(hook.store.payments()) == 1


@pytest.mark.parametrize(
    ("case", "match"),
    [("tampered", "no v1 signature matches"), ("wrong_secret", "no v1 signature matches"),
     ("stale", "outside the 300s tolerance"), ("future", "outside the 300s tolerance"),
     ("no_v1", "lacks a 't=' timestamp"), ("garbage", "lacks a 't=' timestamp")],
)
def test_bad_signatures_are_refused_logged_and_change_nothing(case: str, match: str) -> None:
    hook = Hook(T0 + timedelta(days=2))
    payload = lifecycle(1, "none")[1]
    now = ts(hook.clock.now())
    hook.deliver(lifecycle(1, "none")[0])
    before = hook.snapshot()
    header = {
        "tampered": signature_header(payload, [SECRET], now),
        "wrong_secret": signature_header(payload, ["whsec_attacker"], now),
        "stale": signature_header(payload, [SECRET], now - 301),
        "future": signature_header(payload, [SECRET], now + 301),
        "no_v1": f"t={now}",
        "garbage": "nonsense",
    }[case]
    body = payload.replace(b"1999", b"1") if case == "tampered" else payload
    with pytest.raises(WebhookSignatureError, match=match):
        hook.deliver(body, header=header)
    assert hook.snapshot() == before
    assert hook.store.webhook_log()[-1].outcome == "rejected"
    assert not hook.store.webhook_seen("evt_inv0")  # a refused delivery can come again, signed properly
    assert hook.deliver(payload) is Applied.APPLIED


def test_secret_rotation_accepts_either_secret_and_several_v1() -> None:
    hook = Hook(T0 + timedelta(days=2))
    assert parse_secrets(" whsec_old , whsec_current,") == (OLD, SECRET)
    stream = lifecycle(1, "none")
    assert hook.deliver(stream[0], secrets=(OLD,), accept=f"{OLD},{SECRET}") is Applied.APPLIED
    assert hook.deliver(stream[1], secrets=("whsec_x", SECRET), accept=SECRET) is Applied.APPLIED
    with pytest.raises(WebhookSignatureError):
        verify(stream[2], signature_header(stream[2], [SECRET], ts(T0)), [], now=T0)


def test_late_update_never_reactivates_a_deleted_subscription() -> None:
    hook = Hook(T0 + timedelta(days=45))
    stream = lifecycle(1, "deleted")
    late_active = stream[2]  # customer.subscription.updated status=active, older than the deletion
    for payload in stream:
        if payload is not late_active:
            hook.deliver(payload)
    assert hook.store.account(9).state is State.CANCELED  # type: ignore[union-attr]
    assert hook.deliver(late_active) is Applied.IGNORED
    fresh = ev("evt_new", "customer.subscription.updated", ts(T0) + 10 * MONTH, sub("active"))
    assert hook.deliver(fresh) is Applied.IGNORED
    assert hook.store.account(9).state is State.CANCELED and hook.check.check(9).tier is Tier.FREE  # type: ignore[union-attr]


def test_payment_method_detached_forgets_the_card() -> None:
    from perfectmatch.billing.subscription import Card

    hook = Hook(T0 + timedelta(days=2))
    hook.deliver(lifecycle(1, "none")[0])
    account = hook.store.account(9)
    assert account is not None
    hook.store.save_account(replace(account, card=Card("4242", "visa", 1, 2030)))
    pm = {"id": "pm_1", "customer": None, "card": {"last4": "4242", "brand": "visa"}}
    payload = ev("evt_pm", "payment_method.detached", ts(T0), pm, previous_attributes={"customer": "cus_9"})
    assert hook.deliver(payload) is Applied.APPLIED
    assert hook.store.account(9).card is None  # type: ignore[union-attr]


@settings(max_examples=60, deadline=None)
@given(
    n_periods=st.integers(1, 3),
    ending=st.sampled_from(["none", "past_due", "cancel", "deleted"]),
    days_after=st.sampled_from([1, 40, 75, 200]),
    data=st.data(),
)
def test_any_order_with_duplicates_ends_like_in_order_and_replay_changes_nothing(
    n_periods: int, ending: str, days_after: int, data: st.DataObject
) -> None:
    stream = lifecycle(n_periods, ending)
    now = T0 + timedelta(days=days_after)
    in_order = Hook(now)
    for payload in stream:
        in_order.deliver(payload)
    shuffled = data.draw(st.permutations(stream))
    dupes = data.draw(st.lists(st.sampled_from(stream), max_size=6))
    mixed = Hook(now)
    for payload in [*shuffled, *dupes]:
        mixed.deliver(payload)
    assert mixed.snapshot() == in_order.snapshot()
    # premium only with a paid period running
    account = mixed.store.account(9)
    paid = [p for p in mixed.store.payments() if p.ok]
    running = any(p.period_start <= now < p.period_end for p in paid)  # type: ignore[operator]
    assert (mixed.check.check(9).tier is Tier.PREMIUM) == (running and account is not None
                                                           and account.state is not State.CANCELED)
    # replaying every event again changes nothing
    before, log_len = mixed.snapshot(), len(mixed.store.webhook_log())
    assert {mixed.deliver(p) for p in stream} == {Applied.DUPLICATE}
    assert mixed.snapshot() == before and len(mixed.store.webhook_log()) == log_len + len(stream)

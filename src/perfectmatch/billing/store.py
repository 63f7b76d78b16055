"""What billing stores: accounts, the payments ledger, transitions, sent notices and the webhook log.

``BillingStore`` is the port; ``InMemoryBillingStore`` is a complete pure-Python implementation
used by tests, simulations and single-process tools.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from perfectmatch.billing.subscription import Account
from perfectmatch.models import UserId
from perfectmatch.ports import Money


@dataclass(frozen=True)
class Payment:
    """One charge attempt in the ledger; ``period_key`` names the paid period it was for."""

    user_id: UserId
    plan_id: str
    amount: Money
    kind: str  # "initial" | "renewal" | "retry" | "invoice"
    period_key: str  # e.g. "7:2026-02-01T03:00:00+00:00"; one successful payment per key at most
    ok: bool
    at: datetime
    idempotency_key: str
    provider_ref: str | None = None
    failure_code: str | None = None
    period_start: datetime | None = None  # the period bought (successful payments only)
    period_end: datetime | None = None


@dataclass(frozen=True)
class WebhookRecord:
    """One webhook delivery as received and what was done with it (the durable log)."""

    event_id: str | None
    event_type: str | None
    received_at: datetime
    outcome: str  # Applied value or "rejected"; only "applied" and "ignored" mark the event id seen
    detail: str = ""


def paid_run(payments: Iterable[Payment], now: datetime) -> tuple[datetime, datetime] | None:
    """The run of back-to-back paid periods that contains ``now``, else the latest run (``None``: none).

    Computed from the whole ledger, so it is the same whatever order payments were recorded in.
    """
    periods = sorted((p.period_start, p.period_end) for p in payments
                     if p.ok and p.period_start is not None and p.period_end is not None)
    runs: list[tuple[datetime, datetime]] = []
    for start, end in periods:
        if runs and start <= runs[-1][1]:
            runs[-1] = (runs[-1][0], max(runs[-1][1], end))
        else:
            runs.append((start, end))
    return next((r for r in runs if r[0] <= now < r[1]), runs[-1] if runs else None)


class BillingStore(Protocol):
    """Storage port of the billing core."""

    def account(self, user_id: UserId) -> Account | None: ...

    def account_by_provider_ref(self, provider_ref: str) -> Account | None: ...

    def save_account(self, account: Account) -> None: ...

    def accounts(self) -> Iterator[Account]: ...

    def add_payment(self, payment: Payment) -> None: ...

    def paid(self, period_key: str) -> Payment | None:
        """The successful payment for ``period_key``, if any."""
        ...

    def payments(self, user_id: UserId | None = None) -> list[Payment]: ...

    def mark_notice(self, key: str) -> bool:
        """Remember that the notice ``key`` was sent; False when it already was."""
        ...

    def save_settings(self, user_id: UserId, settings: dict[str, Any], at: datetime) -> None: ...

    def saved_settings(self, user_id: UserId) -> tuple[dict[str, Any], datetime] | None: ...

    def webhook_seen(self, event_id: str) -> bool:
        """True when an event with this id was already applied or ignored (not rejected or deferred)."""
        ...

    def log_webhook(self, record: WebhookRecord) -> None: ...

    def webhook_log(self) -> list[WebhookRecord]: ...


class InMemoryBillingStore:
    """A ``BillingStore`` in dictionaries and lists."""

    def __init__(self) -> None:
        self._accounts: dict[UserId, Account] = {}
        self._payments: list[Payment] = []
        self._paid: dict[str, Payment] = {}
        self._notices: set[str] = set()
        self._settings: dict[UserId, tuple[dict[str, Any], datetime]] = {}
        self._webhooks: list[WebhookRecord] = []
        self._seen: set[str] = set()

    def account(self, user_id: UserId) -> Account | None:
        return self._accounts.get(user_id)

    def account_by_provider_ref(self, provider_ref: str) -> Account | None:
        return next((a for a in self._accounts.values() if a.provider_ref == provider_ref), None)

    def save_account(self, account: Account) -> None:
        self._accounts[account.user_id] = account

    def accounts(self) -> Iterator[Account]:
        return iter(list(self._accounts.values()))

    def add_payment(self, payment: Payment) -> None:
        if payment.ok:
            if payment.period_key in self._paid:
                raise ValueError(f"period {payment.period_key} is already paid")
            self._paid[payment.period_key] = payment
        self._payments.append(payment)

    def paid(self, period_key: str) -> Payment | None:
        return self._paid.get(period_key)

    def payments(self, user_id: UserId | None = None) -> list[Payment]:
        return [p for p in self._payments if user_id is None or p.user_id == user_id]

    def mark_notice(self, key: str) -> bool:
        if key in self._notices:
            return False
        self._notices.add(key)
        return True

    def save_settings(self, user_id: UserId, settings: dict[str, Any], at: datetime) -> None:
        self._settings[user_id] = (dict(settings), at)

    def saved_settings(self, user_id: UserId) -> tuple[dict[str, Any], datetime] | None:
        return self._settings.get(user_id)

    def webhook_seen(self, event_id: str) -> bool:
        return event_id in self._seen

    def log_webhook(self, record: WebhookRecord) -> None:
        self._webhooks.append(record)
        if record.event_id is not None and record.outcome in ("applied", "ignored"):
            self._seen.add(record.event_id)

    def webhook_log(self) -> list[WebhookRecord]:
        return list(self._webhooks)

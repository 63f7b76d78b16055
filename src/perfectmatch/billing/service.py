"""The subscription service: subscribe, cancel, resume, and ``run_renewals`` (renewals, dunning, reminders).

Everything reads the ``Clock`` port and charges through the ``PaymentGateway`` port, so a
``FakeClock`` walks a simulated year in seconds. Every successful charge buys exactly one paid
period, recorded once in the ledger under its ``period_key``; a period key already paid is never
charged again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from perfectmatch.billing.entitlements import EntitlementCheck
from perfectmatch.billing.plans import Plan, default_plans, get_plan, period_after
from perfectmatch.billing.store import BillingStore, Payment, paid_run
from perfectmatch.billing.subscription import (
    PREMIUM_STATES,
    TRANSITIONS,
    Account,
    Card,
    Event,
    State,
    transition,
)
from perfectmatch.errors import InvalidInputError, InvalidTransition, NotFound, PaymentUnavailable
from perfectmatch.models import Channels, Notification, NotificationType, Priority, UserId
from perfectmatch.ports import Clock, Notifier, PaymentGateway, PaymentResult

RETRY_OFFSETS = (timedelta(days=1), timedelta(days=3), timedelta(days=5))
"""Dunning: retries after the first failed renewal (3 retries over 5 days), then downgrade."""
RENEW_BEFORE = timedelta(hours=24)
EMAIL_REMINDER_BEFORE = timedelta(days=7)
IN_APP_REMINDER_BEFORE = timedelta(days=3)
CARD_NOTICE_BEFORE = timedelta(days=7)
RESTORE_WINDOW = timedelta(days=30)


class PreferenceSnapshots(Protocol):
    """Saves a user's premium preference settings at a downgrade and puts them back on return."""

    def snapshot(self, user_id: UserId) -> dict[str, Any]: ...

    def restore(self, user_id: UserId, settings: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True)
class SubscriptionChange:
    """A subscription moved from one state to another (published by callers after their commit)."""

    user_id: UserId
    plan_id: str
    old: State
    new: State
    event: Event
    at: datetime


@dataclass(frozen=True)
class SubscribeResult:
    ok: bool
    account: Account
    failure_code: str | None = None
    restored_settings: bool = False


@dataclass
class RenewalReport:
    """What one ``run_renewals`` pass did; ``revenue_minor`` maps currency to minor units collected."""

    now: datetime
    renewed: int = 0
    failed: int = 0
    recovered: int = 0
    expired: int = 0
    canceled: int = 0
    reminders_email: int = 0
    reminders_in_app: int = 0
    card_notices: int = 0
    unavailable: int = 0
    revenue_minor: dict[str, int] = field(default_factory=dict)


def period_key(user_id: UserId, anchor: datetime) -> str:
    """Name of the paid period that follows ``anchor`` (a period end, or the subscribe time)."""
    return f"{user_id}:{anchor.isoformat()}"


class BillingService:
    """Use cases of the billing core over a ``BillingStore``, a ``PaymentGateway`` and a ``Clock``."""

    def __init__(
        self,
        store: BillingStore,
        gateway: PaymentGateway,
        clock: Clock,
        *,
        plans: Mapping[str, Plan] | None = None,
        notifier: Notifier | None = None,
        entitlements: EntitlementCheck | None = None,
        preferences: PreferenceSnapshots | None = None,
        retry_offsets: tuple[timedelta, ...] = RETRY_OFFSETS,
        state_notices: bool = True,
    ) -> None:
        self.store = store
        self.gateway = gateway
        self.clock = clock
        self.plans = dict(plans) if plans is not None else default_plans()
        self.notifier = notifier
        self.entitlements = entitlements or EntitlementCheck(store.account, clock)
        self.preferences = preferences
        self.retry_offsets = retry_offsets
        self.state_notices = state_notices  # False when SubscriptionChange events are notified elsewhere
        self.changes: list[SubscriptionChange] = []  # every state change made through this service

    # ------------------------------------------------------------ user actions
    def subscribe(self, user_id: UserId, plan_id: str, *, email: str | None = None) -> SubscribeResult:
        """Charge the first period of ``plan_id`` and start it at once on success.

        Raises
        ------
        InvalidInputError
            Unknown or free plan.
        InvalidTransition
            The user already has a running subscription (cancel-pending ones are resumed instead).
        PaymentUnavailable
            The provider could not be reached; nothing changed.
        """
        plan = get_plan(self.plans, plan_id)
        if not plan.is_paid or plan.price is None:
            raise InvalidInputError(f"plan {plan_id!r} is free: cancel the subscription to go back to free")
        now = self.clock.now()
        account = self.store.account(user_id) or Account(user_id=user_id, plan_id=plan_id)
        if (account.state, Event.PAYMENT_SUCCEEDED) not in TRANSITIONS:
            raise InvalidTransition(
                f"user {user_id} already has a {account.state.value} subscription to {account.plan_id!r}"
            )
        if account.customer_ref is None:
            account = replace(account, customer_ref=self.gateway.create_customer(user_id, email))
            self.store.save_account(account)
        assert account.customer_ref is not None
        start, end = period_after(now, plan)
        key = period_key(user_id, now)
        idem = f"sub:{key}:{len(self.store.payments(user_id))}"  # a new attempt after a decline is new
        result = self.gateway.charge(account.customer_ref, plan.price, idempotency_key=idem)
        self._record(account, plan, "initial", key, idem, result, now, (start, end))
        if not result.ok:
            account = self._move(account, Event.PAYMENT_FAILED, now)
            self._save(account)
            return SubscribeResult(False, account, result.failure_code)
        restore = (
            account.ended_at is not None
            and now - account.ended_at <= RESTORE_WINDOW
            and self.store.saved_settings(user_id) is not None
        )
        account = self._move(
            account, Event.PAYMENT_SUCCEEDED, now, plan_id=plan.id, period_start=start, period_end=end,
            card=_card(result) or account.card, failed_attempts=0, first_failure_at=None, next_retry_at=None,
            cancel_requested_at=None,
        )
        self._save(account)
        if restore and self.preferences is not None:
            saved = self.store.saved_settings(user_id)
            assert saved is not None
            self.preferences.restore(user_id, saved[0])
        self._notify(account, "subscription_active", f"active:{key}", now, email=True, period_end=end.isoformat())
        return SubscribeResult(True, account, None, restore and self.preferences is not None)

    def cancel(self, user_id: UserId) -> Account:
        """Stop renewing; service continues to the end of the paid period (no partial refund)."""
        now = self.clock.now()
        account = self._move(self._get(user_id), Event.CANCEL_REQUESTED, now, cancel_requested_at=now,
                             next_retry_at=None)
        self._save(account)
        end = account.period_end.isoformat() if account.period_end else None
        self._notify(account, "cancellation_confirmed", f"cancel:{user_id}:{now.isoformat()}", now, email=True,
                     service_until=end)
        return self._end_if_due(account, now, RenewalReport(now))

    def resume(self, user_id: UserId) -> Account:
        """Undo a pending cancellation while the paid period still runs."""
        now = self.clock.now()
        account = self._get(user_id)
        if account.period_end is None or now >= account.period_end:
            raise InvalidTransition(f"user {user_id}: the paid period is over; subscribe again instead")
        account = self._move(account, Event.RESUMED, now, cancel_requested_at=None)
        self._save(account)
        return account

    # ------------------------------------------------------------ scheduled work
    def run_renewals(self, now: datetime | None = None) -> RenewalReport:
        """Do everything due at ``now`` (default: the clock) for every account.

        Renews ACTIVE subscriptions 24 h before their period ends, retries failed renewals at
        +1, +3 and +5 days and then downgrades to free, ends cancelled subscriptions at their
        period end, and sends the 7-day email reminder, the 3-day in-app reminder and the
        expiring-card notice once per period. Safe to run as often as wanted.
        """
        now = now or self.clock.now()
        report = RenewalReport(now)
        for account in self.store.accounts():
            try:
                self._tick(account, now, report)
            except PaymentUnavailable:
                report.unavailable += 1
        return report

    def _tick(self, account: Account, now: datetime, report: RenewalReport) -> None:
        if account.provider_ref is not None:  # the provider renews and retries; webhooks tell us
            run = paid_run(self.store.payments(account.user_id), now)
            if run is not None and run != (account.period_start, account.period_end) and account.state in (
                PREMIUM_STATES
            ):
                account = replace(account, period_start=run[0], period_end=run[1])  # a later paid run began
                self._save(account)
            if account.state is State.CANCELING:
                self._end_if_due(account, now, report)
            return
        if account.state is State.ACTIVE and account.period_end is not None:
            renews_at = account.period_end - RENEW_BEFORE
            if now < renews_at:
                self._reminders(account, renews_at, now, report)
            else:
                self._charge_renewal(account, now, report, "renewal")
        elif account.state is State.PAST_DUE:
            assert account.next_retry_at is not None
            if account.failed_attempts > len(self.retry_offsets):
                self._end_if_due(account, now, report)
            elif now >= account.next_retry_at:
                self._charge_renewal(account, now, report, "retry")
        elif account.state is State.CANCELING:
            self._end_if_due(account, now, report)

    def _charge_renewal(self, account: Account, now: datetime, report: RenewalReport, kind: str) -> None:
        assert account.period_end is not None and account.customer_ref is not None
        plan = get_plan(self.plans, account.plan_id)
        assert plan.price is not None
        key = period_key(account.user_id, account.period_end)
        start, end = period_after(max(account.period_end, now), plan)
        paid = self.store.paid(key)
        if paid is None:
            # one key per (period, attempt): two overlapping runs send the same key, and the provider
            # charges once; each retry is a new attempt with a new key
            idem = f"renew:{key}:{account.failed_attempts}"
            result = self.gateway.charge(account.customer_ref, plan.price, idempotency_key=idem)
            self._record(account, plan, kind, key, idem, result, now, (start, end))
        else:  # charged before a crash, never saved: apply without charging again
            result = PaymentResult(ok=True, provider_ref=paid.provider_ref)
        if result.ok:
            was_past_due = account.state is State.PAST_DUE
            covered_from = account.period_start if account.period_start and start <= account.period_end else start
            account = self._move(
                account, Event.RENEWAL_SUCCEEDED, now, period_start=covered_from, period_end=end, failed_attempts=0,
                first_failure_at=None, next_retry_at=None, card=_card(result) or account.card,
            )
            self._save(account)
            report.renewed += 1
            report.recovered += was_past_due
            cur = plan.price.currency
            report.revenue_minor[cur] = report.revenue_minor.get(cur, 0) + (plan.price.amount_minor if paid is None
                                                                            else 0)
            self._notify(account, "renewed", f"renewed:{key}", now, email=True, period_end=end.isoformat())
            return
        failures = account.failed_attempts + 1
        first = account.first_failure_at or now
        retry_at = first + self.retry_offsets[failures - 1] if failures <= len(self.retry_offsets) else None
        account = self._move(
            account, Event.RENEWAL_FAILED, now, failed_attempts=failures, first_failure_at=first,
            next_retry_at=retry_at or now, card=_card(result) or account.card,
        )
        self._save(account)
        report.failed += 1
        self._notify(account, "payment_failed", f"failed:{key}:{failures}", now, email=True,
                     code=result.failure_code or "unknown")
        if retry_at is None:
            self._end_if_due(account, now, report)

    def _end_if_due(self, account: Account, now: datetime, report: RenewalReport) -> Account:
        """Downgrade a cancelled or exhausted subscription once its paid period is over."""
        if account.period_end is not None and now < account.period_end:
            return account
        if account.state is State.CANCELING:
            event = Event.PERIOD_ENDED
            report.canceled += 1
        elif account.state is State.PAST_DUE:
            event = Event.DUNNING_EXHAUSTED
            report.expired += 1
        else:
            return account
        if self.preferences is not None:
            self.store.save_settings(account.user_id, self.preferences.snapshot(account.user_id), now)
        account = self._move(account, event, now, ended_at=now, next_retry_at=None)
        self._save(account)
        self._notify(account, "downgraded", f"down:{account.user_id}:{now.isoformat()}", now, email=True)
        return account

    def _reminders(self, account: Account, renews_at: datetime, now: datetime, report: RenewalReport) -> None:
        stamp = f"{account.user_id}:{renews_at:%Y%m%dT%H%M}"
        if now >= renews_at - EMAIL_REMINDER_BEFORE:
            report.reminders_email += self._notify(account, "renewal_reminder", f"remind-email:{stamp}", now,
                                                   email=True, renews_at=renews_at.isoformat())
        if now >= renews_at - IN_APP_REMINDER_BEFORE:
            report.reminders_in_app += self._notify(account, "renewal_reminder", f"remind-app:{stamp}", now,
                                                    email=False, renews_at=renews_at.isoformat())
        if now >= renews_at - CARD_NOTICE_BEFORE and account.card is not None and account.card.expires_before(
            renews_at
        ):
            report.card_notices += self._notify(account, "card_expiring", f"card:{stamp}", now, email=True,
                                                last4=account.card.last4)

    # ------------------------------------------------------------ helpers
    def _get(self, user_id: UserId) -> Account:
        account = self.store.account(user_id)
        if account is None:
            raise NotFound(f"user {user_id} has no subscription")
        return account

    def _move(self, account: Account, event: Event, now: datetime, **changes: Any) -> Account:
        """``subscription.transition`` that also records a ``SubscriptionChange`` when the state changes."""
        moved = transition(account, event, now, **changes)
        if moved.state is not account.state:
            self.changes.append(SubscriptionChange(account.user_id, moved.plan_id, account.state, moved.state, event,
                                                   now))
        return moved

    def _save(self, account: Account) -> None:
        self.store.save_account(account)
        self.entitlements.invalidate(account.user_id)


    def _record(self, account: Account, plan: Plan, kind: str, key: str, idem: str, result: PaymentResult,
                now: datetime, period: tuple[datetime, datetime]) -> None:
        assert plan.price is not None
        self.store.add_payment(Payment(
            user_id=account.user_id, plan_id=plan.id, amount=plan.price, kind=kind, period_key=key, ok=result.ok,
            at=now, idempotency_key=idem, provider_ref=result.provider_ref, failure_code=result.failure_code,
            period_start=period[0] if result.ok else None, period_end=period[1] if result.ok else None,
        ))

    def _notify(self, account: Account, kind: str, key: str, now: datetime, *, email: bool, **content: Any) -> int:
        """Send one billing notice once (``key`` dedups); returns 1 when sent now."""
        note_id = f"billing:{key}"[:80]
        if not self.state_notices and kind in ("subscription_active", "cancellation_confirmed", "downgraded"):
            return 0
        if not self.store.mark_notice(note_id):
            return 0
        if self.notifier is not None:
            channels = Channels(push=False, in_app=True, email=True) if email else Channels(push=False,
                                                                                              in_app=True)
            self.notifier.send(Notification(
                id=note_id, user_id=account.user_id, type=NotificationType.SUBSCRIPTION,
                priority=Priority.HIGH if kind in ("payment_failed", "card_expiring") else Priority.MEDIUM,
                content={"kind": kind, "plan_id": account.plan_id, **content}, channels=channels, created_at=now,
            ))
        return 1


def _card(result: PaymentResult) -> Card | None:
    if result.card_last4 is None:
        return None
    return Card(result.card_last4, result.card_brand or "unknown", result.card_exp_month, result.card_exp_year)

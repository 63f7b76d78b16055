"""``perfectmatch billing plans|subscribe|cancel|status|run-renewals|webhook``: subscriptions from the shell."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from perfectmatch.cli import state
from perfectmatch.cli._output import emit
from perfectmatch.errors import BillingError, ConfigError, InvalidInputError
from perfectmatch.ports import Money, PaymentResult

if TYPE_CHECKING:
    from perfectmatch.adapters.storage.billing import SqlAlchemyBillingStore
    from perfectmatch.billing.service import BillingService
    from perfectmatch.billing.subscription import Account
    from perfectmatch.cli import CliState

app = typer.Typer(help="Billing: plans, subscriptions, renewals and Stripe webhooks.", no_args_is_help=True)

UserArg = Annotated[int, typer.Argument(help="user id")]
T = TypeVar("T")


@contextmanager
def _billing(st: CliState, *, gateway: bool = True) -> Iterator[tuple[BillingService, SqlAlchemyBillingStore]]:
    """A billing service on one committed transaction of the app's database.

    Reminders and payment notices go out through ``app.notifier``; state changes are published as
    ``social.events.SubscriptionChanged`` once the transaction has committed.
    """
    from perfectmatch.adapters.storage.billing import SqlAlchemyBillingStore, SqlPreferenceSnapshots
    from perfectmatch.billing.entitlements import EntitlementCheck
    from perfectmatch.billing.service import BillingService

    a = st.app
    with a.uow as uow:
        store = SqlAlchemyBillingStore(uow.connection)  # type: ignore[attr-defined]
        service = BillingService(
            store, a.payment_gateway if gateway else _NoGateway(), a.clock, plans=st.settings.billing.plans(),
            notifier=a.notifier, entitlements=EntitlementCheck(store.account, a.clock, a.cache),
            preferences=SqlPreferenceSnapshots(uow), state_notices=False,
        )
        yield service, store
        uow.commit()
    if service.changes:  # after the commit: state changes go to the social notification service
        from perfectmatch.social.events import SubscriptionChanged
        from perfectmatch.social.wiring import services

        bus = services(a).bus
        for change in service.changes:
            bus.publish(SubscriptionChanged(change.user_id, change.new.value, change.plan_id, change.at))


class _NoGateway:
    """For commands that never charge (cancel, status, webhook): no Stripe key needed."""

    def create_customer(self, user_id: int, email: str | None) -> str:
        raise ConfigError("this command does not reach the payment provider")

    def charge(self, customer_ref: str, amount: Money, *, idempotency_key: str) -> PaymentResult:
        raise ConfigError("this command does not reach the payment provider")


def _summary(account: Account, **extra: Any) -> dict[str, Any]:
    card = account.card
    return {
        "user_id": account.user_id, "plan_id": account.plan_id, "state": account.state.value,
        "period_start": account.period_start, "period_end": account.period_end,
        "card": f"{card.brand} ****{card.last4}" if card else None, **extra,
    }


@app.command("plans")
def plans_cmd(ctx: typer.Context) -> None:
    """List the plans with their prices (integer minor units and currency)."""
    rows = [
        {"id": p.id, "name": p.name, "tier": p.tier.value, "price_minor": p.price.amount_minor if p.price else 0,
         "currency": p.price.currency if p.price else None, "interval": p.interval.value if p.interval else None}
        for p in state(ctx).settings.billing.plans().values()
    ]
    emit(rows, as_json=state(ctx).json, title="plans")


@app.command("subscribe")
def subscribe_cmd(
    ctx: typer.Context,
    user: UserArg,
    plan: Annotated[str, typer.Argument(help="plan id, e.g. premium_monthly")],
    payment_method: Annotated[str | None, typer.Option(help="Stripe payment method to attach first (pm_...)")] = None,
    email: Annotated[str | None, typer.Option(help="email for a new Stripe customer")] = None,
) -> None:
    """Charge the first period of PLAN for USER and start premium at once (exit 1 if the card is refused)."""
    from dataclasses import replace

    from perfectmatch.billing.subscription import Account

    st = state(ctx)
    with _billing(st) as (service, store):
        if payment_method:
            attach: Callable[[str, str], Any] | None = getattr(service.gateway, "attach_card", None)
            if attach is None:
                raise InvalidInputError("--payment-method needs the Stripe gateway (set STRIPE_API_KEY)")
            account = store.account(user) or Account(user_id=user, plan_id=plan)
            if account.customer_ref is None:
                account = replace(account, customer_ref=service.gateway.create_customer(user, email))
                store.save_account(account)
            assert account.customer_ref is not None
            attach(account.customer_ref, payment_method)
        result = service.subscribe(user, plan, email=email)
        store.sync_tiers(st.app.clock.now())
    if not result.ok:
        raise BillingError(f"user {user}: payment refused ({result.failure_code}); nothing was started")
    emit(_summary(result.account, restored_settings=result.restored_settings), as_json=st.json, title="subscribed")


@app.command("cancel")
def cancel_cmd(ctx: typer.Context, user: UserArg) -> None:
    """Cancel USER's subscription at the end of the paid period (no partial refund)."""
    st = state(ctx)
    with _billing(st, gateway=False) as (service, _store):
        account = service.cancel(user)
    emit(_summary(account), as_json=st.json, title="canceled at period end")


@app.command("status")
def status_cmd(ctx: typer.Context, user: UserArg) -> None:
    """USER's subscription and entitlements now."""
    st = state(ctx)
    with _billing(st, gateway=False) as (service, store):
        ent = service.entitlements.check(user)
        account = store.account(user)
    base = _summary(account) if account else {"user_id": user, "plan_id": "free", "state": None}
    emit({**base, "tier": ent.tier.value, "daily_match_cap": ent.daily_match_cap,
          "features": sorted(f.value for f in ent.features)}, as_json=st.json, title=f"user {user}")


@app.command("run-renewals")
def run_renewals_cmd(
    ctx: typer.Context,
    now: Annotated[datetime | None, typer.Option(help="pretend it is this time (UTC if no zone)")] = None,
) -> None:
    """Renew, retry failed renewals, end cancelled periods and send reminders due now; sync user tiers."""
    st = state(ctx)
    when = (now if now.tzinfo else now.replace(tzinfo=UTC)) if now else None
    with _billing(st) as (service, store):
        report = service.run_renewals(when)
        tiers = store.sync_tiers(report.now)
    emit({**report.__dict__, "tiers_changed": tiers}, as_json=st.json, title="renewals")


@app.command("webhook")
def webhook_cmd(
    ctx: typer.Context,
    payload: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="raw event body, as received")],
    signature: Annotated[str, typer.Option(help="the Stripe-Signature header")],
    tolerance: Annotated[float, typer.Option(help="seconds a signature stays valid (raise to replay)")] = 300.0,
) -> None:
    """Verify and apply one stored Stripe event (secrets: STRIPE_WEBHOOK_SECRET, comma-separated)."""
    from perfectmatch.billing.webhooks import handle_webhook
    from perfectmatch.errors import WebhookSignatureError

    st = state(ctx)
    body = payload.read_bytes()
    rejected: WebhookSignatureError | None = None
    with _billing(st, gateway=False) as (service, store):
        try:
            outcome = handle_webhook(body, signature, store=store, clock=st.app.clock,
                                     secrets=os.environ.get("STRIPE_WEBHOOK_SECRET", ""),
                                     entitlements=service.entitlements, tolerance_s=tolerance)
            store.sync_tiers(st.app.clock.now())
        except WebhookSignatureError as exc:
            rejected = exc  # the rejection is in the durable log: commit it, then fail
    if rejected is not None:
        raise rejected
    emit({"outcome": outcome.value}, as_json=st.json, title="webhook")

"""The billing store on SQLite and PostgreSQL: migration 0005, ledger, transitions, webhook log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from perfectmatch.adapters.clock import FakeClock
from perfectmatch.adapters.payments.fake import FakePaymentGateway
from perfectmatch.adapters.storage.billing import SqlAlchemyBillingStore
from perfectmatch.adapters.storage.uow import SqlAlchemyUnitOfWork
from perfectmatch.billing.service import BillingService
from perfectmatch.billing.store import Payment
from perfectmatch.billing.subscription import State
from perfectmatch.billing.webhooks import Applied, handle_webhook, signature_header
from perfectmatch.errors import BillingError, WebhookSignatureError
from perfectmatch.models import Tier, User
from perfectmatch.ports import Money

T0 = datetime(2026, 1, 10, 12, tzinfo=UTC)


def _users(engine: Engine, n: int) -> None:
    with SqlAlchemyUnitOfWork(engine) as uow:
        for _ in range(n):
            uow.users.add(User(created_at=T0, last_active_at=T0))
        uow.commit()


def test_lifecycle_persists_across_transactions(engine: Engine) -> None:
    _users(engine, 3)
    clock = FakeClock(T0)
    gateway = FakePaymentGateway()
    uow = SqlAlchemyUnitOfWork(engine)

    def service(conn: object) -> BillingService:
        return BillingService(SqlAlchemyBillingStore(conn), gateway, clock)  # type: ignore[arg-type]

    with uow:
        assert service(uow.connection).subscribe(1, "premium_monthly").ok
        assert service(uow.connection).subscribe(2, "premium_annual").ok
        service(uow.connection).cancel(2)
        uow.commit()
    gateway.script(1, ["card_declined"] * 4)
    for day in range(30, 36):
        clock.set(T0 + timedelta(days=day))
        with uow:
            service(uow.connection).run_renewals()
            uow.commit()
    clock.set(T0 + timedelta(days=370))
    with uow:
        store = SqlAlchemyBillingStore(uow.connection)
        service(uow.connection).run_renewals()
        assert store.sync_tiers(clock.now()) >= 0
        uow.commit()
    with uow:
        store = SqlAlchemyBillingStore(uow.connection)
        one, two = store.account(1), store.account(2)
        assert one is not None and one.state is State.EXPIRED and one.card is not None and one.card.last4 == "4242"
        assert two is not None and two.state is State.CANCELED and two.ended_at is not None
        assert [(p.kind, p.ok) for p in store.payments(1)] == [("initial", True)] + [("renewal", False)] + [
            ("retry", False)] * 3
        events = [t[3] for t in store.transitions(1)]
        assert events == ["payment_succeeded", "renewal_failed", "renewal_failed", "renewal_failed",
                          "renewal_failed", "dunning_exhausted"]
        assert store.revenue_minor() == {"usd": 1999 + 19999}
        assert uow.users.get(1).tier is Tier.FREE
        sub = uow.subscriptions.get(store_id(uow, 2))
        assert sub.state is State.CANCELED and sub.period_end is not None
        with pytest.raises(BillingError, match="already paid"):
            p = store.payments(1)[0]
            store.add_payment(Payment(1, "premium_monthly", Money(1999), "initial", p.period_key, True, T0, "dup"))
        assert store.account(3) is None


def store_id(uow: SqlAlchemyUnitOfWork, user_id: int) -> int:
    from sqlalchemy import select

    from perfectmatch.adapters.storage.schema import subscriptions

    return int(uow.connection.execute(select(subscriptions.c.id).where(subscriptions.c.user_id == user_id)).scalar())


def test_tier_sync_and_webhook_log(engine: Engine) -> None:
    _users(engine, 9)
    clock = FakeClock(T0)
    uow = SqlAlchemyUnitOfWork(engine)
    start, end = int(T0.timestamp()) - 10, int(T0.timestamp()) + 30 * 86400
    payload = (b'{"id": "evt_1", "type": "invoice.paid", "created": 1, "data": {"object": {"id": "in_1",'
               b' "subscription": "sub_1", "customer": "cus_9", "amount_paid": 1999, "currency": "usd",'
               b' "subscription_details": {"metadata": {"user_id": "9"}}, "lines": {"data": [{"period":'
               b' {"start": %d, "end": %d}}]}}}}' % (start, end))
    header = signature_header(payload, ["whsec_1"], int(T0.timestamp()))
    with uow:
        store = SqlAlchemyBillingStore(uow.connection)
        with pytest.raises(WebhookSignatureError):
            handle_webhook(payload, header, store=store, clock=clock, secrets="whsec_2")
        assert handle_webhook(payload, header, store=store, clock=clock, secrets="whsec_2,whsec_1") is Applied.APPLIED
        assert handle_webhook(payload, header, store=store, clock=clock, secrets="whsec_1") is Applied.DUPLICATE
        assert store.sync_tiers(clock.now()) == 1
        uow.commit()
    with uow:
        store = SqlAlchemyBillingStore(uow.connection)
        assert [r.outcome for r in store.webhook_log()] == ["rejected", "applied", "duplicate"]
        assert store.account_by_provider_ref("sub_1").state is State.ACTIVE  # type: ignore[union-attr]
        assert uow.users.get(9).tier is Tier.PREMIUM

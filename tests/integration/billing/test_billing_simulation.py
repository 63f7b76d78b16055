"""A simulated year for 1,000 users with random card failures reconciles exactly with the ledger."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

from perfectmatch.adapters.clock import FakeClock
from perfectmatch.adapters.notify.basic import RecordingNotifier
from perfectmatch.adapters.payments.fake import FakeCard, FakePaymentGateway
from perfectmatch.billing.service import BillingService
from perfectmatch.billing.store import InMemoryBillingStore
from perfectmatch.billing.subscription import Event, State, is_premium
from perfectmatch.errors import InvalidTransition

N_USERS = 1000
STEP = timedelta(hours=12)
START = datetime(2026, 1, 1, tzinfo=UTC)


def test_simulated_year_reconciles() -> None:
    rng = random.Random(20261125)
    clock = FakeClock(START)
    store = InMemoryBillingStore()
    failures = ["card_declined"] * 8 + ["insufficient_funds"] * 8 + ["expired_card"] * 3 + ["unavailable"]
    fail_rate: dict[str, float] = {}  # per customer: most cards are good, some are bad

    def decide(ref: str) -> str:
        rate = fail_rate.setdefault(ref, rng.choice([0.02] * 7 + [0.2, 0.5, 0.9]))
        return rng.choice(failures) if rng.random() < rate else "ok"

    gateway = FakePaymentGateway(decide=decide)
    for user in range(1, N_USERS // 10 + 1):  # a tenth of the cards expire during the year
        gateway.set_card(user, FakeCard(last4=f"{user:04d}", exp_month=rng.randint(1, 12), exp_year=2026))
    notifier = RecordingNotifier()
    service = BillingService(store, gateway, clock, notifier=notifier)
    initial_revenue = 0
    totals: Counter[str] = Counter()
    revenue_renewals = 0
    unavailable = 0
    while clock.now() < START + timedelta(days=365):
        for user in rng.sample(range(1, N_USERS + 1), 12):  # user actions this half-day
            roll = rng.random()
            try:
                if roll < 0.6:
                    result = service.subscribe(user, rng.choice(["premium_monthly"] * 4 + ["premium_annual"]))
                    initial_revenue += result.ok * (1999 if result.account.plan_id == "premium_monthly" else 19999)
                elif roll < 0.9:
                    totals["canceled"] += service.cancel(user).state is State.CANCELED  # ended at once
                else:
                    service.resume(user)
            except InvalidTransition:
                pass
            except Exception as exc:  # NotFound (never subscribed) or PaymentUnavailable
                assert type(exc).__name__ in ("NotFound", "PaymentUnavailable"), exc
                unavailable += type(exc).__name__ == "PaymentUnavailable"
        report = service.run_renewals()
        for name in ("renewed", "failed", "recovered", "expired", "canceled", "reminders_email", "card_notices"):
            totals[name] += getattr(report, name)
        revenue_renewals += report.revenue_minor.get("usd", 0)
        unavailable += report.unavailable
        now = clock.now()
        accounts = list(store.accounts())
        for account in rng.sample(accounts, min(20, len(accounts))):
            paid = [p for p in store.payments(account.user_id) if p.ok]
            assert is_premium(account, now) == any(p.period_start <= now < p.period_end for p in paid)  # type: ignore[operator]
        clock.advance(STEP.total_seconds())

    ledger = store.payments()
    ok = [p for p in ledger if p.ok]
    # revenue: ledger == what the gateway took == what the service reported
    assert sum(p.amount.amount_minor for p in ok) == sum(c.amount.amount_minor for c in gateway.charges
                                                        if c.result.ok)
    assert sum(p.amount.amount_minor for p in ok) == initial_revenue + revenue_renewals
    assert len(ledger) == len(gateway.charges)
    # every successful payment moved exactly one account into a new paid period
    moves = Counter(event for account in store.accounts() for (_, _, event, _) in account.history)
    before = Counter((old, event) for account in store.accounts() for (_, old, event, _) in account.history)
    assert len(ok) == moves[Event.PAYMENT_SUCCEEDED] + moves[Event.RENEWAL_SUCCEEDED]
    assert totals["renewed"] == moves[Event.RENEWAL_SUCCEEDED] == sum(p.kind in ("renewal", "retry") for p in ok)
    # dunning: recoveries and churn
    assert totals["recovered"] == before[(State.PAST_DUE, Event.RENEWAL_SUCCEEDED)] == sum(p.kind == "retry"
                                                                                          for p in ok)
    assert totals["expired"] == moves[Event.DUNNING_EXHAUSTED]
    assert totals["canceled"] == moves[Event.PERIOD_ENDED]
    assert totals["failed"] == moves[Event.RENEWAL_FAILED] == sum(not p.ok and p.kind != "initial" for p in ledger)
    # no overlapping paid periods (never charged twice for one period)
    for user in {p.user_id for p in ok}:
        periods = sorted((p.period_start, p.period_end) for p in ok if p.user_id == user)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(periods))  # type: ignore[operator]
    # the year really exercised everything
    assert len({p.user_id for p in ok}) > 600
    assert min(totals["renewed"], totals["recovered"], totals["expired"], totals["canceled"]) > 20
    assert totals["reminders_email"] > 100 and totals["card_notices"] > 10 and unavailable > 0
    kinds = Counter(n.content["kind"] for n in notifier.sent)
    assert kinds["card_expiring"] == totals["card_notices"] and kinds["renewed"] == totals["renewed"]
    print(f"\nsimulated year: {len(ok)} payments, revenue ${sum(p.amount.amount_minor for p in ok) / 100:,.2f}, "
          f"{dict(totals)}, unavailable={unavailable}")

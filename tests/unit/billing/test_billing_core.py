"""Plans, the transition table, entitlements and the subscription service on a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from perfectmatch.adapters.payments.fake import FakeCard
from perfectmatch.billing.entitlements import Feature
from perfectmatch.billing.plans import Interval, add_interval, default_plans, get_plan
from perfectmatch.billing.service import BillingService
from perfectmatch.billing.subscription import TRANSITIONS, Account, Event, State, is_premium, transition
from perfectmatch.errors import InvalidInputError, InvalidTransition
from perfectmatch.models import Tier
from unit.billing.conftest import Rig


def test_default_plans_are_integer_minor_units() -> None:
    plans = default_plans()
    assert plans["premium_monthly"].price is not None and plans["premium_monthly"].price.amount_minor == 1999
    assert plans["premium_annual"].price is not None and plans["premium_annual"].price.amount_minor == 19999
    assert plans["free"].tier is Tier.FREE and not plans["free"].is_paid
    custom = default_plans(monthly_minor=999, currency="EUR", monthly_id="m")
    assert custom["m"].price is not None and custom["m"].price.currency == "eur"
    with pytest.raises(InvalidInputError, match="monthly_minor"):
        default_plans(monthly_minor=19.99)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="unknown plan 'gold'"):
        get_plan(plans, "gold")


def test_add_interval_clips_to_month_end() -> None:
    jan31 = datetime(2026, 1, 31, 9, tzinfo=UTC)
    assert add_interval(jan31, Interval.MONTH) == datetime(2026, 2, 28, 9, tzinfo=UTC)
    assert add_interval(datetime(2026, 12, 15, tzinfo=UTC), Interval.MONTH) == datetime(2027, 1, 15, tzinfo=UTC)
    assert add_interval(datetime(2028, 2, 29, tzinfo=UTC), Interval.YEAR) == datetime(2029, 2, 28, tzinfo=UTC)


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("event", list(Event))
def test_transition_follows_the_table_or_raises(state: State, event: Event) -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    account = Account(1, "premium_monthly", state, now - timedelta(days=40), now - timedelta(days=10))
    if (state, event) in TRANSITIONS:
        assert transition(account, event, now).state is TRANSITIONS[(state, event)]
    else:
        with pytest.raises(InvalidTransition, match=f"'{event.value}' is not allowed in state '{state.value}'"):
            transition(account, event, now)


def test_downgrade_refused_while_paid_period_runs() -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    account = Account(1, "premium_monthly", State.CANCELING, now - timedelta(days=1), now + timedelta(days=5))
    with pytest.raises(InvalidTransition, match="before the paid period ends"):
        transition(account, Event.PERIOD_ENDED, now)
    assert is_premium(account, now) and not is_premium(account, now + timedelta(days=5))


def test_subscribe_gives_premium_at_once_and_is_cached_then_invalidated(rig: Rig) -> None:
    assert rig.check.check(7).tier is Tier.FREE and rig.check.check(7).daily_match_cap == 10
    result = rig.service.subscribe(7, "premium_monthly")
    assert result.ok and result.account.state is State.ACTIVE
    ent = rig.check.check(7)
    assert ent.tier is Tier.PREMIUM and ent.daily_match_cap == 50 and all(ent.can(f) for f in Feature)
    assert rig.check.can(7, Feature.WHO_LIKED_ME)
    assert [p.amount.amount_minor for p in rig.store.payments(7)] == [1999]
    assert rig.store.account(7).card.last4 == "4242"  # type: ignore[union-attr]
    assert rig.kinds(7) == ["subscription_active"]
    with pytest.raises(InvalidTransition, match="already has a active subscription"):
        rig.service.subscribe(7, "premium_annual")


def test_declined_first_payment_gives_nothing(rig: Rig) -> None:
    rig.gateway.script(3, ["card_declined"])
    result = rig.service.subscribe(3, "premium_annual")
    assert not result.ok and result.failure_code == "card_declined" and result.account.state is State.INCOMPLETE
    assert rig.check.check(3).tier is Tier.FREE
    assert rig.service.subscribe(3, "premium_annual").ok


def test_renewal_24h_before_expiry_with_reminders(rig: Rig) -> None:
    rig.service.subscribe(1, "premium_monthly")  # Jan 10 12:00 -> Feb 10 12:00; renews Feb 9 12:00
    rig.clock.set(datetime(2026, 2, 2, 11, tzinfo=UTC))
    assert rig.service.run_renewals().reminders_email == 0
    rig.clock.set(datetime(2026, 2, 2, 12, tzinfo=UTC))
    report = rig.service.run_renewals()
    assert (report.reminders_email, report.reminders_in_app) == (1, 0)
    rig.clock.set(datetime(2026, 2, 6, 12, tzinfo=UTC))
    assert rig.service.run_renewals().reminders_in_app == 1
    assert rig.service.run_renewals().reminders_in_app == 0  # once per period
    rig.clock.set(datetime(2026, 2, 9, 11, 59, tzinfo=UTC))
    assert rig.service.run_renewals().renewed == 0
    rig.clock.set(datetime(2026, 2, 9, 12, tzinfo=UTC))
    report = rig.service.run_renewals()
    assert report.renewed == 1 and report.revenue_minor == {"usd": 1999}
    account = rig.store.account(1)
    assert account is not None and account.period_start == datetime(2026, 1, 10, 12, tzinfo=UTC)
    assert account.period_end == datetime(2026, 3, 10, 12, tzinfo=UTC)
    assert rig.check.check(1).tier is Tier.PREMIUM  # still premium in the last 24 h of the old period
    renewal = [p for p in rig.store.payments(1) if p.ok][-1]
    assert (renewal.period_start, renewal.period_end) == (datetime(2026, 2, 10, 12, tzinfo=UTC), account.period_end)
    assert rig.service.run_renewals().renewed == 0
    assert len([p for p in rig.store.payments(1) if p.ok]) == 2
    assert rig.kinds(1) == ["subscription_active", "renewal_reminder", "renewal_reminder", "renewed"]


def test_expiring_card_notice_7_days_before_renewal(rig: Rig) -> None:
    rig.gateway.set_card(5, FakeCard(last4="1111", exp_month=1, exp_year=2026))
    rig.gateway.create_customer(5, None)
    rig.service.subscribe(5, "premium_monthly")  # card ends Jan 31, renewal Feb 9
    rig.clock.set(datetime(2026, 2, 2, 12, tzinfo=UTC))
    assert rig.service.run_renewals().card_notices == 1
    assert rig.service.run_renewals().card_notices == 0
    assert "card_expiring" in rig.kinds(5)


def test_dunning_three_retries_over_five_days_then_free(rig: Rig) -> None:
    rig.service.subscribe(2, "premium_monthly")
    rig.gateway.script(2, ["insufficient_funds"] * 4)
    renew_at = datetime(2026, 2, 9, 12, tzinfo=UTC)
    rig.clock.set(renew_at)
    assert rig.service.run_renewals().failed == 1
    assert rig.store.account(2).state is State.PAST_DUE  # type: ignore[union-attr]
    assert rig.check.check(2).tier is Tier.PREMIUM  # paid period still runs until Feb 10 12:00
    attempts = []
    for hour in range(1, 24 * 6):
        rig.clock.set(renew_at + timedelta(hours=hour))
        report = rig.service.run_renewals()
        if report.failed:
            attempts.append(hour)
        if report.expired:
            break
    assert attempts == [24, 72, 120]
    account = rig.store.account(2)
    assert account is not None and account.state is State.EXPIRED and rig.check.check(2).tier is Tier.FREE
    assert len(rig.gateway.charges) == 5 and sum(p.ok for p in rig.store.payments(2)) == 1


def test_dunning_recovery_starts_new_period_at_payment(rig: Rig) -> None:
    rig.service.subscribe(2, "premium_monthly")
    rig.gateway.script(2, ["card_declined", "card_declined"])
    rig.clock.set(datetime(2026, 2, 9, 12, tzinfo=UTC))
    rig.service.run_renewals()
    rig.days(1)
    rig.service.run_renewals()
    assert rig.check.check(2).tier is Tier.FREE  # period over, not paid
    rig.days(2)
    report = rig.service.run_renewals()
    assert report.recovered == 1 and report.renewed == 1
    account = rig.store.account(2)
    assert account is not None and account.state is State.ACTIVE
    assert account.period_start == datetime(2026, 2, 12, 12, tzinfo=UTC)
    assert rig.check.check(2).tier is Tier.PREMIUM


def test_cancel_keeps_service_to_period_end_then_resubscribe_restores_settings(rig: Rig) -> None:
    rig.service.subscribe(4, "premium_monthly")
    rig.prefs.settings[4] = {"advanced_filters": {"height_min": 170}}
    rig.days(3)
    account = rig.service.cancel(4)
    assert account.state is State.CANCELING and rig.check.check(4).tier is Tier.PREMIUM
    rig.clock.set(datetime(2026, 2, 9, 12, tzinfo=UTC))
    assert rig.service.run_renewals().renewed == 0  # no renewal after cancellation
    rig.clock.set(datetime(2026, 2, 10, 12, tzinfo=UTC))
    assert rig.service.run_renewals().canceled == 1
    assert rig.store.account(4).state is State.CANCELED and rig.prefs.settings[4] == {}  # type: ignore[union-attr]
    assert rig.check.check(4).tier is Tier.FREE
    assert sum(p.ok for p in rig.store.payments(4)) == 1  # no refund, no further charge
    rig.days(29)
    result = rig.service.subscribe(4, "premium_monthly")
    assert result.ok and result.restored_settings
    assert rig.prefs.settings[4] == {"advanced_filters": {"height_min": 170}}


def test_resubscribe_after_30_days_does_not_restore(rig: Rig) -> None:
    rig.service.subscribe(4, "premium_monthly")
    rig.prefs.settings[4] = {"x": 1}
    rig.service.cancel(4)
    rig.clock.set(datetime(2026, 2, 10, 12, tzinfo=UTC))
    rig.service.run_renewals()
    rig.days(31)
    result = rig.service.subscribe(4, "premium_monthly")
    assert result.ok and not result.restored_settings and rig.prefs.settings[4] == {}


def test_resume_before_period_end(rig: Rig) -> None:
    rig.service.subscribe(6, "premium_annual")
    rig.service.cancel(6)
    assert rig.service.resume(6).state is State.ACTIVE
    rig.service.cancel(6)
    rig.days(400)
    with pytest.raises(InvalidTransition, match="paid period is over"):
        rig.service.resume(6)


def test_network_error_changes_nothing_and_is_retried(rig: Rig) -> None:
    rig.service.subscribe(8, "premium_monthly")
    rig.gateway.script(8, ["unavailable"])
    rig.clock.set(datetime(2026, 2, 9, 12, tzinfo=UTC))
    report = rig.service.run_renewals()
    assert report.unavailable == 1 and rig.store.account(8).state is State.ACTIVE  # type: ignore[union-attr]
    rig.clock.advance(3600)
    assert rig.service.run_renewals().renewed == 1


def test_state_changes_are_recorded_and_state_notices_can_be_left_to_others(rig: Rig) -> None:
    rig.service.subscribe(4, "premium_monthly")
    rig.service.cancel(4)
    rig.clock.set(datetime(2026, 2, 10, 12, tzinfo=UTC))
    rig.service.run_renewals()
    assert [(c.user_id, c.old, c.new) for c in rig.service.changes] == [
        (4, State.INCOMPLETE, State.ACTIVE), (4, State.ACTIVE, State.CANCELING), (4, State.CANCELING, State.CANCELED)]
    quiet = BillingService(rig.store, rig.gateway, rig.clock, notifier=rig.notifier, state_notices=False)
    before = len(rig.notifier.sent)
    quiet.subscribe(5, "premium_monthly")
    assert len(rig.notifier.sent) == before and [c.new for c in quiet.changes] == [State.ACTIVE]


def test_crash_after_charge_is_not_charged_twice(rig: Rig) -> None:
    rig.service.subscribe(9, "premium_monthly")
    real_add = rig.store.add_payment
    calls = {"n": 0}

    def crash_once(payment: object) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("database went away after the provider charged")
        real_add(payment)  # type: ignore[arg-type]

    rig.store.add_payment = crash_once  # type: ignore[method-assign]
    rig.clock.set(datetime(2026, 2, 9, 13, tzinfo=UTC))
    with pytest.raises(ConnectionError):
        rig.service.run_renewals()
    rig.clock.advance(3600)  # the next run, an hour later, tries the same attempt again
    assert rig.service.run_renewals().renewed == 1
    assert sum(c.result.ok for c in rig.gateway.charges) == 2  # initial + one renewal: the provider deduped
    assert sum(p.ok for p in rig.store.payments(9)) == 2

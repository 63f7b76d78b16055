"""Random sequences of subscribes, cancels, resumes, card outcomes, clock moves and webhook deliveries
(duplicated, reordered) keep billing's promises.

Users 1-3 are billed by our renewal engine; user 9 by the provider, through webhooks delivered in
any order, some twice. Invariants after every step, for every user: premium exactly while a
successful payment's period runs (never premium unpaid, never downgraded during a paid period),
paid periods never overlap (never charged twice for one period), the ledger matches what the
gateway charged, and replaying every delivered event again changes nothing.
"""

from __future__ import annotations

import contextlib
import itertools

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from perfectmatch.billing.subscription import State
from perfectmatch.billing.webhooks import Applied, handle_webhook, signature_header
from perfectmatch.errors import InvalidTransition, NotFound, PaymentUnavailable
from perfectmatch.models import Tier
from unit.billing.conftest import Rig
from unit.billing.test_billing_webhooks import SECRET, lifecycle

USERS = st.integers(1, 3)
HOURS = st.sampled_from([1, 6, 12, 23, 24, 25, 48, 72, 24 * 7, 24 * 29, 24 * 31])
OUTCOMES = st.sampled_from(["ok", "card_declined", "insufficient_funds", "expired_card", "unavailable"])


class BillingMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.rig = Rig()
        self.stream = lifecycle(3, "deleted")
        self.delivered: list[bytes] = []

    def _deliver(self, payload: bytes) -> Applied:
        header = signature_header(payload, [SECRET], int(self.rig.clock.now().timestamp()))
        return handle_webhook(payload, header, store=self.rig.store, clock=self.rig.clock, secrets=SECRET,
                              entitlements=self.rig.check)

    @rule(data=st.data())
    def deliver_webhook(self, data: st.DataObject) -> None:
        payload = data.draw(st.sampled_from(self.stream))
        outcome = self._deliver(payload)
        assert (outcome is Applied.DUPLICATE) == (payload in self.delivered)
        self.delivered.append(payload)

    @rule()
    def replay_everything(self) -> None:
        account, payments = self.rig.store.account(9), self.rig.store.payments()
        assert all(self._deliver(p) is Applied.DUPLICATE for p in self.delivered)
        assert self.rig.store.account(9) == account and self.rig.store.payments() == payments

    @rule(user=USERS, plan=st.sampled_from(["premium_monthly", "premium_annual"]))
    def subscribe(self, user: int, plan: str) -> None:
        account = self.rig.store.account(user)
        try:
            self.rig.service.subscribe(user, plan)
        except InvalidTransition:
            assert account is not None and account.state in (State.ACTIVE, State.PAST_DUE, State.CANCELING)
        except PaymentUnavailable:  # nothing may have changed
            after = self.rig.store.account(user)
            assert after is not None and after.state == (account.state if account else State.INCOMPLETE)

    @rule(user=USERS)
    def cancel(self, user: int) -> None:
        with contextlib.suppress(InvalidTransition, NotFound):
            self.rig.service.cancel(user)

    @rule(user=USERS)
    def resume(self, user: int) -> None:
        with contextlib.suppress(InvalidTransition, NotFound):
            self.rig.service.resume(user)

    @rule(user=USERS, outcomes=st.lists(OUTCOMES, min_size=1, max_size=4))
    def script_card(self, user: int, outcomes: list[str]) -> None:
        self.rig.gateway.script(user, outcomes)

    @rule(hours=HOURS)
    def advance_and_renew(self, hours: int) -> None:
        self.rig.clock.advance(hours * 3600)
        self.rig.service.run_renewals()

    @invariant()
    def premium_iff_paid_period_runs(self) -> None:
        now = self.rig.clock.now()
        for user in (1, 2, 3, 9):
            paid = [p for p in self.rig.store.payments(user) if p.ok]
            running = any(p.period_start <= now < p.period_end for p in paid)  # type: ignore[operator]
            assert (self.rig.check.check(user).tier is Tier.PREMIUM) == running, (user, now)

    @invariant()
    def paid_periods_never_overlap(self) -> None:
        for user in (1, 2, 3, 9):
            periods = sorted((p.period_start, p.period_end) for p in self.rig.store.payments(user) if p.ok)
            for (_, end), (start, _) in itertools.pairwise(periods):
                assert end <= start, periods

    @invariant()
    def ledger_matches_gateway(self) -> None:
        ours = [p for p in self.rig.store.payments() if p.kind != "invoice"]  # invoices: charged by the provider
        assert sum(c.result.ok for c in self.rig.gateway.charges) == sum(p.ok for p in ours)
        assert len(self.rig.gateway.charges) == len(ours)


BillingMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
TestBillingMachine = BillingMachine.TestCase

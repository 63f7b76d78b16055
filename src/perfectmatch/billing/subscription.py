"""The subscription state machine: states, events, the explicit ``TRANSITIONS`` table and ``Account``.

::

    INCOMPLETE --payment_succeeded--> ACTIVE --cancel_requested--> CANCELING --period_ended--> CANCELED
        ACTIVE --renewal_failed--> PAST_DUE --renewal_succeeded--> ACTIVE
        PAST_DUE --dunning_exhausted--> EXPIRED            (3 retries over 5 days, then free)
        CANCELING --resumed--> ACTIVE
        CANCELED / EXPIRED --payment_succeeded--> ACTIVE   (resubscribe)

Anything not in the table raises ``InvalidTransition``. A user is premium only while a paid period
runs (``period_start <= now < period_end``) in ACTIVE, PAST_DUE or CANCELING.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from perfectmatch.errors import InvalidTransition
from perfectmatch.models import SubscriptionState as State
from perfectmatch.models import Tier, UserId

__all__ = ["TRANSITIONS", "Account", "Event", "State", "is_premium", "transition"]


class Event(StrEnum):
    """What can happen to a subscription."""

    PAYMENT_SUCCEEDED = "payment_succeeded"  # first payment or resubscription
    PAYMENT_FAILED = "payment_failed"  # first payment refused: nothing starts
    RENEWAL_SUCCEEDED = "renewal_succeeded"
    RENEWAL_FAILED = "renewal_failed"
    DUNNING_EXHAUSTED = "dunning_exhausted"
    CANCEL_REQUESTED = "cancel_requested"
    RESUMED = "resumed"
    PERIOD_ENDED = "period_ended"


TRANSITIONS: dict[tuple[State, Event], State] = {
    (State.INCOMPLETE, Event.PAYMENT_SUCCEEDED): State.ACTIVE,
    (State.INCOMPLETE, Event.PAYMENT_FAILED): State.INCOMPLETE,
    (State.CANCELED, Event.PAYMENT_SUCCEEDED): State.ACTIVE,
    (State.CANCELED, Event.PAYMENT_FAILED): State.CANCELED,
    (State.EXPIRED, Event.PAYMENT_SUCCEEDED): State.ACTIVE,
    (State.EXPIRED, Event.PAYMENT_FAILED): State.EXPIRED,
    (State.ACTIVE, Event.RENEWAL_SUCCEEDED): State.ACTIVE,
    (State.ACTIVE, Event.RENEWAL_FAILED): State.PAST_DUE,
    (State.PAST_DUE, Event.RENEWAL_SUCCEEDED): State.ACTIVE,
    (State.PAST_DUE, Event.RENEWAL_FAILED): State.PAST_DUE,
    (State.PAST_DUE, Event.DUNNING_EXHAUSTED): State.EXPIRED,
    (State.ACTIVE, Event.CANCEL_REQUESTED): State.CANCELING,
    (State.PAST_DUE, Event.CANCEL_REQUESTED): State.CANCELING,
    (State.CANCELING, Event.RESUMED): State.ACTIVE,
    (State.CANCELING, Event.PERIOD_ENDED): State.CANCELED,
}
"""Every allowed move: ``(state, event) -> next state``."""

PREMIUM_STATES = frozenset({State.ACTIVE, State.PAST_DUE, State.CANCELING})
TERMINAL_STATES = frozenset({State.CANCELED, State.EXPIRED})
# Events that end a paid service; the table must never allow them before ``period_end``.
_DOWNGRADES = frozenset({Event.DUNNING_EXHAUSTED, Event.PERIOD_ENDED})


@dataclass(frozen=True)
class Card:
    """What we keep of a payment method: last four digits, brand and expiry; never the number."""

    last4: str
    brand: str
    exp_month: int | None = None
    exp_year: int | None = None

    def expires_before(self, when: datetime) -> bool:
        """True when the card's last valid day (end of its expiry month) is before ``when``."""
        if self.exp_month is None or self.exp_year is None:
            return False
        year, month = (self.exp_year + 1, 1) if self.exp_month == 12 else (self.exp_year, self.exp_month + 1)
        return datetime(year, month, 1, tzinfo=when.tzinfo) <= when


@dataclass(frozen=True)
class Account:
    """One user's subscription as the billing core sees it (immutable; moves return a new one).

    ``period_start``/``period_end`` describe the current run of *paid* time: from the start of the
    first of consecutive paid periods to the end of the last (``None`` before the first payment).
    ``failed_attempts`` counts failed renewal charges of the current dunning run.
    """

    user_id: UserId
    plan_id: str
    state: State = State.INCOMPLETE
    period_start: datetime | None = None
    period_end: datetime | None = None
    customer_ref: str | None = None
    provider_ref: str | None = None  # the provider's subscription id, when webhooks drive it
    card: Card | None = None
    failed_attempts: int = 0
    first_failure_at: datetime | None = None
    next_retry_at: datetime | None = None
    cancel_requested_at: datetime | None = None
    ended_at: datetime | None = None  # when service last ended (downgrade to free)
    # Provider-driven subscriptions (Stripe Subscriptions, via webhooks): the newest subscription
    # snapshot seen, the state it asks for, and whether the provider deleted the subscription.
    last_provider_event: tuple[int, str] | None = None  # (created, event id)
    provider_target: State | None = None
    provider_deleted: bool = False
    history: tuple[tuple[datetime, State, Event, State], ...] = field(default=(), repr=False)

    @property
    def renews_at(self) -> datetime | None:
        """When the automatic renewal is due: 24 hours before the paid period ends."""
        if self.period_end is None or self.state is not State.ACTIVE:
            return None
        return self.period_end - timedelta(hours=24)


def is_premium(account: Account | None, now: datetime) -> bool:
    """True while a paid period runs in a premium state; the only premium test billing uses."""
    if account is None or account.state not in PREMIUM_STATES:
        return False
    if account.period_start is None or account.period_end is None:
        return False
    return account.period_start <= now < account.period_end


def tier_of(account: Account | None, now: datetime) -> Tier:
    """``Tier.PREMIUM`` while ``is_premium``, else ``Tier.FREE``."""
    return Tier.PREMIUM if is_premium(account, now) else Tier.FREE


def transition(account: Account, event: Event, now: datetime, **changes: object) -> Account:
    """Apply ``event`` to ``account`` at ``now`` and return the moved account with ``changes`` set.

    Parameters
    ----------
    account
        The current account.
    event
        What happened.
    now
        Timezone-aware time of the move (recorded in ``history``).
    **changes
        Field updates made together with the move (new period, attempt counters ...).

    Raises
    ------
    InvalidTransition
        ``(account.state, event)`` is not in ``TRANSITIONS``, or a downgrade is asked for while
        the paid period still runs.
    """
    target = TRANSITIONS.get((account.state, event))
    if target is None:
        allowed = sorted(e.value for (s, e) in TRANSITIONS if s is account.state)
        raise InvalidTransition(
            f"user {account.user_id}: {event.value!r} is not allowed in state {account.state.value!r}"
            f" (allowed: {', '.join(allowed) or 'none'})"
        )
    if event in _DOWNGRADES and account.period_end is not None and now < account.period_end:
        raise InvalidTransition(
            f"user {account.user_id}: {event.value!r} at {now.isoformat()} would end service before the paid"
            f" period ends at {account.period_end.isoformat()}"
        )
    moved = replace(account, state=target, **changes)  # type: ignore[arg-type]
    return replace(moved, history=(*account.history, (now, account.state, event, target)))

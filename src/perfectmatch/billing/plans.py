"""Plans: free, premium monthly and premium annual, with prices as integer minor units and a currency."""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from perfectmatch.errors import InvalidInputError
from perfectmatch.models import Tier
from perfectmatch.ports import Money


class Interval(StrEnum):
    """How long one paid period lasts."""

    MONTH = "month"
    YEAR = "year"


@dataclass(frozen=True)
class Plan:
    """One purchasable plan; ``price`` and ``interval`` are ``None`` only for the free plan."""

    id: str
    name: str
    tier: Tier
    price: Money | None = None
    interval: Interval | None = None

    @property
    def is_paid(self) -> bool:
        return self.price is not None and self.price.amount_minor > 0


FREE_PLAN_ID = "free"


def default_plans(
    *,
    monthly_minor: int = 1999,
    annual_minor: int = 19999,
    currency: str = "usd",
    monthly_id: str = "premium_monthly",
    annual_id: str = "premium_annual",
) -> dict[str, Plan]:
    """Return the spec's plans keyed by id: free (default), premium monthly $19.99, annual $199.99.

    Parameters
    ----------
    monthly_minor, annual_minor
        Prices in minor units (cents); must be positive integers.
    currency
        ISO 4217 code, lower case as Stripe uses it.
    monthly_id, annual_id
        Plan ids, configurable so they can match the provider's price ids.

    Raises
    ------
    InvalidInputError
        A price is not a positive integer or two plans share an id.
    """
    for name, value in (("monthly_minor", monthly_minor), ("annual_minor", annual_minor)):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise InvalidInputError(f"plans: {name} must be a positive integer of minor units (got {value!r})")
    ids = [FREE_PLAN_ID, monthly_id, annual_id]
    if len(set(ids)) != 3:
        raise InvalidInputError(f"plans: plan ids must differ (got {ids})")
    cur = currency.lower()
    return {
        FREE_PLAN_ID: Plan(FREE_PLAN_ID, "Free", Tier.FREE),
        monthly_id: Plan(monthly_id, "Premium monthly", Tier.PREMIUM, Money(monthly_minor, cur), Interval.MONTH),
        annual_id: Plan(annual_id, "Premium annual", Tier.PREMIUM, Money(annual_minor, cur), Interval.YEAR),
    }


def get_plan(plans: Mapping[str, Plan], plan_id: str) -> Plan:
    """Return the plan called ``plan_id``; raises ``InvalidInputError`` naming the known ids."""
    try:
        return plans[plan_id]
    except KeyError:
        raise InvalidInputError(f"unknown plan {plan_id!r} (known: {', '.join(sorted(plans))})") from None


def add_interval(start: datetime, interval: Interval) -> datetime:
    """Return ``start`` moved one calendar month or year ahead (day clipped to the month's length)."""
    months = 1 if interval is Interval.MONTH else 12
    total = start.month - 1 + months
    year, month = start.year + total // 12, total % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


def period_after(start: datetime, plan: Plan) -> tuple[datetime, datetime]:
    """Return the paid period ``(start, end)`` that a payment for ``plan`` at ``start`` buys."""
    if plan.interval is None:
        raise InvalidInputError(f"plan {plan.id!r} is free and has no billing period")
    end = add_interval(start, plan.interval)
    assert end - start >= timedelta(days=28)
    return start, end

"""Login throttling: ``max_failures`` failed logins, each within ``window`` of the previous one, lock an
email for ``lockout``.

Pure functions over ``ThrottleState``; the service loads and saves the state per login key. Counting
per email (not per address or IP) stops password guessing against one account. The count runs on
while failures keep coming less than ``window`` apart (a fixed window that restarts would let
``2 max - 1`` guesses through around its boundary); a gap of ``window`` or a lock that has run out
starts a fresh count, so no span shorter than both ``window`` and ``lockout`` sees more than
``max_failures`` guesses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class ThrottlePolicy:
    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)
    lockout: timedelta = timedelta(minutes=15)

    def __post_init__(self) -> None:
        if self.max_failures < 1 or self.window <= timedelta(0) or self.lockout <= timedelta(0):
            raise ValueError(f"invalid throttle policy {self}")


@dataclass(frozen=True)
class ThrottleState:
    failures: int
    last_failure: datetime
    locked_until: datetime | None = None


def locked_until(state: ThrottleState | None, now: datetime) -> datetime | None:
    """When the lock on this key ends, if it is locked at ``now``."""
    if state is None or state.locked_until is None or now >= state.locked_until:
        return None
    return state.locked_until


def after_failure(state: ThrottleState | None, now: datetime, policy: ThrottlePolicy) -> ThrottleState:
    """The state after one more failed login at ``now`` (locked once ``max_failures`` is reached)."""
    fresh = (
        state is None
        or now - state.last_failure >= policy.window
        or (state.locked_until is not None and now >= state.locked_until)
    )
    failures = 1 if fresh else state.failures + 1  # type: ignore[union-attr]
    lock = now + policy.lockout if failures >= policy.max_failures else None
    return ThrottleState(failures=failures, last_failure=now, locked_until=lock)

"""Login throttling: ``max_failures`` failures inside the window lock the email for ``lockout``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perfectmatch.accounts.throttle import ThrottlePolicy, ThrottleState, after_failure, locked_until

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
POLICY = ThrottlePolicy(max_failures=5, window=timedelta(minutes=15), lockout=timedelta(minutes=15))


def test_fifth_failure_locks_until_lockout_end() -> None:
    state = None
    for i in range(4):
        state = after_failure(state, T0 + timedelta(seconds=i), POLICY)
        assert locked_until(state, T0 + timedelta(seconds=i)) is None
    state = after_failure(state, T0 + timedelta(seconds=4), POLICY)
    assert state.failures == 5
    assert locked_until(state, T0 + timedelta(seconds=5)) == T0 + timedelta(seconds=4) + POLICY.lockout
    assert locked_until(state, T0 + timedelta(seconds=4) + POLICY.lockout) is None


def test_a_gap_of_a_window_starts_a_new_count() -> None:
    state = ThrottleState(failures=4, last_failure=T0)
    later = after_failure(state, T0 + POLICY.window, POLICY)
    assert later == ThrottleState(failures=1, last_failure=T0 + POLICY.window)


def test_failures_less_than_a_window_apart_keep_counting() -> None:
    """Four quick failures, then one just before the window since the first ends: the fifth locks
    (a window that restarted would have let it and four more through)."""
    state = None
    for t in (0, 1, 1, 1):
        state = after_failure(state, T0 + timedelta(seconds=t), POLICY)
    state = after_failure(state, T0 + POLICY.window, POLICY)
    assert state.failures == 5 and state.locked_until == T0 + POLICY.window + POLICY.lockout


def test_after_a_lock_runs_out_the_count_starts_again() -> None:
    locked = ThrottleState(failures=5, last_failure=T0, locked_until=T0 + timedelta(minutes=1))
    assert after_failure(locked, T0 + timedelta(minutes=2), POLICY).failures == 1


def test_invalid_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="policy"):
        ThrottlePolicy(max_failures=0)


@given(st.lists(st.integers(min_value=0, max_value=3600), min_size=1, max_size=60))
def test_never_more_than_max_failures_accepted_per_lockout(gaps: list[int]) -> None:
    """Attempts refused while locked never count; so within any lockout-long span at most ``max`` are judged."""
    state, now, judged = None, T0, []
    for gap in gaps:
        now += timedelta(seconds=gap)
        if locked_until(state, now) is not None:
            continue
        judged.append(now)
        state = after_failure(state, now, POLICY)
        assert state.failures <= POLICY.max_failures
        assert (state.locked_until is not None) == (state.failures == POLICY.max_failures)
    for i, start in enumerate(judged):
        inside = [t for t in judged[i:] if t - start < min(POLICY.window, POLICY.lockout)]
        assert len(inside) <= POLICY.max_failures

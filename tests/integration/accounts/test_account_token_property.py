"""Property: over any sequence of verify / resend / wait, a token works at most once, only while it is
the newest and unexpired; every other use is refused with the right reason and changes nothing."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perfectmatch.accounts import AccountService
from perfectmatch.bootstrap import App
from perfectmatch.errors import InvalidToken

TTL = timedelta(hours=24)
RESEND = timedelta(seconds=60)
_emails = itertools.count()
ops = st.lists(
    st.one_of(
        st.tuples(st.just("verify"), st.integers(min_value=0, max_value=5)),
        st.tuples(st.just("resend"), st.just(0)),
        st.tuples(st.just("wait"), st.sampled_from([59, 60, 23 * 3600, 24 * 3600]) | st.integers(0, 30 * 3600)),
    ),
    max_size=12,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=ops)
def test_tokens_work_at_most_once_and_only_newest_unexpired(
    app: App, service: AccountService, steps: list[tuple[str, int]]
) -> None:
    clock: Any = app.clock
    reg = service.register(f"p{next(_emails)}@example.com", "violet-harbour-42")
    tokens, issued = [reg.token], [clock.now()]
    used: set[int] = set()
    verified = False
    for op, arg in steps:
        if op == "wait":
            clock.advance(arg)
        elif op == "resend":
            again = service.resend_verification(reg.email)
            assert (again is None) == (verified or clock.now() - issued[-1] < RESEND)
            if again is not None:
                tokens.append(again.token)
                issued.append(clock.now())
        else:
            i = arg % len(tokens)
            if i in used:
                expected = "used"
            elif i != len(tokens) - 1:
                expected = "superseded"
            elif clock.now() >= issued[i] + TTL:
                expected = "expired"
            else:
                expected = None
            try:
                assert service.verify_email(tokens[i]) == reg.user_id
                got = None
            except InvalidToken as exc:
                got = exc.reason
            assert got == expected, (op, i, steps)
            if got is None:
                used.add(i)
                verified = True
        assert service.account(reg.user_id).verified == verified
    assert len(used) <= 1

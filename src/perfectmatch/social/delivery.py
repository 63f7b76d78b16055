"""Sending through a ``ports.Notifier`` with retries and exponential backoff (tenacity)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tenacity import RetryError, Retrying, retry_if_not_exception_type, stop_after_attempt, wait_exponential

from perfectmatch.errors import PerfectMatchError
from perfectmatch.models import Notification
from perfectmatch.ports import Notifier
from perfectmatch.social.errors import DeliveryFailed


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: ``attempts`` in all, waiting ``base_s * 2**n`` (capped at ``max_s``) between.

    ``sleep`` is injectable so tests (and simulations with a ``FakeClock``) never wait for real.
    """

    attempts: int = 4
    base_s: float = 0.5
    max_s: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    def waits(self) -> list[float]:
        """The waits between attempts, in seconds (``attempts - 1`` of them)."""
        return [min(self.max_s, self.base_s * 2**n) for n in range(self.attempts - 1)]


def send_with_retry(notifier: Notifier, note: Notification, policy: RetryPolicy) -> int:
    """Send ``note``, retrying any non-library exception with exponential backoff.

    Returns
    -------
    int
        The number of attempts made (1 when the first one succeeded).

    Raises
    ------
    DeliveryFailed
        Every attempt raised; the last error is chained.
    """
    retrying = Retrying(
        stop=stop_after_attempt(policy.attempts),
        wait=wait_exponential(multiplier=policy.base_s, min=policy.base_s, max=policy.max_s),
        retry=retry_if_not_exception_type(PerfectMatchError),
        sleep=policy.sleep,
        reraise=False,
    )
    try:
        for attempt in retrying:
            with attempt:
                notifier.send(note)
            if not attempt.retry_state.outcome or not attempt.retry_state.outcome.failed:
                return attempt.retry_state.attempt_number
    except RetryError as exc:
        last = exc.last_attempt.exception()
        raise DeliveryFailed(
            f"notification {note.id} to user {note.user_id} failed after {policy.attempts} attempts: {last}",
            attempts=policy.attempts,
        ) from last
    raise AssertionError("unreachable")  # pragma: no cover

"""Requests-per-minute and tokens-per-minute limits as token buckets, and a per-run spending budget."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Two token buckets (requests and tokens) refilled continuously; ``0`` disables a limit.

    ``burst_s`` seconds of rate may be spent at once; the default ``0`` paces requests evenly, so any
    60-second window holds at most ``rpm + 1`` requests. A request larger than the token bucket
    goes when the bucket is full and leaves it in debt, so later requests wait until it is repaid.
    """

    def __init__(
        self,
        rpm: float = 0,
        tpm: float = 0,
        *,
        burst_s: float = 0.0,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rpm = rpm
        self.tpm = tpm
        self._req_cap = max(1.0, rpm / 60 * burst_s)
        self._tok_cap = max(1.0, tpm / 60 * burst_s)
        self._req = self._req_cap
        self._tok = self._tok_cap
        self._monotonic = monotonic
        self._sleep = sleep
        self._t = monotonic()
        self._lock = threading.Lock()
        self.waited_s = 0.0

    def _refill(self) -> None:
        now = self._monotonic()
        dt = max(0.0, now - self._t)
        self._t = now
        self._req = min(self._req_cap, self._req + dt * self.rpm / 60)
        self._tok = min(self._tok_cap, self._tok + dt * self.tpm / 60)

    def _wait_needed(self, tokens: float) -> float:
        need = 0.0
        if self.rpm > 0 and self._req < 1:
            need = max(need, (1 - self._req) * 60 / self.rpm)
        if self.tpm > 0:
            want = min(tokens, self._tok_cap)
            if self._tok < want:
                need = max(need, (want - self._tok) * 60 / self.tpm)
        return need

    def acquire(self, tokens: float = 0, *, max_wait_s: float = float("inf")) -> bool:
        """Take one request and ``tokens`` tokens, waiting up to ``max_wait_s``; ``False`` if it would take longer."""
        start = self._monotonic()
        while True:
            with self._lock:
                self._refill()
                need = self._wait_needed(tokens)
                if need <= 1e-6:  # float dust: a microsecond early is on time
                    if self.rpm > 0:
                        self._req -= 1
                    if self.tpm > 0:
                        self._tok -= tokens
                    return True
            if self._monotonic() - start + need > max_wait_s:
                return False
            pause = min(need, 0.05)
            self.waited_s += pause
            self._sleep(pause)

"""Failure-rate routing between a primary provider and its backup, with probing back."""

from __future__ import annotations

import threading
from collections import deque

from perfectmatch.ports import Clock


class FailureRateRouter:
    """Sends traffic to the backup while the primary's recent failure rate is above a threshold.

    The primary's last ``window`` call outcomes form the sliding window. Once at least
    ``min_samples`` are in it and the failure rate exceeds ``threshold``, the router switches to the
    backup. While switched, one call every ``probe_interval_s`` (by ``clock``) is a probe sent to
    the primary first; a successful probe clears the window and switches back. Thread-safe.

    Parameters
    ----------
    primary, backup
        Provider names; ``backup`` may be ``None`` (then the order is always just the primary).
    """

    def __init__(
        self,
        primary: str,
        backup: str | None,
        clock: Clock,
        *,
        window: int = 20,
        threshold: float = 0.10,
        min_samples: int = 10,
        probe_interval_s: float = 30.0,
    ) -> None:
        self.primary = primary
        self.backup = backup
        self._clock = clock
        self.threshold = threshold
        self.min_samples = min(min_samples, window)
        self.probe_interval_s = probe_interval_s
        self._outcomes: deque[bool] = deque(maxlen=window)
        self._switched = False
        self._last_probe = 0.0
        self._lock = threading.Lock()
        self.switches = 0
        self.probes = 0

    @property
    def switched(self) -> bool:
        return self._switched

    def failure_rate(self) -> float:
        with self._lock:
            return self._rate()

    def _rate(self) -> float:
        if not self._outcomes:
            return 0.0
        return sum(1 for ok in self._outcomes if not ok) / len(self._outcomes)

    def order(self) -> list[str]:
        """Provider names to try for the next request, best first."""
        if self.backup is None:
            return [self.primary]
        with self._lock:
            if not self._switched:
                return [self.primary, self.backup]
            now = self._clock.now().timestamp()
            if now - self._last_probe >= self.probe_interval_s:
                self._last_probe = now
                self.probes += 1
                return [self.primary, self.backup]
            return [self.backup, self.primary]

    def record(self, provider: str, ok: bool) -> None:
        """Record one call outcome; only the primary's outcomes move the router."""
        if provider != self.primary or self.backup is None:
            return
        with self._lock:
            if self._switched:
                if ok:
                    self._switched = False
                    self._outcomes.clear()
                return
            self._outcomes.append(ok)
            if len(self._outcomes) >= self.min_samples and self._rate() > self.threshold:
                self._switched = True
                self.switches += 1
                self._last_probe = self._clock.now().timestamp()

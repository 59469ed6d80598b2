"""Login throttling: a sliding window of recent failures per account and per client address.

Once a key (``account:<login>`` or ``ip:<address>``) has ``max_failures`` failures within ``window`` seconds,
further attempts on it are refused with 429 until the oldest of those failures leaves the window. Refused
attempts are not counted, so an attacker can keep an account throttled only by failing again after each
window, never lock it permanently; a correct password after the window works. On success only the
account's failures are forgotten: a client that owns one account must not be able to reset its address's
count and go on guessing other accounts.

State lives in this process's memory: it is meant to slow guessing down, and a restart merely forgets it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable

from kdrama_tui.errors import TooManyRequests

_SWEEP_EVERY = 1024  # operations between sweeps of keys whose failures have all expired


class LoginThrottle:
    def __init__(self, max_failures: int, window_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_failures < 1 or window_seconds <= 0:
            raise ValueError("max_failures must be >= 1 and window_seconds > 0")
        self.max_failures = max_failures
        self.window = float(window_seconds)
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._operations = 0

    @staticmethod
    def keys(login: str, ip: str | None) -> list[str]:
        keys = [f"account:{login.strip().casefold()}"]
        if ip:
            keys.append(f"ip:{ip}")
        return keys

    def _recent(self, key: str, now: float) -> deque[float] | None:
        failures = self._failures.get(key)
        if failures is None:
            return None
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return None
        return failures

    def retry_after(self, keys: Iterable[str]) -> float:
        """Seconds until every key may try again (0 when none is throttled)."""
        now = self.clock()
        wait = 0.0
        for key in keys:
            failures = self._recent(key, now)
            if failures is not None and len(failures) >= self.max_failures:
                # the attempt is allowed again once enough of the oldest failures have aged out
                oldest_blocking = failures[len(failures) - self.max_failures]
                wait = max(wait, oldest_blocking + self.window - now)
        return wait

    def check(self, keys: Iterable[str]) -> None:
        wait = self.retry_after(keys)
        if wait > 0:
            raise TooManyRequests("too many failed logins; try again later", code="too_many_attempts",
                                  retry_after=wait)

    def record_failure(self, keys: Iterable[str]) -> None:
        now = self.clock()
        for key in keys:
            failures = self._recent(key, now)
            if failures is None:
                failures = self._failures[key] = deque(maxlen=self.max_failures)
            failures.append(now)
        self._maybe_sweep(now)

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)

    def _maybe_sweep(self, now: float) -> None:
        self._operations += 1
        if self._operations % _SWEEP_EVERY == 0:
            for key in list(self._failures):
                self._recent(key, now)

    def __len__(self) -> int:
        return len(self._failures)

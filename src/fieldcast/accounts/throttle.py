"""Sign-in throttling: too many failed attempts for one email pause further attempts.

In-process (per app process) and sliding-window; the limit is explicit and reported to the user."""

from __future__ import annotations

import time
from collections import deque

MAX_FAILURES = 10
WINDOW_S = 15 * 60
MAX_TRACKED = 100_000


class SignInThrottle:
    def __init__(self, max_failures: int = MAX_FAILURES, window_s: float = WINDOW_S) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.get(key, deque())
        while failures and now - failures[0] > self.window_s:
            failures.popleft()
        return failures

    def retry_after_s(self, key: str, now: float | None = None) -> int:
        """0 when an attempt is allowed, else seconds until the oldest failure ages out."""
        now = time.monotonic() if now is None else now
        failures = self._recent(key, now)
        if len(failures) < self.max_failures:
            return 0
        return max(1, int(self.window_s - (now - failures[0])) + 1)

    def failed(self, key: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if len(self._failures) >= MAX_TRACKED:  # bound memory under a spray of random emails
            self._failures.clear()
        failures = self._recent(key, now)
        failures.append(now)
        self._failures[key] = failures

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)

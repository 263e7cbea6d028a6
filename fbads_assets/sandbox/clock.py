"""The sandbox's clock: real time until a test sets it, then frozen where the test put it.

Report dates, late attribution, token expiry and the rolling-hour quotas all read this clock, so
a test can move a week forward and see restated numbers without waiting. Async report runs keep
to real time (they only model the wait a client must poll through).
"""

from __future__ import annotations

import datetime as dt
import threading


class SandboxClock:
    def __init__(self, now: dt.datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._frozen = now.astimezone(dt.UTC) if now is not None else None

    def now(self) -> dt.datetime:
        with self._lock:
            return self._frozen or dt.datetime.now(dt.UTC)

    def set(self, when: dt.datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("clock.set needs a timezone-aware datetime (e.g. tzinfo=UTC).")
        with self._lock:
            self._frozen = when.astimezone(dt.UTC)

    def advance(self, delta: dt.timedelta) -> None:
        with self._lock:
            self._frozen = (self._frozen or dt.datetime.now(dt.UTC)) + delta

    def timestamp(self) -> float:
        return self.now().timestamp()

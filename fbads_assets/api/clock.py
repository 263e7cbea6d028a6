"""Time for the client: the one seam through which every wait and every "now" passes.

Rate-limit waits can last an hour (``estimated_time_to_regain_access`` is in minutes), so tests
inject a ``FakeClock`` whose ``sleep`` advances its time instantly, and the client's whole retry
and throttle logic runs as in production without waiting.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current time, timezone-aware (UTC)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back, for measuring waits."""
        ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class FakeClock:
    """A clock for tests: ``sleep`` returns at once and moves time forward by ``seconds``.

    ``sleeps`` records every requested wait, so a test can assert that a 60-minute back-off was
    honoured without spending it.
    """

    def __init__(self, start: dt.datetime | None = None) -> None:
        self._now = start or dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
        self._elapsed = 0.0
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._elapsed

    def sleep(self, seconds: float) -> None:
        seconds = max(0.0, float(seconds))
        with self._lock:
            self.sleeps.append(seconds)
            self._elapsed += seconds
            self._now += dt.timedelta(seconds=seconds)

    def advance(self, delta: dt.timedelta) -> None:
        self.sleep(delta.total_seconds())

    @property
    def slept(self) -> float:
        """Total seconds of waiting requested so far."""
        with self._lock:
            return sum(self.sleeps)

"""What a run cost at the Marketing API: calls, async jobs, retries, splits and throttle waits.

One ``ApiStats`` lives on each client; the asset records ``as_metadata()`` on its
materialization, so the UI can plot calls and waits per run.
"""

from __future__ import annotations

import threading
from collections import Counter


class ApiStats:
    """Thread-safe counters of one client's work."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total_calls = 0
        self.calls_by_endpoint: Counter[str] = Counter()
        self.calls_by_account: Counter[str] = Counter()
        self.errors_by_kind: Counter[str] = Counter()
        self.async_jobs = 0
        self.polls = 0
        self.batch_calls = 0
        self.retries = 0
        self.splits = 0
        self.page_size_reductions = 0
        self.throttle_waits = 0
        self.throttle_wait_seconds = 0.0
        self.retry_wait_seconds = 0.0
        self.rows = 0

    def record_call(self, endpoint: str, account_id: str | None, requests: int = 1) -> None:
        """One HTTP request; a batch counts its sub-requests, as Meta's quotas do."""
        with self._lock:
            self.total_calls += requests
            self.calls_by_endpoint[endpoint] += requests
            if account_id:
                self.calls_by_account[account_id] += requests

    def record_error(self, kind: str) -> None:
        with self._lock:
            self.errors_by_kind[kind] += 1

    def record_wait(self, seconds: float) -> None:
        with self._lock:
            self.throttle_waits += 1
            self.throttle_wait_seconds += seconds

    def add(self, name: str, amount: int = 1) -> None:
        """Increments one of the plain counters: async_jobs, polls, retries, splits, ..."""
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)

    def add_seconds(self, name: str, seconds: float) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + seconds)

    def as_metadata(self) -> dict[str, float | int]:
        """Flat numbers for ``dg.MaterializeResult(metadata=...)``; keys are stable."""
        with self._lock:
            out: dict[str, float | int] = {
                "api_calls": self.total_calls,
                "api_async_jobs": self.async_jobs,
                "api_async_polls": self.polls,
                "api_batch_calls": self.batch_calls,
                "api_retries": self.retries,
                "api_splits": self.splits,
                "api_page_size_reductions": self.page_size_reductions,
                "api_throttle_waits": self.throttle_waits,
                "api_throttle_wait_seconds": round(self.throttle_wait_seconds, 3),
                "api_retry_wait_seconds": round(self.retry_wait_seconds, 3),
                "api_rows": self.rows,
                "api_errors": sum(self.errors_by_kind.values()),
            }
            for endpoint, n in sorted(self.calls_by_endpoint.items()):
                out[f"api_calls/{endpoint}"] = n
            for account_id, n in sorted(self.calls_by_account.items()):
                out[f"api_calls/account/{account_id}"] = n
            for kind, n in sorted(self.errors_by_kind.items()):
                out[f"api_errors/{kind}"] = n
            return out

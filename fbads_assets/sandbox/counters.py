"""Request counters, for tests and benchmarks: what the client asked, and what it cost."""

from __future__ import annotations

import copy
import threading
from collections import Counter
from typing import Any


class Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with getattr(self, "_lock", threading.Lock()):
            self._total = 0
            self._by_endpoint: Counter[str] = Counter()
            self._by_account: Counter[str] = Counter()
            self._errors: Counter[int] = Counter()
            self._requests: list[dict[str, Any]] = []
            self._async_jobs = 0
            self._rows = 0

    def record(
        self,
        method: str,
        endpoint: str,
        account: str | None,
        status: int,
        code: int | None,
        rows: int = 0,
    ) -> None:
        with self._lock:
            self._total += 1
            self._by_endpoint[f"{method} {endpoint}"] += 1
            if account:
                self._by_account[account] += 1
            if code is not None:
                self._errors[code] += 1
            self._rows += rows
            self._requests.append(
                {
                    "method": method,
                    "endpoint": endpoint,
                    "account": account,
                    "status": status,
                    "code": code,
                }
            )

    def job_created(self) -> None:
        with self._lock:
            self._async_jobs += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": self._total,
                "by_endpoint": dict(self._by_endpoint),
                "by_account": dict(self._by_account),
                "requests": copy.deepcopy(self._requests),
                "async_jobs": self._async_jobs,
                "errors": dict(self._errors),
                "rows": self._rows,
            }

"""Async report runs: POST /act_X/insights creates one, GET /{id}/ polls it.

A run moves Job Not Started -> Job Started -> Job Running -> Job Completed over the configured
number of real seconds (the sandbox clock may be frozen; polling must still make progress). Its
rows are computed from the query and the sandbox clock as they were at the POST, so restating
the clock later does not change a finished report.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from fbads_assets.sandbox.prng import hash_of

FAILED_FIELDS = {
    "error_code": -2,
    "error_subcode": 2490547,
    "error_message": "Report Failed",
    "error_user_title": "Report Failed",
    "error_user_msg": "Your report couldn't be generated. Review your query and try again, or "
    "ask for a smaller date range or fewer breakdowns.",
}


@dataclass
class ReportRun:
    id: str
    account_id: str
    query: Any  # insights.InsightsQuery, frozen at the POST
    created_real: float
    duration: float
    time_ref: int  # sandbox unix time at the POST
    outcome: str = "Job Completed"  # or "Job Failed" / "Job Skipped" (fault injection)

    def progress(self, now_real: float) -> int:
        if self.duration <= 0:
            return 100
        return min(100, int((now_real - self.created_real) * 100 / self.duration))

    def status(self, now_real: float) -> dict[str, Any]:
        percent = self.progress(now_real)
        if percent >= 100:
            status = self.outcome
        elif percent < 10:
            status, percent = "Job Not Started", 0
        elif percent < 25:
            status = "Job Started"
        else:
            status = "Job Running"
        node: dict[str, Any] = {
            "id": self.id,
            "account_id": self.account_id,
            "time_ref": self.time_ref,
            "async_status": status,
            "async_percent_completion": percent,
            "date_start": self.query.date_start,
            "date_stop": self.query.date_stop,
        }
        if status == "Job Completed":
            node["time_completed"] = self.time_ref + max(1, int(self.duration))
        if status == "Job Failed":
            node.update(FAILED_FIELDS)
        return node

    def done(self, now_real: float) -> bool:
        return self.progress(now_real) >= 100


class ReportRuns:
    def __init__(self, seed: int) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, ReportRun] = {}
        self._base = 6020000000000 + (hash_of(seed, "runs") % 10**6) * 10**5

    def create(self, account_id: str, query: Any, duration: float, time_ref: int) -> ReportRun:
        with self._lock:
            run_id = str(self._base + len(self._runs) + 1)
            run = ReportRun(run_id, account_id, query, time.monotonic(), duration, time_ref)
            self._runs[run_id] = run
            return run

    def get(self, run_id: str) -> ReportRun | None:
        with self._lock:
            return self._runs.get(run_id)

    def clear(self) -> None:
        with self._lock:
            self._runs.clear()

"""When the client reads an async report's status: counted reads on a fake clock.

The sandbox runs jobs on real time, so these tests put a scripted Graph API behind the client
instead: each job's progress is a function of the client's FakeClock, so a job of an hour
"runs" in microseconds and every status read is counted exactly, by the fake API itself.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest

from fbads_assets.api.client import InsightsRequest, MarketingApiClient, ReportTiming
from fbads_assets.api.clock import FakeClock
from fbads_assets.api.insights import (
    FIRST_READ_SECONDS,
    MAX_FIRST_READ_SECONDS,
    MAX_POLL_SECONDS,
    next_status_wait,
)
from fbads_assets.api.transport import GraphResponse

DAY = dt.date(2026, 11, 20)
FIELDS = ["ad_id", "spend"]
# The status schedule before history was used: reads 1, 2, 4, 8, 15 s apart, then every 30 s.
OLD_INTERVALS = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)


def linear(percent_of_time: float) -> int:
    return int(percent_of_time)


def silent(percent_of_time: float) -> int | None:
    return None  # a status body without async_percent_completion


class ScriptedApi:
    """The Graph API endpoints of an async report, with jobs that run on the test's clock."""

    def __init__(
        self,
        clock: FakeClock,
        durations: list[float],
        percent: Callable[[float], int | None] = linear,
        with_times: bool = True,
    ) -> None:
        self.clock = clock
        self.durations = list(durations)  # one per POST, in order
        self.percent = percent
        self.with_times = with_times
        self.jobs: dict[str, tuple[float, float]] = {}  # id -> (started, duration)
        self.status_reads: list[tuple[str, float]] = []  # (job id, seconds since its POST)

    def send(self, method: str, path: tuple[str, ...], params: Any) -> GraphResponse:
        if method == "POST" and path == ():
            items = [self._status_item(req["relative_url"].rstrip("/")) for req in params["batch"]]
            return GraphResponse(200, {}, items)
        if method == "POST" and path[-1] == "insights":
            job_id = str(len(self.jobs) + 1)
            self.jobs[job_id] = (self.clock.monotonic(), self.durations.pop(0))
            return GraphResponse(200, {}, {"report_run_id": job_id})
        if method == "GET" and path[-1] == "insights":
            return GraphResponse(200, {}, {"data": [{"ad_id": "1", "spend": "1.00"}]})
        if method == "GET" and path[-1] == "":
            return GraphResponse(200, {}, self._status(path[0]))
        raise AssertionError(f"unexpected request {method} {path}")

    def close(self) -> None:
        pass

    def _status_item(self, job_id: str) -> dict[str, Any]:
        return {"code": 200, "headers": [], "body": json.dumps(self._status(job_id))}

    def _status(self, job_id: str) -> dict[str, Any]:
        started, duration = self.jobs[job_id]
        elapsed = self.clock.monotonic() - started
        self.status_reads.append((job_id, elapsed))
        done = elapsed >= duration
        body: dict[str, Any] = {
            "id": job_id,
            "async_status": "Job Completed" if done else "Job Running",
        }
        shown = 100 if done else self.percent(100 * elapsed / duration)
        if shown is not None:
            body["async_percent_completion"] = shown
        if self.with_times:
            body["time_ref"] = 1_700_000_000
            if done:
                body["time_completed"] = 1_700_000_000 + int(duration)
        return body


def client_with(api_durations: list[float], **api_kwargs) -> tuple[MarketingApiClient, ScriptedApi]:
    clock = FakeClock()
    client = MarketingApiClient("test-token", graph_url="https://graph.example", clock=clock)
    api = ScriptedApi(clock, api_durations, **api_kwargs)
    client._transport = api  # type: ignore[assignment]  # the one seam to the wire
    return client, api


def report(client: MarketingApiClient, previous: ReportTiming | None = None, days: int = 1):
    return client.insights(
        "act_1", DAY - dt.timedelta(days=days - 1), DAY, fields=FIELDS, previous=previous
    )


def same_kind(seconds: float, days: int = 1) -> ReportTiming:
    fingerprint = InsightsRequest("act_1", DAY, DAY, fields=tuple(FIELDS)).fingerprint
    return ReportTiming(seconds=seconds, fingerprint=fingerprint, days=days)


def old_schedule_reads(duration: float) -> int:
    """Status reads the fixed back-off needed to see a job of ``duration`` done."""
    reads, elapsed = 0, 0.0
    while True:
        elapsed += OLD_INTERVALS[min(reads, len(OLD_INTERVALS) - 1)]
        reads += 1
        if elapsed >= duration:
            return reads


@pytest.mark.parametrize("seconds", [2.0, 7.0, 25.0])
def test_a_report_that_takes_as_long_as_last_time_is_read_once(seconds):
    client, api = client_with([seconds])

    result = report(client, previous=same_kind(seconds))

    assert len(api.status_reads) == 1
    assert client.stats.polls == 1
    assert result.job_seconds == seconds  # Meta's time_completed - time_ref


def test_without_history_a_short_report_takes_two_reads_at_most():
    client, api = client_with([2.0])

    report(client)

    assert client.clock.sleeps[0] == FIRST_READ_SECONDS
    assert len(api.status_reads) == 2


@pytest.mark.parametrize(
    "previous",
    [
        pytest.param(ReportTiming(5.0, "another-request", 1), id="another request"),
        pytest.param(same_kind(5.0, days=28), id="another range length"),
    ],
)
def test_history_of_another_kind_of_report_is_ignored(previous):
    client, _ = client_with([5.0])

    report(client, previous=previous)

    assert client.clock.sleeps[0] == FIRST_READ_SECONDS


def test_a_report_that_once_took_long_is_first_read_within_thirty_seconds():
    client, api = client_with([3.0])

    report(client, previous=same_kind(1800.0))

    assert client.clock.sleeps[0] == MAX_FIRST_READ_SECONDS
    assert len(api.status_reads) == 1


@pytest.mark.parametrize("duration", [0.5, 2.0, 5.0, 20.0, 90.0, 600.0, 3600.0])
@pytest.mark.parametrize("percent", [linear, silent], ids=["with percent", "without percent"])
def test_no_job_is_read_more_often_than_with_the_fixed_back_off(duration, percent):
    client, api = client_with([duration], percent=percent)

    report(client)

    reads = [elapsed for _, elapsed in api.status_reads]
    assert len(reads) <= old_schedule_reads(duration)
    # A finished job is seen within about twice its run time, and never five minutes late.
    assert reads[-1] <= min(2 * duration + 1.0, duration + MAX_POLL_SECONDS)


def rushed(percent_of_time: float) -> int:
    return int(10 * percent_of_time**0.5)  # shows 50 % a quarter of the way through


@pytest.mark.parametrize("percent", [linear, silent, rushed], ids=["linear", "silent", "rushed"])
def test_an_hour_long_job_costs_a_few_dozen_reads_not_a_hundred(percent):
    client, api = client_with([3600.0], percent=percent)

    report(client)

    assert len(api.status_reads) <= 30
    assert old_schedule_reads(3600.0) > 100
    assert max(client.clock.sleeps) <= MAX_POLL_SECONDS


def test_without_meta_times_the_job_time_is_the_time_until_it_was_seen_done():
    client, api = client_with([4.0], with_times=False)

    result = report(client)

    assert result.job_seconds == api.status_reads[-1][1]
    assert result.job_seconds >= 4.0


def test_jobs_run_side_by_side_are_each_read_on_their_own_schedule():
    client, api = client_with([2.0, 20.0])
    requests = [
        InsightsRequest("act_1", DAY, DAY, fields=tuple(FIELDS), previous=same_kind(2.0)),
        InsightsRequest("act_2", DAY, DAY, fields=tuple(FIELDS), previous=same_kind(20.0)),
    ]

    results = client.insights_many(requests)

    reads_by_job = {job: sum(1 for j, _ in api.status_reads if j == job) for job in api.jobs}
    assert reads_by_job == {"1": 1, "2": 1}
    assert [r.job_seconds for r in results] == [2.0, 20.0]


@pytest.mark.parametrize(
    ("elapsed", "percent", "wait"),
    [
        (1.0, None, 2.0),  # no percentage: as long again as the job has run, plus a second
        (7.0, 0, 8.0),  # "Job Not Started" reads 0 %: the same
        (10.0, 60, 8.0),  # 60 % after 10 s: the rest at that pace, plus the 20 % margin
        (100.0, 99, 50.0),  # nearly done by the percentage: still half the time run
        (10.0, 5, 21.0),  # far from done: at most twice the time run, plus a second
        (0.4, 50, 1.0),  # never less than a second
        (4000.0, 10, MAX_POLL_SECONDS),  # never more than five minutes
    ],
)
def test_the_wait_between_reads_stays_between_half_and_twice_the_time_run(elapsed, percent, wait):
    assert next_status_wait(elapsed, percent) == pytest.approx(wait)

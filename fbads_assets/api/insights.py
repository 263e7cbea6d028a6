"""Insights requests: sync reads, and async report runs with every guard Meta's docs call for.

An async report run is POST /act_X/insights → poll GET /{report_run_id}/ → read
GET /{report_run_id}/insights. Around that:

- Jobs in flight per ad account are capped from ``x-fb-ads-insights-throttle`` (4 when the load
  is low, down to 1 from 75 %); several accounts' jobs run side by side.
- Status reads follow each job's own schedule (``first_status_wait``, ``next_status_wait``):
  the first after as long as the same report took last time, when the caller knows it; then
  after the time left at the pace ``async_percent_completion`` shows, kept between half and
  twice the time the job has run so far. Jobs due together share one batch request (at most
  50 per batch).
- A job that ends ``Job Failed`` or ``Job Skipped`` is resubmitted once; if it fails again its
  date range is split in halves, each a new job.
- "Please reduce the amount of data": first a smaller page (in ``MarketingApiClient.pages``),
  then the date range is split. Splitting needs ``time_increment=1`` (rows per day): with
  coarser increments halves would change what a row means, so the error is raised instead.
  A single day that is still too large is raised too: this client does not fall back to a
  lower level or fewer fields (the project asks for ad level, the lowest).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fbads_assets.api import validation
from fbads_assets.api.errors import (
    ASYNC_FAILED,
    INVALID,
    THROTTLE,
    TOO_MUCH_DATA,
    MarketingApiError,
    details_from_body,
)
from fbads_assets.api.throttle import parse_usage, throttle_backoff

if TYPE_CHECKING:
    from fbads_assets.api.client import MarketingApiClient

COMPLETED = "Job Completed"
FAILED_STATUSES = ("Job Failed", "Job Skipped")
# Status reads. Meta has no callback and does not say how long a report will take: from seconds
# for a day of one account to about an hour for years of ad-level rows. Every read is a call
# against the app's quota, so the schedule aims to read a job once it is likely done.
# Without history, the first read comes after a second: a report is never done the instant Meta
# accepts it, and a second is short against any report's run time.
FIRST_READ_SECONDS = 1.0
# With history (the same request over as many days took S seconds last time), the first read
# comes after S * 1.2 + 1 s: a margin for run-to-run variation, and one second because Meta's
# time_ref and time_completed are whole seconds. Never past 30 s: a report that once took long
# may be quick today, and 30 s was the longest wait between reads before history was used.
HISTORY_MARGIN = 1.2
MAX_FIRST_READ_SECONDS = 30.0
# Later reads: without a percentage, after as long again as the job has run plus a second (reads
# at 1, 3, 7, 15, 31 s..., as the fixed back-off did up to 15 s); with one, after the time left
# at the pace so far, kept between half and twice the time run (plus a second). Never more than
# five minutes apart: an hour-long job costs about 20 reads where a fixed 30 s interval cost
# 120, and a finished job is seen within about twice its run time.
MIN_POLL_SECONDS = 1.0
MAX_POLL_SECONDS = 300.0
# Meta runs a job for about an hour at most; past two, treat it as skipped and resubmit.
MAX_JOB_SECONDS = 2 * 3600.0
MAX_BATCH = 50


@dataclass(frozen=True)
class ReportTiming:
    """How long an earlier async report took: what it asked (fingerprint), over how many days.

    A hint for the first status read of the next report of the same kind, never a promise.
    """

    seconds: float
    fingerprint: str
    days: int


@dataclass(frozen=True)
class InsightsRequest:
    """One account's insights for ``since..until`` (inclusive), as the client will ask Meta."""

    account_id: str
    since: dt.date
    until: dt.date
    level: str = "ad"
    fields: tuple[str, ...] = ()
    action_attribution_windows: tuple[str, ...] | None = None
    time_increment: int | str = 1
    breakdowns: tuple[str, ...] | None = None
    use_async: bool = True
    # When to read a job's status first; not part of what is asked.
    previous: ReportTiming | None = dataclasses.field(default=None, compare=False)
    # Each page's rows pass through this as they arrive (e.g. into JSON text), so a long range
    # is held in the caller's compact form rather than as dicts; not part of what is asked.
    keep_rows: Callable[[list[dict]], list] | None = dataclasses.field(default=None, compare=False)

    @property
    def days(self) -> int:
        return (self.until - self.since).days + 1

    def checked(self) -> InsightsRequest:
        """The request with its account id as ``act_<digits>``; raises on bad input."""
        validation.check_insights_request(
            self.since,
            self.until,
            self.level,
            self.fields,
            self.action_attribution_windows,
            self.breakdowns,
            self.time_increment,
        )
        return dataclasses.replace(self, account_id=validation.account_node(self.account_id))

    @property
    def fingerprint(self) -> str:
        """A stable hash of what is asked for, not of the dates or the token."""
        spec = {
            "level": self.level,
            "fields": sorted(self.fields),
            "action_attribution_windows": sorted(self.action_attribution_windows or ()),
            "breakdowns": sorted(self.breakdowns or ()),
            "time_increment": str(self.time_increment),
        }
        text = json.dumps(spec, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def params(self, since: dt.date, until: dt.date, *, fields_as_list: bool) -> dict[str, Any]:
        # The SDK sends fields as a JSON array on the async POST and comma-joined on GETs.
        params: dict[str, Any] = {
            "level": self.level,
            "fields": list(self.fields) if fields_as_list else ",".join(self.fields),
            "time_range": {"since": since.isoformat(), "until": until.isoformat()},
            "time_increment": self.time_increment,
        }
        if self.action_attribution_windows:
            params["action_attribution_windows"] = list(self.action_attribution_windows)
        if self.breakdowns:
            params["breakdowns"] = list(self.breakdowns)
        return params


@dataclass(frozen=True)
class InsightsResult:
    # The API's rows as dicts, or whatever the request's keep_rows made of them.
    rows: list
    fingerprint: str
    api_version: str
    jobs: int
    # The longest async job's run time (Meta's time_completed - time_ref, else as observed);
    # None for a sync read. The next report of this kind gets it back as ``ReportTiming``.
    job_seconds: float | None = None


def first_status_wait(request: InsightsRequest) -> float:
    """Seconds from a job's POST to its first status read."""
    previous = request.previous
    if (
        previous is None
        or previous.fingerprint != request.fingerprint
        or previous.days != request.days
        or previous.seconds < 0
    ):
        return FIRST_READ_SECONDS
    guess = previous.seconds * HISTORY_MARGIN + 1.0
    return min(max(guess, FIRST_READ_SECONDS), MAX_FIRST_READ_SECONDS)


def next_status_wait(elapsed: float, percent: int | None) -> float:
    """Seconds to the next status read of a job not done ``elapsed`` seconds after its POST.

    Without a percentage ("Job Not Started" reads 0 %), as long again as the job has run plus
    a second. With one, the time left at the pace so far, with the history margin; Meta's
    percentage is coarse and not always linear, so that guess is kept between half and twice
    the time run: it can neither cause a burst of reads nor leave a short job unread for long.
    """
    if percent is None or percent <= 0:
        guess = elapsed + MIN_POLL_SECONDS
    elif percent >= 100:
        guess = 0.0  # done but not yet "Job Completed": read again soon
    else:
        guess = elapsed * (100 - percent) / percent * HISTORY_MARGIN
    low = max(MIN_POLL_SECONDS, elapsed / 2)
    high = 2 * elapsed + MIN_POLL_SECONDS
    return min(max(guess, low), high, MAX_POLL_SECONDS)


@dataclass
class _Slice:
    """A date range of one request: the unit that becomes one async job."""

    index: int
    since: dt.date
    until: dt.date
    resubmitted: bool = False
    job_id: str | None = None
    started_at: float = 0.0
    read_at: float = 0.0  # when its status is due to be read next


class InsightsRunner:
    """Runs a list of checked requests to completion; one runner per ``insights_many`` call."""

    def __init__(self, client: MarketingApiClient) -> None:
        self.client = client
        self.requests: list[InsightsRequest] = []
        self.rows: dict[int, list[tuple[dt.date, list]]] = defaultdict(list)
        self.jobs: Counter[int] = Counter()
        self.job_seconds: dict[int, float] = {}
        self.pending: deque[_Slice] = deque()
        self.running: list[_Slice] = []

    def run(self, requests: list[InsightsRequest]) -> list[InsightsResult]:
        self.requests = requests
        for index, request in enumerate(requests):
            whole = _Slice(index, request.since, request.until)
            if request.use_async:
                self.pending.append(whole)
            else:
                self._read_sync(whole)
        self._run_async()
        return [self._result(i, r) for i, r in enumerate(requests)]

    def _result(self, index: int, request: InsightsRequest) -> InsightsResult:
        rows = [row for _, part in sorted(self.rows[index], key=lambda p: p[0]) for row in part]
        return InsightsResult(
            rows=rows,
            fingerprint=request.fingerprint,
            api_version=self.client.api_version,
            jobs=self.jobs[index],
            job_seconds=self.job_seconds.get(index),
        )

    # -- sync -----------------------------------------------------------------------------------

    def _read_sync(self, piece: _Slice) -> None:
        request = self.requests[piece.index]
        params = request.params(piece.since, piece.until, fields_as_list=False)
        try:
            rows = self.client.read_all(
                (request.account_id, "insights"),
                params,
                endpoint="insights",
                account_id=request.account_id,
                keep=request.keep_rows,
            )
        except MarketingApiError as error:
            for half in self._split_or_raise(piece, error):
                self._read_sync(half)
            return
        self.rows[piece.index].append((piece.since, rows))

    # -- async ----------------------------------------------------------------------------------

    def _run_async(self) -> None:
        clock = self.client.clock
        while self.pending or self.running:
            self._start_jobs()
            if not self.running:
                continue  # every piece went back to pending as smaller ranges: start those
            # Wait for the job due first, then read every job due by then, in one request.
            due = min(piece.read_at for piece in self.running)
            if due > clock.monotonic():
                clock.sleep(due - clock.monotonic())
            now = max(clock.monotonic(), due)
            self._poll_and_handle([p for p in self.running if p.read_at <= now])

    def _start_jobs(self) -> None:
        for piece in list(self.pending):
            account = self.requests[piece.index].account_id
            in_flight = sum(1 for p in self.running if self._account(p) == account)
            if in_flight >= self.client.jobs_cap(account):
                continue
            self.pending.remove(piece)
            self._submit(piece)

    def _submit(self, piece: _Slice) -> None:
        request = self.requests[piece.index]
        params = request.params(piece.since, piece.until, fields_as_list=True)
        try:
            response = self.client.call(
                "POST",
                (request.account_id, "insights"),
                params,
                endpoint="insights",
                account_id=request.account_id,
            )
        except MarketingApiError as error:
            self.pending.extend(self._split_or_raise(piece, error))
            return
        job_id = response.body.get("report_run_id") if isinstance(response.body, dict) else None
        if not job_id:
            raise MarketingApiError(
                "the async insights POST returned no report_run_id",
                kind=INVALID,
                what=f"POST {request.account_id}/insights",
            )
        piece.job_id = str(job_id)
        piece.started_at = self.client.clock.monotonic()
        piece.read_at = piece.started_at + first_status_wait(request)
        self.jobs[piece.index] += 1
        self.client.stats.add("async_jobs")
        self.running.append(piece)

    def _poll_and_handle(self, pieces: list[_Slice]) -> None:
        """Reads the status of each of ``pieces`` once; handles the finished ones."""
        for piece, status in self._poll(pieces):
            state = status.get("async_status") if status else None
            percent = _int(status.get("async_percent_completion")) if status else None
            if state == COMPLETED and (percent is None or percent >= 100):
                self.running.remove(piece)
                self._record_job_seconds(piece, status or {})
                self._read_job(piece)
            elif state in FAILED_STATUSES or self._overdue(piece):
                self.running.remove(piece)
                self._retry_failed(piece, status or {})
            else:
                now = self.client.clock.monotonic()
                piece.read_at = now + next_status_wait(now - piece.started_at, percent)

    def _record_job_seconds(self, piece: _Slice, status: dict) -> None:
        # Meta's own run time when it gives one: what this client observed includes its waits.
        started, completed = _int(status.get("time_ref")), _int(status.get("time_completed"))
        if started is not None and completed is not None and completed >= started:
            seconds = float(completed - started)
        else:
            seconds = self.client.clock.monotonic() - piece.started_at
        self.job_seconds[piece.index] = max(seconds, self.job_seconds.get(piece.index, 0.0))

    def _overdue(self, piece: _Slice) -> bool:
        return self.client.clock.monotonic() - piece.started_at > MAX_JOB_SECONDS

    def _read_job(self, piece: _Slice) -> None:
        account = self._account(piece)
        try:
            rows = self.client.read_all(
                (str(piece.job_id), "insights"),
                {},
                endpoint="insights",
                account_id=account,
                keep=self.requests[piece.index].keep_rows,
            )
        except MarketingApiError as error:
            self.pending.extend(self._split_or_raise(piece, error))
            return
        self.rows[piece.index].append((piece.since, rows))

    def _retry_failed(self, piece: _Slice, status: dict) -> None:
        state = status.get("async_status") or "overdue"
        account = self._account(piece)
        if not piece.resubmitted:
            self.client.log.warning(
                "Async insights job for %s, %s..%s ended '%s'; resubmitting it once.",
                account,
                piece.since,
                piece.until,
                state,
            )
            self.client.stats.add("retries")
            self.pending.append(dataclasses.replace(piece, resubmitted=True, job_id=None))
            return
        error = MarketingApiError(
            f"async report run ended '{state}' twice: "
            f"{status.get('error_message') or 'no reason given'}",
            kind=ASYNC_FAILED,
            code=_int(status.get("error_code")),
            subcode=_int(status.get("error_subcode")),
            what=f"Insights of {account} for {piece.since}..{piece.until}",
        )
        self.pending.extend(self._split_or_raise(piece, error))

    def _split_or_raise(self, piece: _Slice, error: MarketingApiError) -> list[_Slice]:
        """Halves of the piece's range when the error is one that splitting can cure."""
        request = self.requests[piece.index]
        can_split = (
            error.kind in (TOO_MUCH_DATA, ASYNC_FAILED)
            and piece.since < piece.until
            and request.time_increment == 1
        )
        if not can_split:
            raise error
        middle = piece.since + (piece.until - piece.since) // 2
        self.client.stats.add("splits")
        self.client.log.info(
            "Insights of %s for %s..%s: %s; splitting at %s.",
            request.account_id,
            piece.since,
            piece.until,
            "too much data" if error.kind == TOO_MUCH_DATA else "the job failed twice",
            middle,
        )
        return [
            _Slice(piece.index, piece.since, middle),
            _Slice(piece.index, middle + dt.timedelta(days=1), piece.until),
        ]

    # -- polling --------------------------------------------------------------------------------

    def _poll(self, pieces: list[_Slice]) -> list[tuple[_Slice, dict | None]]:
        if len(pieces) == 1:
            piece = pieces[0]
            self.client.stats.add("polls")
            response = self.client.call(
                "GET", (str(piece.job_id), ""), {}, endpoint="report_run",
                account_id=self._account(piece),
            )  # fmt: skip
            return [(piece, response.body if isinstance(response.body, dict) else None)]
        out: list[tuple[_Slice, dict | None]] = []
        for start in range(0, len(pieces), MAX_BATCH):
            out.extend(self._poll_batch(pieces[start : start + MAX_BATCH]))
        return out

    def _poll_batch(self, pieces: list[_Slice]) -> list[tuple[_Slice, dict | None]]:
        batch = [{"method": "GET", "relative_url": f"{p.job_id}/"} for p in pieces]
        self.client.stats.add("polls", len(pieces))
        self.client.stats.add("batch_calls")
        response = self.client.call(
            "POST",
            (),
            {"batch": batch},
            endpoint="batch",
            count=[("report_run", self._account(p)) for p in pieces],
        )
        items = response.body if isinstance(response.body, list) else []
        out: list[tuple[_Slice, dict | None]] = []
        throttled = None
        for position, piece in enumerate(pieces):
            item = items[position] if position < len(items) else None
            status, error = self._batch_item(item, piece)
            if error is not None and error.kind == THROTTLE:
                throttled = error
            elif error is not None and not error.retryable:
                raise error
            out.append((piece, status))
        if throttled is not None:
            # One wait for the whole batch: the sub-requests share the app's quota.
            self.client.stats.record_error(THROTTLE)
            self.client.wait(throttle_backoff(throttled.usage, 0), throttle=True)
        return out

    def _batch_item(self, item: Any, piece: _Slice) -> tuple[dict | None, MarketingApiError | None]:
        """A batch item's status body, or the error it holds; a null item was not processed."""
        if not isinstance(item, dict):
            return None, None
        headers = {h.get("name", ""): h.get("value", "") for h in item.get("headers") or []}
        try:
            body = json.loads(item.get("body") or "null")
        except ValueError:
            body = None
        code = int(item.get("code") or 0)
        details = details_from_body(body, code)
        if details is not None or code >= 400:
            if details is None:
                return None, None  # an error page inside the batch: poll again
            error = MarketingApiError.from_details(details, what=f"GET {piece.job_id}/")
            error.usage = parse_usage(headers)
            return None, error
        usage = parse_usage(headers)
        if usage.has_insights_throttle:
            self.client.remember_insights_usage(self._account(piece), usage)
        return (body if isinstance(body, dict) else None), None

    def _account(self, piece: _Slice) -> str:
        return self.requests[piece.index].account_id


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None

"""The benchmark scenarios, at two scales, and how each one is run and counted.

Every API scenario starts its own sandbox process (so its counters start at zero and its world
is the scenario's size), prepares what a real deployment would already have (the account list
and the object tables) outside the measurement, then runs each account's insights job through
the real asset graph in a pool of worker processes no larger than the facebook_api pool limit
of ``dagster.yaml``. API calls are read from the sandbox's counters, never from the client.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import multiprocessing
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psutil
import yaml

from benchmarks import minimum
from benchmarks.graph_worker import (
    AccountReport,
    AccountWork,
    run_account,
    run_accounts_job,
    run_objects,
    shared_dagster_home,
)
from benchmarks.sandbox_process import SandboxKnobs, sandbox_process
from benchmarks.transform_load import (
    FINAL_FRAME_STEP,
    STEPS,
    StepTask,
    TransformTask,
    combine_steps,
    fetch_sample,
    run_transform_step,
)

ROOT = Path(__file__).resolve().parent.parent
# The sandbox's public demo token (fbads_assets/sandbox/config.py); it opens only the sandbox.
SANDBOX_TOKEN = "sbx-demo-token-public"
# Error codes Meta uses for rate limits (Graph API "Rate Limiting" docs): a throttle wait is
# justified only if the sandbox answered with one of these.
THROTTLE_CODES = frozenset({4, 17, 32, 613, 80000, 80001, 80002, 80003, 80004, 80005, 80006})
# What the extraction needs, by the sandbox's normalised endpoint. Everything else the project
# sends (token inspection, the sync account totals for reconciliation) is overhead: deliberate
# calls that the minimum does not include.
EXTRACTION_ENDPOINTS = frozenset(
    {
        "POST /act/insights",
        "GET /report_run",
        "GET /report_run/insights",
        "GET /me/adaccounts",
        "GET /?ids",
        "GET /act/campaigns",
        "GET /act/adsets",
        "GET /act/ads",
        "GET /act/adcreatives",
    }
)
# A batch's own envelope is not a call against the quota; its sub-requests are, and the
# sandbox counts each of them under its own endpoint.
BATCH_ENVELOPE = "POST /batch"
REPORT_PAGES = "GET /report_run/insights"


@dataclass(frozen=True)
class ApiScenario:
    name: str
    accounts: int
    days: int
    ads_per_account: int
    # The daily run also refreshes the account list and each account's objects.
    with_metadata: bool
    latency_ms: int
    async_job_seconds: float

    def knobs(self) -> SandboxKnobs:
        campaigns, adsets, ads = _object_shape(self.ads_per_account)
        return SandboxKnobs(
            accounts=self.accounts,
            campaigns_per_account=campaigns,
            adsets_per_campaign=adsets,
            ads_per_adset=ads,
            # Cover the range with room to spare: report dates end two days before today.
            history_days=self.days + 30,
            latency_ms=self.latency_ms,
            async_job_seconds=self.async_job_seconds,
        )


@dataclass(frozen=True)
class TransformScenario:
    name: str
    rows: int
    ads_per_day: int


def _object_shape(ads: int) -> tuple[int, int, int]:
    """Campaigns, ad sets per campaign and ads per ad set that give ``ads`` ads."""
    for campaigns, adsets in ((10, 10), (10, 5), (5, 5), (2, 2), (1, 1)):
        if ads % (campaigns * adsets) == 0 and ads >= campaigns * adsets:
            return campaigns, adsets, ads // (campaigns * adsets)
    return 1, 1, ads


# Realistic: about 80 ms per request, async reports taking about 2 s.
FULL_LATENCY = dict(latency_ms=80, async_job_seconds=2.0)
TINY_LATENCY = dict(latency_ms=0, async_job_seconds=0.0)

SCALES: dict[str, list[ApiScenario | TransformScenario]] = {
    "full": [
        ApiScenario("daily", 10, 1, 500, True, **FULL_LATENCY),
        ApiScenario("resync", 10, 28, 500, False, **FULL_LATENCY),
        ApiScenario("backfill", 2, 365, 1000, False, **FULL_LATENCY),
        TransformScenario("transform_load", 1_000_000, 6000),
    ],
    "tiny": [
        ApiScenario("daily", 2, 1, 4, True, **TINY_LATENCY),
        # One account each and short ranges: the concurrency path is exercised by the daily
        # run, and Dagster's bookkeeping per date partition (measured: about 0.1 s per
        # partition and asset on a busy 2-core machine) would make long ranges slow.
        ApiScenario("resync", 1, 7, 4, False, **TINY_LATENCY),
        ApiScenario("backfill", 1, 14, 4, False, **TINY_LATENCY),
        TransformScenario("transform_load", 5_000, 200),
    ],
}
SCENARIO_NAMES = [s.name for s in SCALES["full"]]


def pool_limit(dagster_yaml: Path = ROOT / "dagster.yaml") -> int:
    """The facebook_api pool's size: the most accounts whose API steps may run at once."""
    config = yaml.safe_load(dagster_yaml.read_text()) or {}
    return int(((config.get("concurrency") or {}).get("pools") or {}).get("default_limit", 1))


def report_dates(days: int, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The range's first and last report date; the last is complete in every time zone."""
    last = (today or dt.datetime.now(dt.UTC).date()) - dt.timedelta(days=2)
    return last - dt.timedelta(days=days - 1), last


# ---- running work in a process pool -------------------------------------------------------


def _pool(workers: int) -> concurrent.futures.ProcessPoolExecutor:
    # forkserver: every task gets a fresh process (its own peak RSS) forked from a server that
    # imported Dagster and the project once, so the ~3 s import of a Dagster run process is
    # paid once, not per account, and no fork ever copies a parent with threads.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["benchmarks.graph_worker", "benchmarks.transform_load"])
    return concurrent.futures.ProcessPoolExecutor(
        max_workers=workers, mp_context=context, max_tasks_per_child=1
    )


def run_in_pool(work: Sequence[Any], workers: int, task: Callable[[Any], Any]) -> list[Any]:
    """``task`` over ``work``, at most ``workers`` at once; raises the first failure.

    A worker that hit its memory cap ends with exit code 70 (see memory.py); the error says so.
    """
    with _pool(workers) as pool:
        try:
            return list(pool.map(task, work))
        except concurrent.futures.process.BrokenProcessPool as error:
            raise ScenarioFailed(
                "a worker process died; if its log (in the work directory) says 'over the "
                f"... MB cap', it outgrew the memory cap ({error})"
            ) from None


class ScenarioFailed(RuntimeError):
    """A scenario could not finish; the run reports it and goes on with the next."""


def memory_cap_mb(concurrent_workers: int) -> float:
    """Each worker's share of three quarters of the memory available now."""
    return 0.75 * psutil.virtual_memory().available / 2**20 / max(1, concurrent_workers)


def max_overlap(reports: Sequence[AccountReport]) -> int:
    """The most account runs that were in progress at the same moment."""
    edges = sorted(
        [(r.started, 1) for r in reports] + [(r.finished, -1) for r in reports],
        key=lambda edge: (edge[0], edge[1]),
    )
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


# ---- counting calls from the sandbox -------------------------------------------------------


@dataclass(frozen=True)
class CallCount:
    extraction: int
    overhead: int
    batch_envelopes: int
    by_endpoint: dict[str, int]
    throttle_errors: int
    report_rows_by_account: dict[str, int]
    rows_served: int

    @property
    def total(self) -> int:
        return self.extraction + self.overhead


def count_calls(before: dict[str, Any], after: dict[str, Any]) -> CallCount:
    """The calls made between two counter snapshots, split into extraction and overhead."""
    requests = after["requests"][len(before["requests"]) :]
    by_endpoint = Counter(f"{r['method']} {r['endpoint']}" for r in requests)
    envelopes = by_endpoint.pop(BATCH_ENVELOPE, 0)
    extraction = sum(n for e, n in by_endpoint.items() if e in EXTRACTION_ENDPOINTS)
    rows_by_account: Counter[str] = Counter()
    for r in requests:
        if f"{r['method']} {r['endpoint']}" == REPORT_PAGES and "rows" in r:
            rows_by_account[str(r["account"])] += int(r["rows"])
    return CallCount(
        extraction=extraction,
        overhead=sum(by_endpoint.values()) - extraction,
        batch_envelopes=envelopes,
        by_endpoint=dict(sorted(by_endpoint.items())),
        throttle_errors=sum(1 for r in requests if r.get("code") in THROTTLE_CODES),
        report_rows_by_account=dict(rows_by_account),
        rows_served=int(after["rows"]) - int(before["rows"]),
    )


# ---- the API scenarios ---------------------------------------------------------------------


def run_api_scenario(scenario: ApiScenario, workdir: Path, workers: int) -> dict[str, Any]:
    knobs = scenario.knobs()
    database = str(workdir / f"{scenario.name}.duckdb")
    first, last = report_dates(scenario.days)
    log = workdir / f"{scenario.name}-sandbox.log"
    with sandbox_process(knobs, log_path=log) as sandbox:
        # Every run of a scenario shares one Dagster instance, as in a deployment: the objects
        # and insights runs read what the runs before them recorded (the token verdict of the
        # accounts run, the job time of the last report), which throwaway instances per worker
        # would hide.
        home = shared_dagster_home(workdir / f"{scenario.name}-dagster-home")
        base = AccountWork(
            database, sandbox.base_url, SANDBOX_TOKEN, "", first, last, dagster_home=str(home)
        )
        if scenario.with_metadata:
            before, started = sandbox.counters(), time.time()
            account_ids = _accounts(base, workdir / f"{scenario.name}-accounts.log")
        else:
            account_ids = _prepare_metadata(base, workdir / f"{scenario.name}-setup", workers)
            before, started = sandbox.counters(), time.time()
        cap = memory_cap_mb(min(workers, len(account_ids)))
        work = [
            replace(
                base,
                account_id=account_id,
                with_objects=scenario.with_metadata,
                memory_cap_mb=cap,
                log_path=str(workdir / f"{scenario.name}-{account_id}.log"),
            )
            for account_id in account_ids
        ]
        reports = run_in_pool(work, workers, run_account)
        wall = max(r.finished for r in reports) - started
        after = sandbox.counters()
        sandbox_rss = sandbox.rss_mb()
    calls = count_calls(before, after)
    return _api_result(scenario, knobs, reports, calls, wall, workers, sandbox_rss)


def _accounts(base: AccountWork, log: Path) -> list[str]:
    (account_ids,) = run_in_pool([replace(base, log_path=str(log))], 1, run_accounts_job)
    return account_ids


def _prepare_metadata(base: AccountWork, log_prefix: Path, workers: int) -> list[str]:
    """Accounts and objects, as the morning's runs leave them; not part of the measurement."""
    account_ids = _accounts(base, Path(f"{log_prefix}-accounts.log"))
    work = [replace(base, account_id=a, log_path=f"{log_prefix}-{a}.log") for a in account_ids]
    run_in_pool(work, workers, run_objects)
    return account_ids


def _rows_per_range(calls: CallCount, reports: Sequence[AccountReport]) -> tuple[list[int], str]:
    """Rows each account's report held, from the sandbox when its counters say so."""
    if calls.report_rows_by_account:
        return list(calls.report_rows_by_account.values()), "sandbox"
    # Known gap: the sandbox's per-request log has no row counts yet, so the rows are taken
    # from what landed in ad_insights_raw (every API row, untouched) instead.
    return [r.rows_written for r in reports], "warehouse"


def _api_result(
    scenario: ApiScenario,
    knobs: SandboxKnobs,
    reports: Sequence[AccountReport],
    calls: CallCount,
    wall: float,
    workers: int,
    sandbox_rss: float,
) -> dict[str, Any]:
    rows_per_range, rows_source = _rows_per_range(calls, reports)
    least = minimum.async_reports(rows_per_range, knobs.max_page_size)
    if scenario.with_metadata:
        least += minimum.object_lists(_objects_per_edge(knobs), knobs.max_page_size)
    rows = sum(rows_per_range)
    biggest = max(reports, key=lambda r: r.peak_rss_mb)
    return {
        "scenario": scenario.name,
        "accounts": scenario.accounts,
        "days": scenario.days,
        "ads": scenario.ads_per_account,
        "api_calls": calls.total,
        "min_api_calls": least.total,
        "wall_s": round(wall, 2),
        "rows": rows,
        "rows_per_s": round(rows / wall, 1) if wall > 0 else 0.0,
        "peak_rss_mb": round(biggest.peak_rss_mb, 1),
        "extraction_calls": calls.extraction,
        "overhead_calls": calls.overhead,
        "batch_envelopes": calls.batch_envelopes,
        "calls_by_endpoint": calls.by_endpoint,
        "min_calls_by_kind": least.as_dict(),
        "rows_source": rows_source,
        "rows_served_all_endpoints": calls.rows_served,
        "throttle_waits": sum(int(r.client.get("api_throttle_waits", 0)) for r in reports),
        "throttle_wait_s": sum(
            float(r.client.get("api_throttle_wait_seconds", 0)) for r in reports
        ),
        "sandbox_throttle_errors": calls.throttle_errors,
        "client_api_calls": sum(int(r.client.get("api_calls", 0)) for r in reports),
        "baseline_rss_mb": round(biggest.baseline_rss_mb, 1),
        "final_frame_mb": round(max(r.final_frame_mb for r in reports), 2),
        "sandbox_rss_mb": round(sandbox_rss, 1),
        "pool_limit": workers,
        "max_concurrent_accounts": max_overlap(reports),
        "latency_ms": knobs.latency_ms,
        "async_job_seconds": knobs.async_job_seconds,
        "page_size": knobs.max_page_size,
    }


def _objects_per_edge(knobs: SandboxKnobs) -> dict[str, int]:
    """Objects each edge lists, by the sandbox's own world shape (one creative per ad)."""
    campaigns = knobs.campaigns_per_account
    adsets = campaigns * knobs.adsets_per_campaign
    ads = adsets * knobs.ads_per_adset
    edges = {"adaccounts": knobs.accounts}
    for index in range(knobs.accounts):
        edges |= {
            f"{index}/campaigns": campaigns,
            f"{index}/adsets": adsets,
            f"{index}/ads": ads,
            f"{index}/adcreatives": ads,
        }
    return edges


# ---- transform and load ----------------------------------------------------------------------


def run_transform_scenario(scenario: TransformScenario, workdir: Path) -> dict[str, Any]:
    campaigns, adsets, ads = _object_shape(scenario.ads_per_day)
    knobs = SandboxKnobs(
        accounts=1,
        campaigns_per_account=campaigns,
        adsets_per_campaign=adsets,
        ads_per_adset=ads,
        history_days=30,
        **TINY_LATENCY,  # type: ignore[arg-type]
    )
    _first, last = report_dates(1)
    with sandbox_process(knobs, log_path=workdir / f"{scenario.name}-sandbox.log") as sandbox:
        account_id, sample = fetch_sample(sandbox.base_url, SANDBOX_TOKEN, last)
    task = TransformTask(
        database=str(workdir / f"{scenario.name}.duckdb"),
        account_id=account_id,
        sample_rows=sample,
        rows=scenario.rows,
        last=last,
        memory_cap_mb=memory_cap_mb(1),
        log_path=str(workdir / f"{scenario.name}.log"),
    )
    # One step after the other, each in a fresh process, as production's multiprocess executor
    # runs them; the API scenarios measure the local in-process executor, one process a run.
    report = combine_steps(
        [
            run_in_pool([StepTask(task, step)], 1, run_transform_step)[0]
            for step in (*STEPS, FINAL_FRAME_STEP)
        ]
    )
    return {
        "scenario": scenario.name,
        "accounts": 1,
        "days": report.days,
        "ads": scenario.ads_per_day,
        "ads_with_delivery_per_day": len(sample),
        "api_calls": 0,
        "min_api_calls": 0,
        "wall_s": round(report.wall_s, 2),
        "rows": report.rows,
        "rows_per_s": round(report.rows / report.wall_s, 1),
        "peak_rss_mb": round(report.peak_rss_mb, 1),
        "extraction_calls": 0,
        "overhead_calls": 0,
        "load_s": round(report.load_s, 2),
        "parse_s": round(report.parse_s, 2),
        "write_s": round(report.write_s, 2),
        "typed_rows": report.typed_rows,
        "conversion_rows": report.conversion_rows,
        "baseline_rss_mb": round(report.baseline_rss_mb, 1),
        "final_frame_mb": round(report.raw_frame_mb, 2),
        "peak_step": report.peak_step,
    }


def failed_result(scenario: ApiScenario | TransformScenario, error: str) -> dict[str, Any]:
    """A row that keeps the JSON's shape and says why the scenario has no figures."""
    is_api = isinstance(scenario, ApiScenario)
    return {
        "scenario": scenario.name,
        "accounts": scenario.accounts if is_api else 1,
        "days": scenario.days if is_api else 0,
        "ads": scenario.ads_per_account if is_api else scenario.ads_per_day,
        "api_calls": 0,
        "min_api_calls": 0,
        "wall_s": 0.0,
        "rows": 0,
        "rows_per_s": 0.0,
        "peak_rss_mb": 0.0,
        "extraction_calls": 0,
        "overhead_calls": 0,
        "error": error,
    }

"""One account's runs through the real asset graph, in a process of its own.

Each call below runs in a fresh worker process (the pool gives every account its own process,
as Dagster's run launcher gives every run its own), so its peak RSS is the run's own. All
workers write one shared DuckDB file, as a user's runs do; the warehouse's file lock makes
them take turns, and that wait is part of the measured time. A scenario's workers also share
one Dagster instance (``shared_dagster_home``), as a deployment's runs do.

Runs go through ``dg.execute_job`` on the code location's own definitions
(``fbads_assets.definitions``, configured by the same environment variables a user sets), as
a run worker executes them. Not ``execute_in_process``, which the tests use: it keeps every
step's output in memory for its result object, so a year's raw frame would stay resident
through the whole run and the memory figures would measure the test harness.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from benchmarks.memory import peak_rss_mb, rss_mb, start_memory_guard
from benchmarks.output import send_output_to
from fbads_assets.defs.schedules import range_tags
from fbads_assets.partitions import ACCOUNT_PARTITIONS_NAME
from fbads_assets.warehouse.duckdb import locked_connection


@dataclass(frozen=True)
class AccountWork:
    """What one worker does for one account: optionally the objects, then the insights."""

    database: str
    graph_url: str
    token: str
    account_id: str
    first: dt.date
    last: dt.date
    with_objects: bool = False
    memory_cap_mb: float = 0.0
    # Dagster logs every event to the console; the worker sends its output here instead.
    log_path: str | None = None
    # A Dagster instance all the scenario's runs share (see shared_dagster_home); None: each
    # worker has a throwaway instance of its own.
    dagster_home: str | None = None


@dataclass
class AccountReport:
    account_id: str
    started: float
    finished: float
    baseline_rss_mb: float
    peak_rss_mb: float
    final_frame_mb: float
    rows_written: int
    client: dict[str, Any] = field(default_factory=dict)


def deployment_job(job_name: str) -> dg.JobDefinition:
    """A job of the code location, built from this process's settings, as a run worker loads it."""
    from fbads_assets.definitions import build_definitions
    from fbads_assets.settings import load_settings

    return build_definitions(load_settings()).resolve_job_def(job_name)


@dataclass
class DeploymentRunner:
    """Launches the code location's jobs on one instance, each run as a run worker executes it."""

    instance: dg.DagsterInstance

    def run(self, job_name: str, tags: dict[str, str]) -> dg.ExecuteJobResult:
        # Only the job's name goes into the run's stored origin; the token stays in the
        # environment, as FACEBOOK_ACCESS_TOKEN does in a deployment.
        job = dg.build_reconstructable_job(__name__, deployment_job.__name__, (job_name,))
        with dg.execute_job(job, self.instance, tags=tags, raise_on_error=True) as result:
            return result

    def accounts(self) -> list[str]:
        self.run("ad_accounts_job", {})
        return sorted(self.instance.get_dynamic_partitions(ACCOUNT_PARTITIONS_NAME))

    def objects(self, account_id: str) -> dg.ExecuteJobResult:
        return self.run("account_objects_job", {"dagster/partition": account_id})

    def insights(self, account_id: str, first: dt.date, last: dt.date) -> dg.ExecuteJobResult:
        return self.run("insights_job", range_tags(account_id, first, last))


def _configure_environment(work: AccountWork) -> None:
    """The settings a user would export, pointed at the scenario's sandbox and DuckDB file."""
    os.environ["FACEBOOK_ACCESS_TOKEN"] = work.token
    os.environ["FBADS_GRAPH_URL"] = work.graph_url
    os.environ["FBADS_DUCKDB_PATH"] = work.database


def shared_dagster_home(path: Path) -> Path:
    """An empty Dagster home for one scenario's runs, as a deployment's DAGSTER_HOME.

    A deployment has one instance (sqlite here, Postgres in production) that every run reads
    and writes; what one run records there, the next one reads: the morning's token verdict,
    the last report's job time, the account partitions. Emptied first, so a kept work
    directory never lends a scenario the history of an earlier benchmark.
    """
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    (path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return path


@contextlib.contextmanager
def _instance(work: AccountWork) -> Iterator[dg.DagsterInstance]:
    if work.dagster_home:
        with dg.DagsterInstance.from_config(work.dagster_home) as shared:
            yield shared
        return
    with (
        tempfile.TemporaryDirectory() as home,
        dg.instance_for_test(temp_dir=home) as instance,
    ):
        yield instance


def run_accounts_job(work: AccountWork) -> list[str]:
    """The ad_accounts job (accounts and token health) into the shared file; the account ids."""
    send_output_to(work.log_path)
    _configure_environment(work)
    with _instance(work) as instance:
        return DeploymentRunner(instance).accounts()


@contextlib.contextmanager
def _account_runner(work: AccountWork) -> Iterator[DeploymentRunner]:
    _configure_environment(work)
    with _instance(work) as instance:
        if not work.dagster_home:
            # A worker with its own Dagster instance: the partition that the ad_accounts run
            # added to its own instance is added here, as that run would have added it.
            instance.add_dynamic_partitions(ACCOUNT_PARTITIONS_NAME, [work.account_id])
        yield DeploymentRunner(instance)


def run_objects(work: AccountWork) -> AccountReport:
    """The account's objects job alone: the morning refresh that precedes the insights."""
    start_memory_guard(work.memory_cap_mb or math.inf)
    send_output_to(work.log_path)
    with _account_runner(work) as runner:
        started = time.time()
        runner.objects(work.account_id)
        finished = time.time()
    return AccountReport(work.account_id, started, finished, rss_mb(), peak_rss_mb(), 0.0, 0)


def run_account(work: AccountWork) -> AccountReport:
    """The account's runs, timed, with this process's memory before and at its peak."""
    start_memory_guard(work.memory_cap_mb or math.inf)
    send_output_to(work.log_path)
    baseline = rss_mb()
    with _account_runner(work) as runner:
        started = time.time()
        if work.with_objects:
            runner.objects(work.account_id)
        result = runner.insights(work.account_id, work.first, work.last)
        finished = time.time()
    peak = peak_rss_mb()
    rows, frame_mb = _final_frame(work)
    return AccountReport(
        account_id=work.account_id,
        started=started,
        finished=finished,
        baseline_rss_mb=baseline,
        peak_rss_mb=peak,
        final_frame_mb=frame_mb,
        rows_written=rows,
        client=_client_costs(result),
    )


def _client_costs(result: dg.ExecuteJobResult) -> dict[str, Any]:
    """The client's own accounting, from ad_insights_raw's materialization metadata."""
    for materialization in result.asset_materializations_for_node("ad_insights_raw"):
        return {
            key.removeprefix("api/"): getattr(value, "value", value)
            for key, value in materialization.metadata.items()
            if key.startswith("api/")
        }
    return {}


def _final_frame(work: AccountWork) -> tuple[int, float]:
    """Rows and in-memory size of the range's ad_insights_raw frame, as the run held it."""
    with locked_connection(work.database) as connection:
        frame = connection.execute(
            "SELECT * FROM facebook_ads.ad_insights_raw "
            "WHERE account_id = ? AND date_start BETWEEN ? AND ?",
            [work.account_id, work.first, work.last],
        ).df()
    return len(frame), float(frame.memory_usage(deep=True).sum()) / 2**20

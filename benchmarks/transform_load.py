"""Transform and load alone: the raw frame → DuckDB → typed Arrow tables → DuckDB.

No API call is timed here. One day of real ad-level rows is read from the sandbox once, then
repeated over consecutive report dates until the raw frame holds the wanted number of rows:
the rows are the sandbox's own JSON, only their dates differ. The timed part is what the
insights job does with a range once the API has answered, through the project's IO manager
(one transaction each, under the file lock): replace the range in ad_insights_raw, read it back
as Arrow as the typed assets do, parse it into ad_insights_daily and ad_conversions_daily, and
replace the range in both.
"""

from __future__ import annotations

import datetime as dt
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa

from benchmarks.memory import peak_rss_mb, rss_mb, start_memory_guard
from benchmarks.output import send_output_to
from fbads_assets.api.client import MarketingApiClient
from fbads_assets.defs.fields import ATTRIBUTION_WINDOWS, INSIGHTS_FIELDS
from fbads_assets.partitions import account_partitions, date_account_partitions, partition_key
from fbads_assets.transform.insights import (
    conversions_daily_table,
    insights_daily_table,
    raw_frame,
)
from fbads_assets.warehouse.duckdb import DuckDBWarehouseIOManager


@dataclass(frozen=True)
class TransformTask:
    database: str
    account_id: str
    sample_rows: list[dict]
    rows: int
    last: dt.date
    memory_cap_mb: float = 0.0
    log_path: str | None = None


@dataclass(frozen=True)
class TransformReport:
    rows: int
    days: int
    wall_s: float
    load_s: float
    parse_s: float
    write_s: float
    typed_rows: int
    conversion_rows: int
    baseline_rss_mb: float
    peak_rss_mb: float
    raw_frame_mb: float


def fetch_sample(base_url: str, token: str, day: dt.date) -> tuple[str, list[dict]]:
    """One day of ad-level insights of the sandbox's first account, as the insights job asks."""
    client = MarketingApiClient(token, graph_url=base_url)
    try:
        account_id = str(client.list_ad_accounts(["account_id"])[0]["account_id"])
        result = client.insights(
            account_id,
            day,
            day,
            level="ad",
            fields=INSIGHTS_FIELDS,
            action_attribution_windows=ATTRIBUTION_WINDOWS,
            use_async=False,
        )
    finally:
        client.close()
    if not result.rows:
        raise RuntimeError(f"The sandbox served no insights rows for {day}; pick another day.")
    return account_id, result.rows


def tiled_raw_frame(task: TransformTask) -> pd.DataFrame:
    """``task.rows`` raw rows: the sample repeated over the days that end on ``task.last``."""
    sample = raw_frame(
        task.account_id,
        task.sample_rows,
        fingerprint="benchmark",
        api_version="v26.0",
        fetched_at=dt.datetime.now(dt.UTC),
    )
    original = str(sample["date_start"].iloc[0])
    days = math.ceil(task.rows / len(sample))
    copies = []
    for offset in range(days):
        day = (task.last - dt.timedelta(days=days - 1 - offset)).isoformat()
        copy = sample.copy()
        copy["date_start"] = day
        # The day appears in the JSON as date_start and date_stop; both move with the copy.
        copy["row_json"] = copy["row_json"].str.replace(original, day, regex=False)
        copies.append(copy)
    frame = pd.concat(copies, ignore_index=True).iloc[: task.rows]
    frame["date_start"] = pd.to_datetime(frame["date_start"]).dt.date
    return frame.reset_index(drop=True)


def run_transform_load(task: TransformTask) -> TransformReport:
    """Runs in a fresh worker process, so that its peak RSS is this step's own."""
    start_memory_guard(task.memory_cap_mb or math.inf)
    send_output_to(task.log_path)
    baseline = rss_mb()
    raw = tiled_raw_frame(task)
    raw_mb = float(raw.memory_usage(deep=True).sum()) / 2**20
    first, last = min(raw["date_start"]), max(raw["date_start"])

    with tempfile.TemporaryDirectory() as home, dg.instance_for_test(temp_dir=home) as instance:
        instance.add_dynamic_partitions(account_partitions.name, [task.account_id])
        io_manager = DuckDBWarehouseIOManager(database=task.database).create_io_manager(None)
        contexts = {
            name: _output_context(instance, name, task.account_id, first, last)
            for name in ("ad_insights_raw", "ad_insights_daily", "ad_conversions_daily")
        }
        started = time.perf_counter()
        io_manager.handle_output(contexts["ad_insights_raw"], raw)
        raw_written = time.perf_counter()
        loaded = io_manager.load_input(_arrow_input_context(instance, contexts["ad_insights_raw"]))
        raw_loaded = time.perf_counter()
        daily = insights_daily_table(loaded)
        conversions = conversions_daily_table(loaded)
        parsed = time.perf_counter()
        io_manager.handle_output(contexts["ad_insights_daily"], daily)
        io_manager.handle_output(contexts["ad_conversions_daily"], conversions)
        finished = time.perf_counter()
    return TransformReport(
        rows=len(raw),
        days=(last - first).days + 1,
        wall_s=finished - started,
        load_s=raw_loaded - raw_written,
        parse_s=parsed - raw_loaded,
        write_s=(raw_written - started) + (finished - parsed),
        typed_rows=len(daily),
        conversion_rows=len(conversions),
        baseline_rss_mb=baseline,
        peak_rss_mb=peak_rss_mb(),
        raw_frame_mb=raw_mb,
    )


def _arrow_input_context(
    instance: dg.DagsterInstance, upstream: dg.OutputContext
) -> dg.InputContext:
    """The input context of a typed insights asset reading ``upstream``'s range as Arrow."""
    return dg.build_input_context(
        upstream_output=upstream,
        asset_key=upstream.asset_key,
        asset_partitions_def=date_account_partitions,
        asset_partition_key_range=upstream.asset_partition_key_range,
        dagster_type=dg.PythonObjectDagsterType(pa.Table),
        instance=instance,
    )


def _output_context(
    instance: dg.DagsterInstance, asset: str, account_id: str, first: dt.date, last: dt.date
) -> dg.OutputContext:
    """The output context of a ranged insights run over ``first..last`` for one account."""
    return dg.build_output_context(
        asset_key=dg.AssetKey(asset),
        asset_partitions_def=date_account_partitions,
        asset_partition_key_range=dg.PartitionKeyRange(
            str(partition_key(account_id, first)), str(partition_key(account_id, last))
        ),
        instance=instance,
    )


def database_path(workdir: Path) -> str:
    return str(workdir / "transform_load.duckdb")

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
import pyarrow as pa
import pyarrow.compute as pc

from benchmarks.memory import peak_rss_mb, rss_mb, start_memory_guard
from benchmarks.output import send_output_to
from fbads_assets.api.client import MarketingApiClient
from fbads_assets.defs.fields import ATTRIBUTION_WINDOWS, INSIGHTS_FIELDS
from fbads_assets.partitions import account_partitions, date_account_partitions, partition_key
from fbads_assets.transform.insights import (
    conversions_daily_table,
    insights_daily_table,
    raw_table,
)
from fbads_assets.warehouse.duckdb import DuckDBWarehouseIOManager
from fbads_assets.warehouse.frames import frame_from_arrow
from fbads_assets.warehouse.tables import AD_INSIGHTS_RAW


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


def tiled_raw_table(task: TransformTask) -> pa.Table:
    """``task.rows`` raw rows: the sample repeated over the days that end on ``task.last``.

    Built as Arrow, as ad_insights_raw builds it, so that building it costs no more memory
    than the table itself and the step's peak stays the step's own.
    """
    sample = raw_table(
        task.account_id,
        task.sample_rows,
        fingerprint="benchmark",
        api_version="v26.0",
        fetched_at=dt.datetime.now(dt.UTC),
    )
    original = sample["date_start"][0].as_py().isoformat()
    days = math.ceil(task.rows / sample.num_rows)
    copies = []
    for offset in range(days):
        day = task.last - dt.timedelta(days=days - 1 - offset)
        copy = sample.set_column(
            sample.column_names.index("date_start"),
            "date_start",
            pa.array([day] * sample.num_rows, pa.date32()),
        )
        # The day appears in the JSON as date_start and date_stop; both move with the copy.
        json_at = sample.column_names.index("row_json")
        moved = pc.replace_substring(sample["row_json"], original, day.isoformat())
        copies.append(copy.set_column(json_at, "row_json", moved))
    return pa.concat_tables(copies).slice(0, task.rows)


def run_transform_load(task: TransformTask) -> TransformReport:
    """Runs in a fresh worker process, so that its peak RSS is this step's own."""
    start_memory_guard(task.memory_cap_mb or math.inf)
    send_output_to(task.log_path)
    baseline = rss_mb()
    raw = tiled_raw_table(task)
    rows = raw.num_rows
    first, last = (pc.min_max(raw["date_start"])[bound].as_py() for bound in ("min", "max"))

    with tempfile.TemporaryDirectory() as home, dg.instance_for_test(temp_dir=home) as instance:
        instance.add_dynamic_partitions(account_partitions.name, [task.account_id])
        io_manager = DuckDBWarehouseIOManager(database=task.database).create_io_manager(None)
        contexts = {
            name: _output_context(instance, name, task.account_id, first, last)
            for name in ("ad_insights_raw", "ad_insights_daily", "ad_conversions_daily")
        }
        started = time.perf_counter()
        io_manager.handle_output(contexts["ad_insights_raw"], raw)
        # The raw step ends here and its table with it, as in a run.
        del raw
        raw_written = time.perf_counter()
        loaded = io_manager.load_input(_arrow_input_context(instance, contexts["ad_insights_raw"]))
        raw_loaded = time.perf_counter()
        daily = insights_daily_table(loaded)
        conversions = conversions_daily_table(loaded)
        parsed = time.perf_counter()
        io_manager.handle_output(contexts["ad_insights_daily"], daily)
        io_manager.handle_output(contexts["ad_conversions_daily"], conversions)
        finished = time.perf_counter()
    peak = peak_rss_mb()
    # The final frame as the other scenarios measure it: the raw range as a pandas frame.
    raw_mb = float(frame_from_arrow(loaded, AD_INSIGHTS_RAW).memory_usage(deep=True).sum() / 2**20)
    return TransformReport(
        rows=rows,
        days=(last - first).days + 1,
        wall_s=finished - started,
        load_s=raw_loaded - raw_written,
        parse_s=parsed - raw_loaded,
        write_s=(raw_written - started) + (finished - parsed),
        typed_rows=daily.num_rows,
        conversion_rows=conversions.num_rows,
        baseline_rss_mb=baseline,
        peak_rss_mb=peak,
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

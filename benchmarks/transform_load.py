"""Transform and load alone: the raw frame → DuckDB → typed Arrow tables → DuckDB.

No API call is timed here. One day of real ad-level rows is read from the sandbox once, then
repeated over consecutive report dates until the raw frame holds the wanted number of rows:
the rows are the sandbox's own JSON, only their dates differ. The timed part is what the
insights job does with a range once the API has answered, through the project's IO manager
(one transaction each, under the file lock): replace the range in ad_insights_raw; then, as
each of the two typed assets does in a step of its own, read the range back as Arrow, build
ad_insights_daily (or ad_conversions_daily) and replace the range in it.
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
    peak_step: str


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


# The insights job's steps after the API has answered, in order. Each runs in a fresh process,
# as Dagster's default executor runs every step in a process of its own: memory one step frees
# (to its allocator, which keeps it) is not counted again in the next step's peak.
STEPS = ("ad_insights_raw", "ad_insights_daily", "ad_conversions_daily")
TRANSFORMS = {
    "ad_insights_daily": insights_daily_table,
    "ad_conversions_daily": conversions_daily_table,
}
# Not timed: reads the raw range back as the pandas frame that the memory target compares with.
FINAL_FRAME_STEP = "final_frame"


@dataclass(frozen=True)
class StepTask:
    task: TransformTask
    step: str


@dataclass(frozen=True)
class StepReport:
    step: str
    rows: int
    first: dt.date
    last: dt.date
    load_s: float
    parse_s: float
    write_s: float
    baseline_rss_mb: float
    peak_rss_mb: float
    frame_mb: float = 0.0


def run_transform_step(work: StepTask) -> StepReport:
    """One step of the insights job, in a fresh worker process: its peak RSS is its own."""
    task, step = work.task, work.step
    start_memory_guard(task.memory_cap_mb or math.inf)
    send_output_to(task.log_path)
    baseline = rss_mb()
    with tempfile.TemporaryDirectory() as home, dg.instance_for_test(temp_dir=home) as instance:
        instance.add_dynamic_partitions(account_partitions.name, [task.account_id])
        io_manager = DuckDBWarehouseIOManager(database=task.database).create_io_manager(None)
        if step == "ad_insights_raw":
            # Built as the raw step builds its table, before its write; not timed.
            raw = tiled_raw_table(task)
            first, last = (pc.min_max(raw["date_start"])[b].as_py() for b in ("min", "max"))
            started = time.perf_counter()
            io_manager.handle_output(_output_context(instance, step, task, first, last), raw)
            written_s = time.perf_counter() - started
            return StepReport(
                step, raw.num_rows, first, last, load_s=0.0, parse_s=0.0, write_s=written_s,
                baseline_rss_mb=baseline, peak_rss_mb=peak_rss_mb(),
            )  # fmt: skip

        first, last = _raw_range(task)
        raw_context = _output_context(instance, "ad_insights_raw", task, first, last)
        started = time.perf_counter()
        loaded = io_manager.load_input(_arrow_input_context(instance, raw_context))
        loaded_at = time.perf_counter()
        if step == FINAL_FRAME_STEP:
            frame = frame_from_arrow(loaded, AD_INSIGHTS_RAW)
            frame_mb = float(frame.memory_usage(deep=True).sum() / 2**20)
            return StepReport(
                step, len(frame), first, last, load_s=0.0, parse_s=0.0, write_s=0.0,
                baseline_rss_mb=baseline, peak_rss_mb=0.0, frame_mb=frame_mb,
            )  # fmt: skip
        table = TRANSFORMS[step](loaded)
        transformed_at = time.perf_counter()
        io_manager.handle_output(_output_context(instance, step, task, first, last), table)
        return StepReport(
            step,
            table.num_rows,
            first,
            last,
            load_s=loaded_at - started,
            parse_s=transformed_at - loaded_at,
            write_s=time.perf_counter() - transformed_at,
            baseline_rss_mb=baseline,
            peak_rss_mb=peak_rss_mb(),
        )


def combine_steps(steps: list[StepReport]) -> TransformReport:
    """The scenario's figures: times add up over the steps; memory is the largest step's."""
    by_step = {s.step: s for s in steps}
    timed = [s for s in steps if s.step in STEPS]
    largest = max(timed, key=lambda s: s.peak_rss_mb - s.baseline_rss_mb)
    raw = by_step["ad_insights_raw"]
    return TransformReport(
        rows=raw.rows,
        days=(raw.last - raw.first).days + 1,
        wall_s=sum(s.load_s + s.parse_s + s.write_s for s in timed),
        load_s=sum(s.load_s for s in timed),
        parse_s=sum(s.parse_s for s in timed),
        write_s=sum(s.write_s for s in timed),
        typed_rows=by_step["ad_insights_daily"].rows,
        conversion_rows=by_step["ad_conversions_daily"].rows,
        baseline_rss_mb=largest.baseline_rss_mb,
        peak_rss_mb=largest.peak_rss_mb,
        raw_frame_mb=by_step[FINAL_FRAME_STEP].frame_mb,
        peak_step=largest.step,
    )


def _raw_range(task: TransformTask) -> tuple[dt.date, dt.date]:
    """The report dates the raw step wrote, as a typed step's partition range knows them."""
    days = math.ceil(task.rows / len(task.sample_rows))
    return task.last - dt.timedelta(days=days - 1), task.last


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
    instance: dg.DagsterInstance, asset: str, task: TransformTask, first: dt.date, last: dt.date
) -> dg.OutputContext:
    """The output context of a ranged insights run over ``first..last`` for one account."""
    return dg.build_output_context(
        asset_key=dg.AssetKey(asset),
        asset_partitions_def=date_account_partitions,
        asset_partition_key_range=dg.PartitionKeyRange(
            str(partition_key(task.account_id, first)), str(partition_key(task.account_id, last))
        ),
        instance=instance,
    )


def database_path(workdir: Path) -> str:
    return str(workdir / "transform_load.duckdb")

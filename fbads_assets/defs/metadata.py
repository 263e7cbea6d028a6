"""Run metadata every materialization carries: what it wrote and what it cost.

Numbers go in as plain ints and floats so the UI plots them over partitions and time.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from fbads_assets.warehouse.frames import Frame

PREVIEW_ROWS = 10


def preview(frame: Frame, rows: int = PREVIEW_ROWS) -> dg.MetadataValue:
    """A Markdown table of the first rows, as shown on the asset page."""
    if not len(frame):
        return dg.MetadataValue.md("_no rows_")
    head = frame.slice(0, rows).to_pandas() if isinstance(frame, pa.Table) else frame.head(rows)
    return dg.MetadataValue.md(head.to_markdown(index=False))


def delivery_totals(frame: Frame) -> dict[str, Any]:
    """rows, spend and impressions of a frame that has those columns."""
    totals: dict[str, Any] = {"rows": len(frame)}
    if "spend" in _column_names(frame):
        totals["spend"] = round(_sum(frame, "spend"), 2)
    if "impressions" in _column_names(frame):
        totals["impressions"] = int(_sum(frame, "impressions"))
    return totals


def _column_names(frame: Frame) -> list[str]:
    return frame.column_names if isinstance(frame, pa.Table) else list(frame.columns)


def _sum(frame: Frame, column: str) -> float:
    if isinstance(frame, pa.Table):
        return float(pc.sum(frame[column]).as_py() or 0)
    return float(frame[column].fillna(0).sum())


def cost_metadata(client) -> dict[str, Any]:
    """API calls, async jobs and throttle waits of this step, from the client's accounting."""
    return {f"api/{key}": value for key, value in client.stats.as_metadata().items()}


def add_per_day_metadata(
    context: dg.AssetExecutionContext,
    frame: Frame,
    account_id: str,
    dates: list,
    date_column: str,
) -> None:
    """Rows, spend and impressions for each date partition of a ranged run.

    A ranged run records one materialization per day; without this every day would show the
    range's totals and the per-partition plots would be wrong.
    """
    by_day = _totals_by_day(frame, date_column)
    nothing = delivery_totals(frame[0:0])
    for day in dates:
        key = dg.MultiPartitionKey({"account": account_id, "date": day.isoformat()})
        context.add_asset_metadata(by_day.get(day, nothing), partition_key=key)


def _totals_by_day(frame: Frame, date_column: str) -> dict[Any, dict[str, Any]]:
    if not len(frame):
        return {}
    if isinstance(frame, pd.DataFrame):
        days = pd.to_datetime(frame[date_column]).dt.date
        return {day: delivery_totals(part) for day, part in frame.groupby(days)}
    # Arrow: one hash aggregate instead of a frame per day.
    sums = [name for name in ("spend", "impressions") if name in frame.column_names]
    grouped = frame.group_by(date_column).aggregate(
        [([], "count_all"), *((name, "sum") for name in sums)]
    )
    totals: dict[Any, dict[str, Any]] = {}
    for row in grouped.to_pylist():
        day_totals: dict[str, Any] = {"rows": row["count_all"]}
        if "spend" in sums:
            day_totals["spend"] = round(float(row["spend_sum"] or 0), 2)
        if "impressions" in sums:
            day_totals["impressions"] = int(row["impressions_sum"] or 0)
        totals[pd.Timestamp(row[date_column]).date()] = day_totals
    return totals

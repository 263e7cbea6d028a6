"""Run metadata every materialization carries: what it wrote and what it cost.

Numbers go in as plain ints and floats so the UI plots them over partitions and time.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
import pandas as pd

PREVIEW_ROWS = 10


def preview(frame: pd.DataFrame, rows: int = PREVIEW_ROWS) -> dg.MetadataValue:
    """A Markdown table of the first rows, as shown on the asset page."""
    if frame.empty:
        return dg.MetadataValue.md("_no rows_")
    return dg.MetadataValue.md(frame.head(rows).to_markdown(index=False))


def delivery_totals(frame: pd.DataFrame) -> dict[str, Any]:
    """rows, spend and impressions of a frame that has those columns."""
    totals: dict[str, Any] = {"rows": len(frame)}
    if "spend" in frame:
        totals["spend"] = round(float(frame["spend"].fillna(0).sum()), 2)
    if "impressions" in frame:
        totals["impressions"] = int(frame["impressions"].fillna(0).sum())
    return totals


def cost_metadata(client) -> dict[str, Any]:
    """API calls, async jobs and throttle waits of this step, from the client's accounting."""
    return {f"api/{key}": value for key, value in client.stats.as_metadata().items()}


def add_per_day_metadata(
    context: dg.AssetExecutionContext,
    frame: pd.DataFrame,
    account_id: str,
    dates: list,
    date_column: str,
) -> None:
    """Rows, spend and impressions for each date partition of a ranged run.

    A ranged run records one materialization per day; without this every day would show the
    range's totals and the per-partition plots would be wrong.
    """
    by_day = {}
    if not frame.empty:
        days = pd.to_datetime(frame[date_column]).dt.date
        by_day = {day: part for day, part in frame.groupby(days)}
    for day in dates:
        part = by_day.get(day, frame.iloc[0:0])
        key = dg.MultiPartitionKey({"account": account_id, "date": day.isoformat()})
        context.add_asset_metadata(delivery_totals(part), partition_key=key)

"""Checks and dtypes for the frames that cross the warehouse boundary, for any engine.

The transforms hand the IO managers pandas frames; the IO managers hand loads back as frames of
the same shape. Both DuckDB and BigQuery writers refuse a frame here, before they touch a table:
a wrong column list is a contract bug, and a row outside the slice would survive the next
replace of its own slice as a duplicate.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import dagster as dg
import pandas as pd

from fbads_assets.warehouse.slices import TableSlice
from fbads_assets.warehouse.tables import Table

# pandas dtypes per logical type, as the transforms produce them and as loads return them.
PANDAS_DTYPES = {
    "string": "object",
    "int": "Int64",
    "float": "float64",
    "money": "float64",
    "date": "datetime64[ns]",
    "timestamp": "datetime64[ns, UTC]",
    "bool": "boolean",
}


class FrameError(ValueError):
    """A frame does not fit its table or its slice; the message names both and the fix."""


def check_columns(frame: pd.DataFrame, table: Table) -> None:
    """The frame must carry exactly the table's columns (order does not matter)."""
    expected = table.column_names
    actual = [str(c) for c in frame.columns]
    missing = [c for c in expected if c not in actual]
    extra = [c for c in actual if c not in expected]
    duplicated = sorted({c for c in actual if actual.count(c) > 1})
    if not (missing or extra or duplicated):
        return
    problems = []
    if missing:
        problems.append(f"missing {', '.join(missing)}")
    if extra:
        problems.append(f"unexpected {', '.join(extra)}")
    if duplicated:
        problems.append(f"duplicated {', '.join(duplicated)}")
    raise FrameError(
        f"The frame for table {table.name} does not match warehouse/tables.py: "
        f"{'; '.join(problems)}. Return exactly the columns tables.py lists for {table.name}."
    )


def check_rows_in_slice(frame: pd.DataFrame, table_slice: TableSlice) -> None:
    """Every row must belong to the accounts and report dates this output replaces."""
    table = table_slice.table
    if frame.empty:
        return

    if table_slice.account_ids is not None and table.account_column is not None:
        # unique() first: a million rows usually hold a single account id.
        found_ids = {
            "a null account" if pd.isna(a) else str(a)
            for a in pd.unique(frame[table.account_column])
        }
        outside = sorted(found_ids - set(table_slice.account_ids))
        if outside:
            found = ", ".join(outside[:5])
            raise FrameError(
                f"{table_slice.describe()}: the frame has rows for {found}, outside the "
                "partition being written. Filter the frame to the run's account; rows of other "
                "accounts would be duplicated by their own partition's next write."
            )

    slice_first, slice_last = table_slice.first_date, table_slice.last_date
    if slice_first is not None and slice_last is not None and table.date_column is not None:
        first, last = _date_bounds(frame[table.date_column], table_slice)
        if first < slice_first or last > slice_last:
            raise FrameError(
                f"{table_slice.describe()}: the frame has {table.date_column} from {first} to "
                f"{last}, outside the partition range being written. Filter the frame to the "
                "run's dates (context.partition_time_window)."
            )


def check_primary_key(frame: pd.DataFrame, table: Table) -> None:
    """No two rows may share a primary key.

    Unique within the frame is unique within the table: the slice's old rows are deleted first,
    and every key holds an id that belongs to one account (or the account and date themselves),
    so it cannot meet a row of another slice.
    """
    key = list(table.primary_key)
    duplicated = frame.duplicated(subset=key, keep=False)
    if not duplicated.any():
        return
    example = frame.loc[duplicated, key].iloc[0].to_dict()
    shown = ", ".join(f"{k}={v}" for k, v in example.items())
    raise FrameError(
        f"The frame for table {table.name} has {int(duplicated.sum())} rows that share a primary "
        f"key ({', '.join(key)}), e.g. {shown}. Each key must appear once: find why the transform "
        "produced the key twice and de-duplicate there."
    )


def _date_bounds(dates: pd.Series, table_slice: TableSlice) -> tuple[dt.date, dt.date]:
    # min/max instead of converting the column: O(n) comparisons work for both datetime64
    # columns and columns of datetime.date objects, and cost ~20 ms on a million rows.
    if dates.isna().any():
        raise FrameError(
            f"{table_slice.describe()}: {dates.name} is null in some rows; every row needs its "
            "report date."
        )
    return pd.Timestamp(dates.min()).date(), pd.Timestamp(dates.max()).date()


def empty_frame(table: Table) -> pd.DataFrame:
    """A frame with no rows and the table's columns, typed as loads return them."""
    return conform_dtypes(pd.DataFrame({c: [] for c in table.column_names}), table)


def conform_dtypes(frame: pd.DataFrame, table: Table) -> pd.DataFrame:
    """Give a loaded frame the pandas dtypes the transforms use, whatever the engine returned.

    DuckDB returns dates as datetime64[us], BIGINT without nulls as int64 and an empty BOOLEAN
    column as bool; downstream code should not have to know which engine it reads.
    """
    converted = {}
    for column in table.columns:
        target = PANDAS_DTYPES[column.type]
        values = frame[column.name]
        if column.type == "string":
            converted[column.name] = values.astype("object").where(values.notna(), None)
        elif column.type == "timestamp":
            converted[column.name] = pd.to_datetime(values, utc=True).astype(target)
        else:
            converted[column.name] = values.astype(target)
    return pd.DataFrame(converted, columns=table.column_names, index=frame.index)


def output_metadata(
    context: dg.OutputContext, ref: str, table: Table, rows: int, storage_kind: str
) -> dict[str, Any]:
    """Metadata every warehouse write records, whichever engine holds the table."""
    if not context.has_asset_partitions:
        counts: dict[str, Any] = {"dagster/row_count": rows}
    elif len(context.asset_partition_keys) == 1:
        counts = {"dagster/partition_row_count": rows}
    else:
        # Dagster 1.13 copies one output's metadata onto every partition of a ranged run, so
        # the range's total gets its own names rather than posing as a per-day count.
        counts = {"rows_in_run": rows, "partitions_in_run": len(context.asset_partition_keys)}
    return {
        **counts,
        "dagster/table_name": ref,
        "dagster/column_schema": table.table_schema(),
        "dagster/storage_kind": storage_kind,
    }

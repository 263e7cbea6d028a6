"""Which rows an asset output replaces, or an input reads: its table slice.

Both warehouse writers (DuckDB and BigQuery) replace exactly one slice per output in one
transaction: the whole table for unpartitioned assets, some accounts for account-partitioned
ones, and one account's date range for date × account assets (a ranged run covers one account;
see ``partitions.py``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import dagster as dg

from fbads_assets.partitions import ACCOUNT_DIMENSION, DATE_DIMENSION
from fbads_assets.warehouse.tables import TABLES, Table


@dataclass(frozen=True)
class TableSlice:
    table: Table
    # None: every account. Otherwise the account ids (digits) the slice covers.
    account_ids: tuple[str, ...] | None = None
    # None: every date. Otherwise the first and last report date, both included.
    first_date: dt.date | None = None
    last_date: dt.date | None = None

    @property
    def dates(self) -> list[dt.date]:
        if self.first_date is None or self.last_date is None:
            return []
        days = (self.last_date - self.first_date).days + 1
        return [self.first_date + dt.timedelta(days=i) for i in range(days)]

    def describe(self) -> str:
        parts = [self.table.name]
        if self.account_ids is not None:
            parts.append(f"account {', '.join(self.account_ids)}")
        if self.first_date is not None:
            parts.append(f"{self.first_date}..{self.last_date}")
        return " ".join(parts)


def table_for(asset_key: dg.AssetKey) -> Table:
    name = asset_key.path[-1]
    if name not in TABLES:
        raise KeyError(f"Asset {asset_key.to_user_string()} has no table in warehouse/tables.py")
    return TABLES[name]


def slice_for(context: dg.OutputContext | dg.InputContext) -> TableSlice:
    """The slice of the asset's table that this output writes or this input reads."""
    table = table_for(context.asset_key)
    if not context.has_asset_partitions:
        return TableSlice(table)

    partitions_def = context.asset_partitions_def
    keys = list(context.asset_partition_keys)
    if isinstance(partitions_def, dg.MultiPartitionsDefinition):
        accounts = sorted(
            {
                partitions_def.get_partition_key_from_str(k).keys_by_dimension[ACCOUNT_DIMENSION]
                for k in keys
            }
        )
        dates = sorted(
            {
                partitions_def.get_partition_key_from_str(k).keys_by_dimension[DATE_DIMENSION]
                for k in keys
            }
        )
        first, last = dt.date.fromisoformat(dates[0]), dt.date.fromisoformat(dates[-1])
        expected = (last - first).days + 1
        if len(accounts) != 1 or len(dates) != expected:
            # Replacing a rectangle that is not exactly what the run computed would delete
            # rows nobody re-wrote. Backfills with BackfillPolicy.single_run() never do this.
            raise ValueError(
                f"{table.name}: a run must cover one account and a contiguous date range, got "
                f"{len(accounts)} accounts and {len(dates)} dates between {first} and {last}. "
                "Launch one run per account (the UI's backfill does this)."
            )
        return TableSlice(table, tuple(accounts), first, last)

    if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
        dates = sorted(keys)
        return TableSlice(
            table, None, dt.date.fromisoformat(dates[0]), dt.date.fromisoformat(dates[-1])
        )

    # Account-partitioned snapshot tables (campaigns, ad sets, ads, creatives).
    return TableSlice(table, tuple(sorted(keys)))


def read_slice_for(context: dg.InputContext) -> TableSlice:
    """The slice an input reads: like ``slice_for``, but it may span several accounts.

    A downstream asset can map many account partitions onto one of its own (for example a
    daily roll-up over every account). The read then covers each of those accounts over the
    whole date range: a rectangle, which holds more than the exact keys only if the accounts'
    date ranges differ, and a write never covers more than one account anyway.
    """
    partitions_def = context.asset_partitions_def if context.has_asset_partitions else None
    if isinstance(partitions_def, dg.MultiPartitionsDefinition):
        keys = [
            partitions_def.get_partition_key_from_str(k).keys_by_dimension
            for k in context.asset_partition_keys
        ]
        accounts = sorted({k[ACCOUNT_DIMENSION] for k in keys})
        if len(accounts) > 1:
            dates = sorted(k[DATE_DIMENSION] for k in keys)
            return TableSlice(
                table_for(context.asset_key),
                tuple(accounts),
                dt.date.fromisoformat(dates[0]),
                dt.date.fromisoformat(dates[-1]),
            )
    return slice_for(context)

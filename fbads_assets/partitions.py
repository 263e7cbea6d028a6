"""Partitions: ad accounts (dynamic) and report dates, crossed for insights-type assets.

Report dates are days in each ad account's own time zone, but one DailyPartitionsDefinition has
one time zone. It uses the westernmost zone on Earth (UTC-12), so a date only becomes a
partition once that day has ended everywhere: every partition is a complete day for every
account, and "Latest" in the UI never fetches a half-finished day.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from fbads_assets.settings import load_settings

ACCOUNT_DIMENSION = "account"
DATE_DIMENSION = "date"
# Etc/GMT+12 is UTC-12 (the POSIX sign is inverted).
PARTITION_TIMEZONE = "Etc/GMT+12"

ACCOUNT_PARTITIONS_NAME = "ad_account"
account_partitions = dg.DynamicPartitionsDefinition(name=ACCOUNT_PARTITIONS_NAME)


def build_date_partitions() -> dg.DailyPartitionsDefinition:
    settings = load_settings()
    return dg.DailyPartitionsDefinition(
        start_date=settings.start_date.isoformat(),
        timezone=PARTITION_TIMEZONE,
        end_offset=0,
    )


date_partitions = build_date_partitions()

date_account_partitions = dg.MultiPartitionsDefinition(
    {DATE_DIMENSION: date_partitions, ACCOUNT_DIMENSION: account_partitions}
)


def split_key(partition_key: str | dg.MultiPartitionKey) -> tuple[str, str]:
    """``"123|2026-11-30"`` → ``("123", "2026-11-30")`` (account, date).

    Works for the plain strings that direct invocation gives as well as MultiPartitionKey.
    """
    keys = date_account_partitions.get_partition_key_from_str(str(partition_key))
    by_dim = keys.keys_by_dimension
    return by_dim[ACCOUNT_DIMENSION], by_dim[DATE_DIMENSION]


def run_scope(partition_keys: list[str]) -> tuple[str, list[dt.date]]:
    """The one account and the contiguous dates a run covers, from its partition keys.

    A ranged run asks the API once for the whole range, so it must be one account; Dagster's
    backfills split ranges per account (BackfillPolicy.single_run()).
    """
    pairs = [split_key(key) for key in partition_keys]
    accounts = {account for account, _ in pairs}
    if len(accounts) != 1:
        raise ValueError(
            f"A run must cover one ad account, got {len(accounts)}: {sorted(accounts)}. "
            "Launch one run per account; the UI's backfill does this for you."
        )
    dates = sorted({dt.date.fromisoformat(day) for _, day in pairs})
    return accounts.pop(), dates


def partition_key(account_id: str, day: dt.date | str) -> dg.MultiPartitionKey:
    day_str = day if isinstance(day, str) else day.isoformat()
    return dg.MultiPartitionKey({ACCOUNT_DIMENSION: account_id, DATE_DIMENSION: day_str})

"""What every asset of the graph shares: groups, kinds, freshness and the storage kind."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from fbads_assets.settings import load_settings
from fbads_assets.warehouse.tables import TABLES

STORAGE_KIND = "bigquery" if load_settings().is_prod else "duckdb"
API_KINDS = {"facebook", STORAGE_KIND}
WAREHOUSE_KINDS = {"pandas", STORAGE_KIND}

ACCOUNTS_GROUP = "facebook_ads_accounts"
INSIGHTS_GROUP = "facebook_ads_insights"
MART_GROUP = "facebook_ads_mart"

# Metadata and insights refresh once a day (see schedules.py): warn after 26 hours without a
# materialization, fail after 30. The policy only sees the last materialization of any
# partition, so a missing yesterday is caught by the latest-date check in checks.py instead.
DAILY_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=dt.timedelta(hours=30), warn_window=dt.timedelta(hours=26)
)

# Steps that call the Marketing API share one pool, so parallel runs for many accounts stay
# within the app's rate limits; dagster.yaml sets its size.
API_POOL = "facebook_api"


def utc_now() -> dt.datetime:
    """The current time; tests of time-dependent checks replace this function."""
    return dt.datetime.now(dt.UTC)


def table_metadata(table_name: str) -> dict:
    """Definition metadata: the column schema and table name shown before any run."""
    table = TABLES[table_name]
    return {
        "dagster/column_schema": table.table_schema(),
        "dagster/table_name": f"facebook_ads.{table.name}",
        "primary_key": ", ".join(table.primary_key),
    }

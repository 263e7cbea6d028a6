"""Daily ad insights: the raw landing table, its typed tables, and the reconciliation.

Only ``ad_insights_raw`` calls the API: one async report per run over the run's whole date
range with ``time_increment=1``. The typed tables are parsed from the raw table, so they can be
rebuilt at any time without spending rate limit.
"""

from typing import Any

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from fbads_assets.defs.common import (
    API_KINDS,
    API_POOL,
    DAILY_FRESHNESS,
    INSIGHTS_GROUP,
    WAREHOUSE_KINDS,
    table_metadata,
    utc_now,
)
from fbads_assets.defs.fields import ACCOUNT_TOTAL_FIELDS, ATTRIBUTION_WINDOWS, INSIGHTS_FIELDS
from fbads_assets.defs.metadata import (
    add_per_day_metadata,
    cost_metadata,
    preview,
)
from fbads_assets.defs.reconciliation import reconcile
from fbads_assets.defs.report_timing import previous_report, report_timing_metadata
from fbads_assets.partitions import ACCOUNT_DIMENSION, date_account_partitions, run_scope
from fbads_assets.resources import FacebookAdsResource
from fbads_assets.transform.insights import (
    conversions_daily_table,
    insights_daily_table,
    raw_rows,
    raw_table,
)

RECONCILIATION_CHECK = "reconciles_with_account_totals"

INSIGHTS_ASSET_ARGS: dict[str, Any] = dict(
    partitions_def=date_account_partitions,
    # A backfill becomes one run per account over its whole range: one async report instead
    # of one per day.
    backfill_policy=dg.BackfillPolicy.single_run(),
    freshness_policy=DAILY_FRESHNESS,
)


@dg.asset(
    group_name=INSIGHTS_GROUP,
    kinds=API_KINDS,
    pool=API_POOL,
    deps=[
        dg.AssetDep(
            "ads",
            partition_mapping=dg.MultiToSingleDimensionPartitionMapping(
                partition_dimension_name=ACCOUNT_DIMENSION
            ),
        )
    ],
    metadata=table_metadata("ad_insights_raw"),
    check_specs=[
        dg.AssetCheckSpec(
            RECONCILIATION_CHECK,
            asset="ad_insights_raw",
            blocking=True,
            description=(
                "For every day of the run, the sum of ad-level spend, impressions and clicks "
                "equals the API's own account-level totals to the cent. Fails (and stops the "
                "typed tables and the mart) when rows are missing or doubled."
            ),
        )
    ],
    **INSIGHTS_ASSET_ARGS,
)
def ad_insights_raw(context: dg.AssetExecutionContext, facebook: FacebookAdsResource):
    """Ad-level daily insights rows as the API sent them (redacted JSON), one report per run."""
    account_id, dates = run_scope(context.partition_keys)
    client = facebook.get_client()

    report = client.insights(
        account_id,
        dates[0],
        dates[-1],
        level="ad",
        fields=INSIGHTS_FIELDS,
        action_attribution_windows=ATTRIBUTION_WINDOWS,
        time_increment=1,
        # The first status read waits about as long as the last such report took.
        previous=previous_report(context.instance, account_id, dates),
        # Each page becomes Arrow (redacted JSON text) as it arrives: a year of rows held as
        # dicts would cost several times the raw table's size.
        keep_rows=raw_rows,
    )
    raw = raw_table(
        account_id,
        report.rows,
        fingerprint=report.fingerprint,
        api_version=report.api_version,
        fetched_at=utc_now(),
    )

    # One light synchronous request: the account's own daily totals, for reconciliation.
    totals = client.insights(
        account_id,
        dates[0],
        dates[-1],
        level="account",
        fields=ACCOUNT_TOTAL_FIELDS,
        time_increment=1,
        use_async=False,
    )
    mismatches = _reconcile_range(context, raw, totals.rows, account_id, dates)
    context.log.info(
        f"Account {account_id}, {dates[0]}..{dates[-1]}: {len(raw)} rows from "
        f"{report.jobs} async job(s); {client.stats.total_calls} API calls, "
        f"{client.stats.throttle_wait_seconds:.0f} s throttled; "
        f"{len(mismatches)} reconciliation mismatches."
    )
    run_metadata = {
        "days": len(dates),
        "range_rows": len(raw),
        "request_fingerprint": report.fingerprint,
        "api_version": report.api_version,
        "preview": preview(raw.drop_columns(["row_json"])),
        **report_timing_metadata(report),
        **cost_metadata(client),
    }
    yield dg.Output(raw, metadata=run_metadata)
    yield dg.AssetCheckResult(
        check_name=RECONCILIATION_CHECK,
        passed=mismatches.empty,
        description=(
            f"{len(dates)} days reconciled with the account totals."
            if mismatches.empty
            else f"{len(mismatches)} day/metric pairs differ from Meta's account totals."
        ),
        metadata={
            "days_checked": len(dates),
            "mismatches": len(mismatches),
            "details": preview(mismatches, rows=20),
        },
    )


def _reconcile_range(
    context: dg.AssetExecutionContext,
    raw: pa.Table,
    account_rows: list[dict],
    account_id: str,
    dates: list,
) -> pd.DataFrame:
    """The reconciliation's mismatches, and each day's totals as its partition's metadata.

    A function of its own so that the range's typed metrics are freed before the raw range is
    written: the write is the raw step's own peak of memory.
    """
    daily = insights_daily_table(raw)
    add_per_day_metadata(context, daily, account_id, dates, "date_start")
    compared = daily.select(["date_start", "spend", "impressions", "clicks"]).to_pandas()
    return reconcile(compared, account_rows, dates)


@dg.asset(
    group_name=INSIGHTS_GROUP,
    kinds=WAREHOUSE_KINDS,
    metadata=table_metadata("ad_insights_daily"),
    **INSIGHTS_ASSET_ARGS,
)
def ad_insights_daily(context: dg.AssetExecutionContext, ad_insights_raw: pa.Table) -> pa.Table:
    """Typed daily metrics per ad (impressions, reach, clicks, spend, ratios), from raw."""
    # Arrow in and out: a range's raw JSON is ~1 KB a row, and as pandas objects it would cost
    # several times its size in memory and a conversion each way.
    account_id, dates = run_scope(context.partition_keys)
    frame = insights_daily_table(ad_insights_raw)
    add_per_day_metadata(context, frame, account_id, dates, "date_start")
    context.add_output_metadata({"range_rows": len(frame), "preview": preview(frame)})
    return frame


@dg.asset(
    group_name=INSIGHTS_GROUP,
    kinds=WAREHOUSE_KINDS,
    metadata=table_metadata("ad_conversions_daily"),
    **INSIGHTS_ASSET_ARGS,
)
def ad_conversions_daily(context: dg.AssetExecutionContext, ad_insights_raw: pa.Table) -> pa.Table:
    """Actions and action values per ad, day, action type and attribution window (long form)."""
    frame = conversions_daily_table(ad_insights_raw)
    windows = sorted(_distinct(frame, "attribution_window"))
    context.add_output_metadata(
        {
            "range_rows": len(frame),
            "action_types": len(_distinct(frame, "action_type")),
            "attribution_windows": ", ".join(windows) or "none",
            "preview": preview(frame),
        }
    )
    return frame


def _distinct(table: pa.Table, column: str) -> list[str]:
    values = pc.unique(table[column].combine_chunks())
    if isinstance(values, pa.DictionaryArray):
        values = values.dictionary.take(values.indices)
    return [value for value in values.to_pylist() if value is not None]


INSIGHTS_ASSETS = [ad_insights_raw, ad_insights_daily, ad_conversions_daily]

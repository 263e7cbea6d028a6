"""Data-quality checks over the warehouse: keys, references, sanity, and the latest date.

Every check reads the warehouse through the ``warehouse`` resource (DuckDB or BigQuery), with
SQL both engines accept. Primary keys block downstream assets; the rest warn, because Meta's
metadata can lag its insights by a few hours.
"""

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg

from fbads_assets.defs.accounts import account_metadata_from_instance, token_usable_for_this_run
from fbads_assets.defs.common import utc_now
from fbads_assets.defs.metadata import preview
from fbads_assets.partitions import ACCOUNT_PARTITIONS_NAME, date_partitions, partition_key
from fbads_assets.warehouse.protocol import Warehouse
from fbads_assets.warehouse.tables import TABLES, Table

NON_NEGATIVE = ("impressions", "reach", "clicks", "inline_link_clicks", "spend")
SAMPLE_ROWS = 10


def build_primary_key_check(table: Table) -> dg.AssetChecksDefinition:
    keys = ", ".join(table.primary_key)

    @dg.asset_check(
        asset=table.name,
        name="primary_key_unique",
        blocking=True,
        description=f"No two rows share ({keys}); blocks downstream assets when violated.",
    )
    def _check(warehouse: dg.ResourceParam[Warehouse]) -> dg.AssetCheckResult:
        ref = warehouse.table_ref(table.name)
        # One pass over the table: the sample and, on each of its rows, how many keys repeat.
        duplicates = warehouse.query(
            f"SELECT {keys}, copies, COUNT(*) OVER () AS duplicated_keys FROM ("
            f"SELECT {keys}, COUNT(*) AS copies FROM {ref} GROUP BY {keys} HAVING COUNT(*) > 1"
            f") AS d ORDER BY copies DESC LIMIT {SAMPLE_ROWS}"
        )
        count = int(duplicates["duplicated_keys"].iloc[0]) if len(duplicates) else 0
        return dg.AssetCheckResult(
            passed=count == 0,
            description=f"{count} duplicated keys ({keys}).",
            metadata={
                "duplicated_keys": count,
                "sample": preview(duplicates.drop(columns=["duplicated_keys"])),
            },
        )

    return _check


def build_foreign_key_check(table: Table) -> dg.AssetChecksDefinition:
    parents = sorted({ref_table for ref_table, _ in table.foreign_keys.values()})

    @dg.asset_check(
        asset=table.name,
        name="foreign_keys_resolve",
        additional_deps=parents,
        description=(
            "Every "
            + ", ".join(
                f"{col} exists in {rt}.{rc}" for col, (rt, rc) in table.foreign_keys.items()
            )
            + ". Warns only: object metadata refreshes once a day and can lag new ads."
        ),
    )
    def _check(warehouse: dg.ResourceParam[Warehouse]) -> dg.AssetCheckResult:
        orphans = {}
        for column, (ref_table, ref_column) in table.foreign_keys.items():
            if not warehouse.table_exists(ref_table):
                orphans[column] = -1
                continue
            result = warehouse.query(
                f"SELECT COUNT(*) AS n FROM {warehouse.table_ref(table.name)} AS c "
                f"LEFT JOIN {warehouse.table_ref(ref_table)} AS p "
                f"ON c.{column} = p.{ref_column} "
                f"WHERE c.{column} IS NOT NULL AND p.{ref_column} IS NULL"
            )
            orphans[column] = int(result.iloc[0, 0])
        bad = {col: n for col, n in orphans.items() if n != 0}
        return dg.AssetCheckResult(
            passed=not bad,
            severity=dg.AssetCheckSeverity.WARN,
            description=(
                "All references resolve."
                if not bad
                else "Unresolved references (-1: parent table missing): "
                + ", ".join(f"{col}: {n}" for col, n in bad.items())
            ),
            metadata={f"orphans/{col}": n for col, n in orphans.items()},
        )

    return _check


@dg.asset_check(
    asset="ad_insights_daily",
    name="metrics_are_plausible",
    description="Metrics are never negative and clicks never exceed impressions (warns).",
)
def metrics_are_plausible(warehouse: dg.ResourceParam[Warehouse]) -> dg.AssetCheckResult:
    ref = warehouse.table_ref("ad_insights_daily")
    negative = " OR ".join(f"{col} < 0" for col in NON_NEGATIVE)
    result = warehouse.query(
        f"SELECT SUM(CASE WHEN {negative} THEN 1 ELSE 0 END) AS negative_rows, "
        f"SUM(CASE WHEN clicks > impressions THEN 1 ELSE 0 END) AS clicks_over_impressions "
        f"FROM {ref}"
    )
    negative_rows = int(result["negative_rows"].fillna(0).iloc[0])
    clicks_over = int(result["clicks_over_impressions"].fillna(0).iloc[0])
    return dg.AssetCheckResult(
        passed=negative_rows == 0 and clicks_over == 0,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{negative_rows} rows with negative metrics; {clicks_over} with clicks > "
        "impressions.",
        metadata={"negative_rows": negative_rows, "clicks_over_impressions": clicks_over},
    )


def expected_latest_date(timezone: str, now: dt.datetime) -> dt.date:
    """The account's yesterday, but never past the last complete date partition."""
    local_yesterday = now.astimezone(ZoneInfo(timezone)).date() - dt.timedelta(days=1)
    keys = date_partitions.get_partition_keys(current_time=now)
    last_partition = dt.date.fromisoformat(keys[-1]) if keys else local_yesterday
    return min(local_yesterday, last_partition)


@dg.asset_check(
    asset="ad_insights_daily",
    name="latest_date_present",
    description=(
        "Every active account has its latest complete day (its yesterday) materialized. The "
        "freshness policy alone cannot see a missing yesterday once older days re-sync."
    ),
)
def latest_date_present(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    now = utc_now()
    accounts = account_metadata_from_instance(context.instance)
    registered = set(context.instance.get_dynamic_partitions(ACCOUNT_PARTITIONS_NAME))
    materialized = {
        str(key)
        for key in context.instance.get_materialized_partitions(dg.AssetKey("ad_insights_daily"))
    }
    missing = []
    for account_id, info in sorted(accounts.items()):
        if account_id not in registered or info["status"] != "ACTIVE":
            continue
        expected = expected_latest_date(info["timezone"], now)
        if str(partition_key(account_id, expected)) not in materialized:
            missing.append(f"{account_id} ({expected})")
    return dg.AssetCheckResult(
        passed=not missing,
        description=(
            "Every active account has its latest day."
            if not missing
            else f"Missing latest day for: {', '.join(missing)}. Check the daily re-sync runs."
        ),
        metadata={"accounts_checked": len(accounts), "accounts_missing": len(missing)},
    )


PRIMARY_KEY_CHECKS = [build_primary_key_check(table) for table in TABLES.values()]
FOREIGN_KEY_CHECKS = [build_foreign_key_check(t) for t in TABLES.values() if t.foreign_keys]
ALL_CHECKS = [
    *PRIMARY_KEY_CHECKS,
    *FOREIGN_KEY_CHECKS,
    metrics_are_plausible,
    latest_date_present,
    token_usable_for_this_run,
]

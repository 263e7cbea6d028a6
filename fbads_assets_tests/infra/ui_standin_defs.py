"""A stand-in code location with the real graph's shape, for developing the UI tests.

Same asset keys and partitions as ``fbads_assets.definitions`` (account dynamic partitions,
date × account for insights-type assets, single-run backfills), but the bodies only record
metadata: no API, no warehouse. The UI tests point at it only while the real code location
does not exist yet; see ``dagster_ui.code_location_target``.
"""

# No `from __future__ import annotations` here: Dagster rejects the string annotation
# "dg.AssetExecutionContext" on an asset's context parameter.
import dagster as dg

from fbads_assets.partitions import (
    ACCOUNT_DIMENSION,
    account_partitions,
    date_account_partitions,
)

STANDIN_ACCOUNT_IDS = ("1001", "1002")
GROUP = "facebook_ads"

_by_account = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name=ACCOUNT_DIMENSION)


@dg.asset(group_name=GROUP, kinds={"facebook"})
def ad_accounts(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """The ad accounts the token reads; registers one account partition each."""
    context.instance.add_dynamic_partitions(account_partitions.name, list(STANDIN_ACCOUNT_IDS))
    return dg.MaterializeResult(metadata={"dagster/row_count": len(STANDIN_ACCOUNT_IDS)})


def _account_snapshot(name: str, upstream: str, description: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=name,
        deps=[upstream],
        partitions_def=account_partitions,
        group_name=GROUP,
        kinds={"facebook"},
        description=description,
    )
    def _snapshot() -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"dagster/row_count": 3})

    return _snapshot


campaigns = _account_snapshot("campaigns", "ad_accounts", "Campaigns of one ad account.")
ad_sets = _account_snapshot("ad_sets", "campaigns", "Ad sets of one ad account.")
ads = _account_snapshot("ads", "ad_sets", "Ads of one ad account.")


def _insights(
    name: str, upstream: list[dg.AssetDep], description: str, checks: list[dg.AssetCheckSpec]
) -> dg.AssetsDefinition:
    @dg.asset(
        name=name,
        deps=upstream,
        check_specs=checks,
        partitions_def=date_account_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name=GROUP,
        kinds={"duckdb"},
        description=description,
    )
    def _daily(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        days = len(context.partition_keys)
        context.log.info("stand-in %s: %d partition(s)", name, days)
        return dg.MaterializeResult(
            metadata={"dagster/row_count": days},
            check_results=[dg.AssetCheckResult(check_name=c.name, passed=True) for c in checks],
        )

    return _daily


ad_insights_raw = _insights(
    "ad_insights_raw",
    [dg.AssetDep("ads", partition_mapping=_by_account)],
    "Insights rows as the Marketing API sent them, one partition per account and day.",
    [
        dg.AssetCheckSpec(
            "reconciles_with_account_totals",
            asset="ad_insights_raw",
            blocking=True,
            description="Ad-level sums equal the account totals.",
        )
    ],
)
ad_insights_daily = _insights(
    "ad_insights_daily", [dg.AssetDep("ad_insights_raw")], "Typed daily metrics per ad.", []
)
ad_conversions_daily = _insights(
    "ad_conversions_daily", [dg.AssetDep("ad_insights_raw")], "Actions per ad and day.", []
)
facebook_ads_campaign_daily = _insights(
    "facebook_ads_campaign_daily",
    [dg.AssetDep("ad_insights_daily"), dg.AssetDep("ad_conversions_daily")],
    "The campaign mart: spend, clicks and conversions per campaign and day.",
    [],
)
INSIGHTS = [ad_insights_raw, ad_insights_daily, ad_conversions_daily, facebook_ads_campaign_daily]

defs = dg.Definitions(
    assets=[ad_accounts, campaigns, ad_sets, ads, *INSIGHTS],
    jobs=[
        dg.define_asset_job("ad_accounts_job", selection=[ad_accounts]),
        dg.define_asset_job("insights_job", selection=INSIGHTS),
    ],
)

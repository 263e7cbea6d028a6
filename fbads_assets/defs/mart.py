"""The campaign daily mart: what analysts query first."""

import os

import dagster as dg
import pandas as pd
import pyarrow as pa
from pydantic import Field

from fbads_assets.defs.common import MART_GROUP, WAREHOUSE_KINDS, table_metadata
from fbads_assets.defs.insights import INSIGHTS_ASSET_ARGS
from fbads_assets.defs.metadata import add_per_day_metadata, delivery_totals, preview
from fbads_assets.partitions import run_scope
from fbads_assets.transform.insights import DEFAULT_WINDOW
from fbads_assets.transform.mart import (
    CONVERSION_COLUMNS,
    DEFAULT_CONVERSION_ACTION_TYPES,
    campaign_daily_frame,
)


def default_conversion_action_types() -> list[str]:
    """FBADS_CONVERSION_ACTION_TYPES (comma list), else purchases and leads."""
    raw = os.environ.get("FBADS_CONVERSION_ACTION_TYPES", "")
    chosen = [part.strip() for part in raw.split(",") if part.strip()]
    return chosen or list(DEFAULT_CONVERSION_ACTION_TYPES)


class CampaignDailyConfig(dg.Config):
    conversion_action_types: list[str] = Field(
        default_factory=default_conversion_action_types,
        description=(
            "Action types counted as conversions, under each ad set's default attribution "
            "setting. Default: purchase and lead, or FBADS_CONVERSION_ACTION_TYPES."
        ),
    )


@dg.asset(
    name="facebook_ads_campaign_daily",
    group_name=MART_GROUP,
    kinds=WAREHOUSE_KINDS,
    metadata=table_metadata("facebook_ads_campaign_daily"),
    ins={
        # Only the default window's rows and the columns the mart reads: a fraction of the long
        # table, read inside the warehouse instead of in this process.
        "ad_conversions_daily": dg.AssetIn(
            metadata={
                "columns": list(CONVERSION_COLUMNS),
                "rows_where": {"attribution_window": DEFAULT_WINDOW},
            }
        )
    },
    **INSIGHTS_ASSET_ARGS,
)
def facebook_ads_campaign_daily(
    context: dg.AssetExecutionContext,
    config: CampaignDailyConfig,
    ad_insights_daily: pa.Table,
    ad_conversions_daily: pa.Table,
) -> pd.DataFrame:
    """Per campaign and day: impressions, clicks, spend, conversions, value, CTR, CPC, CPM, ROAS."""
    account_id, dates = run_scope(context.partition_keys)
    frame = campaign_daily_frame(
        ad_insights_daily,
        ad_conversions_daily,
        conversion_action_types=tuple(config.conversion_action_types),
    )
    add_per_day_metadata(context, frame, account_id, dates, "report_date")
    totals = delivery_totals(frame)
    context.add_output_metadata(
        {
            "range_rows": len(frame),
            "range_spend": totals.get("spend", 0.0),
            "range_conversions": float(frame["conversions"].fillna(0).sum()) if len(frame) else 0.0,
            "conversion_action_types": ", ".join(config.conversion_action_types),
            "preview": preview(frame),
        }
    )
    return frame

"""The campaign daily mart: ad-level insights and conversions → one row per campaign and day.

Only additive metrics are summed (impressions, clicks, spend, actions, action values); the
ratios are recomputed from those sums. Reach and frequency are not in the mart: the API's reach
counts unique people per request, so ad-level reach summed over a campaign overcounts anyone
who saw two of its ads. A campaign-level reach needs its own request at that level.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import pandas as pd
import pyarrow as pa

from fbads_assets.transform.frames import conform
from fbads_assets.transform.insights import DEFAULT_WINDOW
from fbads_assets.transform.money import minor_unit_digits_sql
from fbads_assets.warehouse.frames import Frame
from fbads_assets.warehouse.tables import CAMPAIGN_DAILY

# What "conversions" means unless configured otherwise: purchases and leads, the outcomes of
# sales and lead-generation campaigns. Counted under each ad set's own (default) attribution
# setting, as Ads Manager shows them.
DEFAULT_CONVERSION_ACTION_TYPES = ("purchase", "lead")
# The columns of AD_CONVERSIONS_DAILY the mart reads.
CONVERSION_COLUMNS = (
    "campaign_id",
    "date_start",
    "action_type",
    "attribution_window",
    "actions",
    "action_value",
)


def campaign_daily_frame(
    daily: Frame,
    conversions: Frame,
    conversion_action_types: Sequence[str] = DEFAULT_CONVERSION_ACTION_TYPES,
) -> pd.DataFrame:
    """CAMPAIGN_DAILY from AD_INSIGHTS_DAILY and AD_CONVERSIONS_DAILY frames or Arrow tables.

    ``conversions`` needs only campaign_id, date_start, action_type, attribution_window,
    actions and action_value, and only the default window's rows count.

    A campaign-day with delivery but none of the conversion action types has 0 conversions
    and 0 conversion_value. Ratios are null where their divisor is 0.
    """
    if not len(daily):
        return conform(pd.DataFrame(), CAMPAIGN_DAILY)
    digits = minor_unit_digits_sql("currency")
    sql = f"""
        WITH delivery AS (
            SELECT campaign_id, date_start AS report_date,
                   any_value(account_id) AS account_id,
                   -- A campaign renamed during the day shows both names on its ads' rows.
                   max(campaign_name) AS campaign_name,
                   any_value(account_currency) AS currency,
                   sum(impressions) AS impressions, sum(clicks) AS clicks,
                   sum(spend) AS spend
            FROM daily
            GROUP BY campaign_id, date_start
        ),
        converted AS (
            SELECT campaign_id, date_start AS report_date,
                   sum(actions) AS conversions, sum(action_value) AS conversion_value
            FROM conversions
            WHERE attribution_window = '{DEFAULT_WINDOW}'
              AND list_contains($action_types, action_type)
            GROUP BY campaign_id, date_start
        ),
        summed AS (
            SELECT d.account_id, d.campaign_id, d.campaign_name, d.report_date, d.currency,
                   d.impressions, d.clicks, round(d.spend, {digits}) AS spend,
                   coalesce(c.conversions, 0) AS conversions,
                   round(coalesce(c.conversion_value, 0), {digits}) AS conversion_value
            FROM delivery AS d
            LEFT JOIN converted AS c USING (campaign_id, report_date)
        )
        SELECT *,
               CASE WHEN impressions > 0 THEN clicks * 100.0 / impressions END AS ctr,
               CASE WHEN clicks > 0 THEN spend / clicks END AS cpc,
               CASE WHEN impressions > 0 THEN spend * 1000.0 / impressions END AS cpm,
               CASE WHEN spend > 0 THEN conversion_value / spend END AS roas
        FROM summed
        ORDER BY report_date, campaign_id
    """
    with duckdb.connect() as connection:
        connection.register("daily", daily)
        connection.register("conversions", _conversion_columns(conversions))
        frame = connection.execute(sql, {"action_types": list(conversion_action_types)}).df()
    return conform(frame, CAMPAIGN_DAILY, currency=frame["currency"])


def _conversion_columns(conversions: Frame) -> Frame:
    columns = ["campaign_id", "date_start", "action_type", "attribution_window"]
    if isinstance(conversions, pa.Table):
        return conversions.select(list(CONVERSION_COLUMNS))
    # An empty conversions frame may arrive without columns (or with untyped object columns,
    # which DuckDB cannot infer a type for); give it the shape the query reads.
    if conversions.empty:
        return pd.DataFrame(
            {
                **{name: pd.Series([], dtype="object") for name in columns},
                "date_start": pd.Series([], dtype="datetime64[ns]"),
                "actions": pd.Series([], dtype="float64"),
                "action_value": pd.Series([], dtype="float64"),
            }
        )
    return conversions[[*columns, "actions", "action_value"]]

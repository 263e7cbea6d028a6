"""Insights rows → the raw landing frame → typed daily metrics and long-form conversions.

``raw_frame`` keeps each API row as redacted JSON text, so the typed tables can be rebuilt
from the warehouse alone, without another API call. ``insights_daily_frame`` and
``conversions_daily_frame`` parse that JSON inside an in-memory DuckDB: a million rows parse
in seconds there, where row-wise Python takes minutes.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence

import duckdb
import pandas as pd

from fbads_assets.api.redaction import redact_obj
from fbads_assets.transform.frames import conform
from fbads_assets.transform.objects import account_id_digits
from fbads_assets.warehouse.tables import AD_CONVERSIONS_DAILY, AD_INSIGHTS_DAILY, AD_INSIGHTS_RAW

# Per-window keys an action element can carry besides `value` (the ad set's default setting).
# 7d_view and 28d_view stopped being served on 2026-01-12; rows never carry them any more.
ATTRIBUTION_WINDOW_KEYS = ("1d_click", "7d_click", "28d_click", "1d_view", "1d_ev")
DEFAULT_WINDOW = "default"

# Every metric is a JSON string; reading them as VARCHAR and casting in SQL also accepts a
# number, should a proxy or the sandbox ever send one.
_DAILY_JSON_FIELDS = (
    "campaign_id",
    "adset_id",
    "ad_id",
    "ad_name",
    "adset_name",
    "campaign_name",
    "account_currency",
    "impressions",
    "reach",
    "frequency",
    "clicks",
    "inline_link_clicks",
    "spend",
    "ctr",
    "cpc",
    "cpm",
    "attribution_setting",
)
_ACTION_STATS = {"action_type": "VARCHAR", "value": "VARCHAR"} | {
    window: "VARCHAR" for window in ATTRIBUTION_WINDOW_KEYS
}
_CONVERSIONS_JSON_SHAPE = {
    "campaign_id": "VARCHAR",
    "adset_id": "VARCHAR",
    "account_currency": "VARCHAR",
    "actions": [_ACTION_STATS],
    "action_values": [_ACTION_STATS],
}


def raw_frame(
    account_id: str,
    rows: Sequence[Mapping],
    *,
    fingerprint: str,
    api_version: str,
    fetched_at: dt.datetime,
) -> pd.DataFrame:
    """AD_INSIGHTS_RAW: one row per API row, as redacted JSON, in a stable order.

    row_index numbers the rows of each report date in ad_id order, so re-fetching the same
    day gives the same keys whatever order the API paged them in.
    """
    ordered = sorted(rows, key=lambda row: (row.get("date_start") or "", row.get("ad_id") or ""))
    frame = pd.DataFrame(
        {
            "account_id": account_id_digits(account_id),
            "date_start": [row.get("date_start") for row in ordered],
            "ad_id": [row.get("ad_id") for row in ordered],
            "row_json": [_row_json(row) for row in ordered],
            "request_fingerprint": fingerprint,
            "api_version": api_version,
            "fetched_at": fetched_at,
        },
        index=pd.RangeIndex(len(ordered)),
    )
    frame["row_index"] = frame.groupby("date_start", sort=False).cumcount()
    return conform(frame, AD_INSIGHTS_RAW)


def _row_json(row: Mapping) -> str:
    # redact_obj drops `paging` (its next/previous URLs carry the token) and masks secrets.
    return json.dumps(redact_obj(row), ensure_ascii=False, separators=(",", ":"))


def insights_daily_frame(raw: pd.DataFrame) -> pd.DataFrame:
    """AD_INSIGHTS_DAILY: typed delivery metrics per ad and report date, parsed from raw."""
    if raw.empty:
        return conform(pd.DataFrame(), AD_INSIGHTS_DAILY)
    shape = json.dumps({field: "VARCHAR" for field in _DAILY_JSON_FIELDS})
    sql = f"""
        WITH parsed AS (
            SELECT ad_id, date_start, account_id, fetched_at,
                   from_json(row_json, '{shape}') AS r
            FROM raw
        )
        SELECT coalesce(ad_id, r.ad_id) AS ad_id, date_start, account_id,
               r.campaign_id, r.adset_id, r.ad_name, r.adset_name, r.campaign_name,
               r.account_currency,
               CAST(r.impressions AS BIGINT) AS impressions,
               CAST(r.reach AS BIGINT) AS reach,
               CAST(r.frequency AS DOUBLE) AS frequency,
               CAST(r.clicks AS BIGINT) AS clicks,
               CAST(r.inline_link_clicks AS BIGINT) AS inline_link_clicks,
               CAST(r.spend AS DOUBLE) AS spend,
               CAST(r.ctr AS DOUBLE) AS ctr,
               CAST(r.cpc AS DOUBLE) AS cpc,
               CAST(r.cpm AS DOUBLE) AS cpm,
               r.attribution_setting, fetched_at
        FROM parsed
    """
    frame = _run_on_raw(raw, sql)
    return conform(frame, AD_INSIGHTS_DAILY, currency=frame["account_currency"])


def conversions_daily_frame(raw: pd.DataFrame) -> pd.DataFrame:
    """AD_CONVERSIONS_DAILY: one row per ad, date, action type and attribution window.

    ``actions`` and ``action_values`` are matched on action type and window: an action with a
    count but no value has a null action_value, and a value without a count still gets a row.
    Elements of one action type are summed, which is only ever more than one element if
    action breakdowns besides action_type are requested.
    """
    if raw.empty:
        return conform(pd.DataFrame(), AD_CONVERSIONS_DAILY)
    shape = json.dumps(_CONVERSIONS_JSON_SHAPE)
    windows = ", ".join(f'"{key}"' for key in (DEFAULT_WINDOW, *ATTRIBUTION_WINDOW_KEYS))
    per_window = ", ".join(f'stat."{key}" AS "{key}"' for key in ATTRIBUTION_WINDOW_KEYS)
    sql = f"""
        WITH parsed AS (
            SELECT ad_id, date_start, account_id, fetched_at,
                   from_json(row_json, '{shape}') AS r
            FROM raw
            -- Rows without actions are most rows; a substring test is far cheaper than a
            -- parse, and a false match only costs the parse.
            WHERE contains(row_json, '"actions"') OR contains(row_json, '"action_values"')
        ),
        stats AS (
            SELECT *, 'actions' AS kind, unnest(r.actions) AS stat FROM parsed
            UNION ALL
            SELECT *, 'action_values' AS kind, unnest(r.action_values) AS stat FROM parsed
        ),
        by_window AS (
            SELECT ad_id, date_start, account_id, fetched_at, r.campaign_id, r.adset_id,
                   r.account_currency, kind, stat.action_type,
                   stat.value AS "{DEFAULT_WINDOW}", {per_window}
            FROM stats
        ),
        long_form AS (
            UNPIVOT by_window ON {windows} INTO NAME attribution_window VALUE amount
        )
        SELECT ad_id, date_start, action_type, attribution_window, account_id,
               any_value(campaign_id) AS campaign_id, any_value(adset_id) AS adset_id,
               sum(CAST(amount AS DOUBLE)) FILTER (kind = 'actions') AS actions,
               sum(CAST(amount AS DOUBLE)) FILTER (kind = 'action_values') AS action_value,
               any_value(account_currency) AS account_currency,
               max(fetched_at) AS fetched_at
        FROM long_form
        GROUP BY ad_id, date_start, action_type, attribution_window, account_id
        ORDER BY date_start, ad_id, action_type, attribution_window
    """
    frame = _run_on_raw(raw, sql)
    return conform(frame, AD_CONVERSIONS_DAILY, currency=frame["account_currency"])


def _run_on_raw(raw: pd.DataFrame, sql: str) -> pd.DataFrame:
    """Runs ``sql`` against ``raw`` (registered as the view ``raw``) in a private DuckDB."""
    columns = raw[["ad_id", "date_start", "account_id", "row_json", "fetched_at"]]
    with duckdb.connect() as connection:
        connection.register("raw", columns)
        return connection.execute(sql).df()

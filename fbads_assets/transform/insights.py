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
import numpy as np
import pandas as pd
import pyarrow as pa

from fbads_assets.api.redaction import redact_obj, registered_secrets
from fbads_assets.transform.frames import conform
from fbads_assets.transform.objects import account_id_digits
from fbads_assets.warehouse.tables import AD_CONVERSIONS_DAILY, AD_INSIGHTS_DAILY, AD_INSIGHTS_RAW

# Per-window keys an action element can carry besides `value` (the ad set's default setting).
# 7d_view and 28d_view stopped being served on 2026-01-12; rows never carry them any more.
ATTRIBUTION_WINDOW_KEYS = ("1d_click", "7d_click", "28d_click", "1d_view", "1d_ev")
DEFAULT_WINDOW = "default"

# The fields the daily table reads from the JSON (ad, date and account are raw's own columns)
# and their SQL types. Every metric is a JSON string; reading its text and casting in SQL also
# accepts a number, should a proxy or the sandbox send one.
_DAILY_JSON_FIELDS = (
    ("campaign_id", "VARCHAR"),
    ("adset_id", "VARCHAR"),
    ("ad_name", "VARCHAR"),
    ("adset_name", "VARCHAR"),
    ("campaign_name", "VARCHAR"),
    ("account_currency", "VARCHAR"),
    ("impressions", "BIGINT"),
    ("reach", "BIGINT"),
    ("frequency", "DOUBLE"),
    ("clicks", "BIGINT"),
    ("inline_link_clicks", "BIGINT"),
    ("spend", "DOUBLE"),
    ("ctr", "DOUBLE"),
    ("cpc", "DOUBLE"),
    ("cpm", "DOUBLE"),
    ("attribution_setting", "VARCHAR"),
)
_ACTION_STATS = {"action_type": "VARCHAR", "value": "VARCHAR"} | {
    window: "VARCHAR" for window in ATTRIBUTION_WINDOW_KEYS
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
            "row_json": rows_as_redacted_json(ordered),
            "request_fingerprint": fingerprint,
            "api_version": api_version,
            "fetched_at": fetched_at,
        },
        index=pd.RangeIndex(len(ordered)),
    )
    frame["row_index"] = frame.groupby("date_start", sort=False).cumcount()
    return conform(frame, AD_INSIGHTS_RAW)


def rows_as_redacted_json(rows: Sequence[Mapping], chunk_size: int = 5_000) -> list[str]:
    """Each row as compact JSON, scrubbed by ``redact_obj`` wherever a secret could hide.

    ``redact_obj`` costs about 0.3 ms a row (measured: 280 s for a million insights rows), so
    it runs only on chunks whose JSON text shows a sign of a secret (``_might_hold_secret``);
    clean chunks, which is all of them in practice, cost one substring scan.
    """
    texts: list[str] = []
    for start in range(0, len(rows), chunk_size):
        chunk = rows[start : start + chunk_size]
        dumped = [json.dumps(row, separators=(",", ":")) for row in chunk]
        if _might_hold_secret("\n".join(dumped)):
            dumped = [json.dumps(redact_obj(row), separators=(",", ":")) for row in chunk]
        texts.extend(dumped)
    return texts


# Every secret redact_obj removes leaves one of these marks in the JSON text: the parameter and
# key names it masks (access_token, appsecret_proof, client_secret, fb_exchange_token,
# input_token, token, app_secret), "Bearer", the "EAA" prefix of Meta tokens, and `paging`,
# which it drops. Lower-cased, except EAA, which redaction matches case-sensitively.
# When redaction learns a new kind of secret, add its mark here.
_SECRET_MARKS = ("token", "secret", "appsecret_proof", "bearer", "paging")


def _might_hold_secret(text: str) -> bool:
    lowered = text.lower()
    if any(mark in lowered for mark in _SECRET_MARKS) or "EAA" in text:
        return True
    return any(secret in text for secret in registered_secrets())


def insights_daily_frame(raw: pd.DataFrame) -> pd.DataFrame:
    """AD_INSIGHTS_DAILY: typed delivery metrics per ad and report date, parsed from raw."""
    if raw.empty:
        return conform(pd.DataFrame(), AD_INSIGHTS_DAILY)
    # One parse per row: json_extract_string with a list of paths returns all of them at once
    # (measured 2x faster than from_json into a struct).
    paths = ", ".join(f"'$.{name}'" for name, _ in _DAILY_JSON_FIELDS)
    fields = ", ".join(
        _typed_sql(f"f[{i}]", sql_type) + f" AS {name}"
        for i, (name, sql_type) in enumerate(_DAILY_JSON_FIELDS, start=1)
    )
    sql = f"""
        SELECT raw_row, {fields}
        FROM (SELECT raw_row, json_extract_string(row_json, [{paths}]) AS f FROM raw)
    """
    with _raw_json_connection(raw) as connection:
        frame = _fetch(connection, sql)
    frame = _with_raw_columns(frame, raw, frame["raw_row"])
    return conform(frame, AD_INSIGHTS_DAILY, currency=frame["account_currency"])


def _typed_sql(expression: str, sql_type: str) -> str:
    return expression if sql_type == "VARCHAR" else f"CAST({expression} AS {sql_type})"


def conversions_daily_frame(raw: pd.DataFrame) -> pd.DataFrame:
    """AD_CONVERSIONS_DAILY: one row per ad, date, action type and attribution window.

    ``actions`` and ``action_values`` are matched on action type and window: an action with a
    count but no value has a null action_value, and a value without a count still gets a row.
    This assumes one element per action type in each list, which holds for the default
    ``action_breakdowns=action_type``; another action breakdown would repeat types, and the
    table's primary-key check would fail the run rather than let doubled rows through.
    """
    if raw.empty:
        return conform(pd.DataFrame(), AD_CONVERSIONS_DAILY)
    with _raw_json_connection(raw) as connection:
        connection.execute(_PARSE_ACTIONS_SQL)
        ids = _fetch(connection, "SELECT * EXCLUDE (actions, action_values) FROM parsed")
        elements = _fetch(connection, _ACTION_ELEMENTS_SQL)

    frame = _one_row_per_window(elements)
    rows = frame["raw_row"].to_numpy(dtype=np.int64)
    parsed_at = ids["raw_row"].to_numpy(dtype=np.int64)
    for column in ("campaign_id", "adset_id"):
        frame[column] = _spread(ids[column], parsed_at, len(raw), rows)
    frame = _with_raw_columns(frame, raw, rows)

    currencies = ids["account_currency"].dropna().unique()
    if len(currencies) > 1:
        # Only a frame mixing accounts, built by hand, gets here: slower, still exact.
        currency = pd.Series(_spread(ids["account_currency"], parsed_at, len(raw), rows))
        return conform(frame, AD_CONVERSIONS_DAILY, currency=currency)
    return conform(frame, AD_CONVERSIONS_DAILY, currency=next(iter(currencies), None))


def _spread(
    values: pd.Series, parsed_at: np.ndarray, raw_rows: int, rows: np.ndarray
) -> np.ndarray:
    """Per-raw-row ``values`` onto the long-form rows, by position.

    The ids come once per raw row and the long form has about 14 rows per raw row on sandbox
    data; repeating the strings in SQL and converting each copy to Python cost far more.
    """
    by_raw_row = np.full(raw_rows, None, dtype=object)
    by_raw_row[parsed_at] = values.to_numpy()
    return by_raw_row[rows]


_WINDOWS = (DEFAULT_WINDOW, *ATTRIBUTION_WINDOW_KEYS)


def _one_row_per_window(elements: pd.DataFrame) -> pd.DataFrame:
    """Action elements (one row per action type, a column per window) → one row per window.

    Done in numpy rather than SQL: the long form is about 14 rows per raw row, and creating its
    window names as strings in DuckDB and again in pandas cost more than the whole parse.
    """
    counts = np.column_stack([elements[f"actions_{i}"].to_numpy() for i in range(len(_WINDOWS))])
    values = np.column_stack([elements[f"value_{i}"].to_numpy() for i in range(len(_WINDOWS))])
    present = ~(np.isnan(counts) & np.isnan(values))
    element_at, window_at = np.nonzero(present)
    return pd.DataFrame(
        {
            "raw_row": elements["raw_row"].to_numpy(dtype=np.int64)[element_at],
            "action_type": elements["action_type"].to_numpy()[element_at],
            "attribution_window": np.array(_WINDOWS, dtype=object)[window_at],
            "actions": counts[present],
            "action_value": values[present],
        },
        copy=False,
    )


def _window_columns_sql(struct: str, prefix: str) -> str:
    keys = ("value", *ATTRIBUTION_WINDOW_KEYS)
    return ", ".join(
        f'CAST({struct}."{key}" AS DOUBLE) AS {prefix}_{i}' for i, key in enumerate(keys)
    )


_ACTIONS_SHAPE = json.dumps(
    {
        "campaign_id": "VARCHAR",
        "adset_id": "VARCHAR",
        "account_currency": "VARCHAR",
        "actions": [_ACTION_STATS],
        "action_values": [_ACTION_STATS],
    }
)
# One parse per row. A substring pre-filter for '"actions"' was tried and dropped: it costs as
# much as the parse, and on real accounts nearly every row with delivery has some action.
_PARSE_ACTIONS_SQL = f"""
    CREATE TEMP TABLE parsed AS
    SELECT raw_row, r.campaign_id, r.adset_id, r.account_currency, r.actions, r.action_values
    FROM (SELECT raw_row, from_json(row_json, '{_ACTIONS_SHAPE}') AS r FROM raw)
    WHERE r.actions IS NOT NULL OR r.action_values IS NOT NULL
"""
# One row per action type of each raw row: its count and its value in every window.
_ACTION_ELEMENTS_SQL = f"""
    WITH paired AS (
        SELECT raw_row, counts, counts.action_type AS action_type,
               list_filter(action_values, lambda v: v.action_type = counts.action_type)[1]
                   AS amounts
        FROM (SELECT *, unnest(actions) AS counts FROM parsed)
        -- By name: the second half has no counts column, which becomes NULL.
        UNION ALL BY NAME
        -- Values whose action type has no count.
        SELECT raw_row, amounts.action_type AS action_type, amounts
        FROM (
            SELECT raw_row, unnest(list_filter(
                action_values,
                lambda v: NOT list_contains(
                    list_transform(coalesce(actions, []), lambda c: c.action_type),
                    v.action_type
                )
            )) AS amounts
            FROM parsed
        )
    )
    SELECT raw_row, action_type,
           {_window_columns_sql("counts", "actions")},
           {_window_columns_sql("amounts", "value")}
    FROM paired
    ORDER BY raw_row, action_type
"""


def _raw_json_connection(raw: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB with ``raw``'s JSON as the view ``raw(raw_row, row_json)``.

    Only the JSON goes in; the columns raw already has typed (ad, date, account, fetch time)
    are taken back by ``raw_row`` in pandas, which reuses their objects instead of converting
    a million strings out and back in.
    """
    connection = duckdb.connect()
    connection.register(
        "raw",
        pd.DataFrame(
            {"raw_row": np.arange(len(raw)), "row_json": raw["row_json"].to_numpy()}, copy=False
        ),
    )
    return connection


def _fetch(connection: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    # Through Arrow, not .df(): measured 3x faster on a million rows, because Arrow builds each
    # distinct string once. BIGINT keeps its nulls as Int64 instead of turning into float.
    table = connection.sql(sql).to_arrow_table()
    return table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)


def _with_raw_columns(frame: pd.DataFrame, raw: pd.DataFrame, rows: object) -> pd.DataFrame:
    """``frame`` plus raw's ad, date, account and fetch time of each row's ``raw_row``."""
    positions = np.asarray(rows, dtype=np.int64)
    for column in ("ad_id", "account_id", "fetched_at"):
        frame[column] = raw[column].array.take(positions)
    # Typed once per raw row, not per output row: a loaded raw frame may hold datetime.date
    # objects, which pandas parses one by one.
    dates = raw["date_start"]
    if dates.dtype.kind != "M":
        dates = pd.to_datetime(dates)
    frame["date_start"] = dates.dt.normalize().array.take(positions)
    return frame

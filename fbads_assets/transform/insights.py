"""Insights rows → the raw landing table → typed daily metrics and long-form conversions.

``raw_table`` keeps each API row as redacted JSON text, so the typed tables can be rebuilt
from the warehouse alone, without another API call. ``insights_daily_table`` and
``conversions_daily_table`` parse that JSON inside an in-memory DuckDB and return Arrow: a
million rows parse in seconds there, where row-wise Python takes minutes, and no value of a
range becomes a Python object. The ``*_frame`` functions are pandas views of the same, for
tests and analyses.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import cast

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from fbads_assets.api.redaction import redact_obj, registered_secrets
from fbads_assets.transform.money import minor_unit_digits, minor_unit_digits_sql
from fbads_assets.transform.objects import account_id_digits
from fbads_assets.warehouse.frames import (
    ARROW_TYPES,
    arrow_schema,
    empty_table,
    frame_from_arrow,
)
from fbads_assets.warehouse.tables import (
    AD_CONVERSIONS_DAILY,
    AD_INSIGHTS_DAILY,
    AD_INSIGHTS_RAW,
    DUCKDB_TYPES,
    Table,
)

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


# What the client keeps of each page for the raw table: the two keys raw copies out of the row
# and the row itself as redacted JSON.
RAW_PAGE_SCHEMA = pa.schema(
    [("date_start", pa.string()), ("ad_id", pa.string()), ("row_json", pa.string())]
)


def raw_rows(page: Sequence[Mapping]) -> list[pa.RecordBatch]:
    """A page of API rows as one Arrow batch of ``RAW_PAGE_SCHEMA``, for ``keep_rows``.

    A row as Python dicts and lists costs several times its JSON text, and a Python string per
    row still costs more than Arrow's one buffer: turning each page into Arrow as it arrives
    keeps a year's range at about the size of its raw table, with one page of dicts alive.
    """
    return [
        pa.RecordBatch.from_arrays(
            [
                pa.array([row.get("date_start") for row in page], pa.string()),
                pa.array([row.get("ad_id") for row in page], pa.string()),
                pa.array(rows_as_redacted_json(page), pa.string()),
            ],
            schema=RAW_PAGE_SCHEMA,
        )
    ]


def raw_table(
    account_id: str,
    rows: Sequence[Mapping] | Sequence[pa.RecordBatch],
    *,
    fingerprint: str,
    api_version: str,
    fetched_at: dt.datetime,
) -> pa.Table:
    """AD_INSIGHTS_RAW as Arrow: one row per API row, as redacted JSON.

    ``rows`` are the API's dicts or, from a client given ``keep_rows=raw_rows``, its batches.
    row_index numbers the rows of each report date in ad_id order, so re-fetching the same
    day gives the same keys whatever order the API paged them in. The rows stay in the order
    they came: sorting would copy every row's JSON once more.
    """
    batches = _as_batches(rows)
    pages = pa.Table.from_batches(batches, schema=RAW_PAGE_SCHEMA)
    count = pages.num_rows
    same = np.zeros(count, dtype=np.int32)
    columns = {
        "account_id": pa.DictionaryArray.from_arrays(same, [account_id_digits(account_id)]),
        "date_start": pages["date_start"].cast(pa.date32()),
        "row_index": pa.array(_row_index(pages), pa.int64()),
        "ad_id": pages["ad_id"],
        "row_json": pages["row_json"],
        "request_fingerprint": pa.DictionaryArray.from_arrays(same, [fingerprint]),
        "api_version": pa.DictionaryArray.from_arrays(same, [api_version]),
        "fetched_at": pa.array(
            np.full(count, np.datetime64(fetched_at.astimezone(dt.UTC).replace(tzinfo=None), "us")),
            ARROW_TYPES["timestamp"],
        ),
    }
    return pa.table(columns)


def raw_frame(
    account_id: str,
    rows: Sequence[Mapping] | Sequence[pa.RecordBatch],
    *,
    fingerprint: str,
    api_version: str,
    fetched_at: dt.datetime,
) -> pd.DataFrame:
    """``raw_table`` as a pandas frame, ordered by report date and row_index."""
    table = raw_table(
        account_id, rows, fingerprint=fingerprint, api_version=api_version, fetched_at=fetched_at
    )
    frame = frame_from_arrow(table, AD_INSIGHTS_RAW)
    return frame.sort_values(["date_start", "row_index"], ignore_index=True)


def _as_batches(rows: Sequence[Mapping] | Sequence[pa.RecordBatch]) -> list[pa.RecordBatch]:
    if all(isinstance(row, pa.RecordBatch) for row in rows):
        return cast(list[pa.RecordBatch], list(rows))
    return raw_rows(cast(Sequence[Mapping], rows)) if rows else []


def _row_index(pages: pa.Table) -> np.ndarray:
    """Each row's place among its report date's rows in ad_id order (a missing id first)."""
    order = pc.sort_indices(
        pages.select(["date_start", "ad_id"]),
        sort_keys=[("date_start", "ascending", "at_start"), ("ad_id", "ascending", "at_start")],
    ).to_numpy()
    dates = pc.dictionary_encode(pages["date_start"].take(order).combine_chunks()).indices
    codes = dates.to_numpy(zero_copy_only=False)
    positions = np.arange(len(order))
    starts = np.r_[True, codes[1:] != codes[:-1]] if len(order) else np.zeros(0, dtype=bool)
    first_of_day = np.maximum.accumulate(np.where(starts, positions, 0))
    row_index = np.empty(len(order), dtype=np.int64)
    row_index[order] = positions - first_of_day
    return row_index


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


def insights_daily_frame(raw: pd.DataFrame | pa.Table) -> pd.DataFrame:
    """AD_INSIGHTS_DAILY as a pandas frame; ``insights_daily_table`` is what the graph uses."""
    return frame_from_arrow(insights_daily_table(raw), AD_INSIGHTS_DAILY)


def conversions_daily_frame(raw: pd.DataFrame | pa.Table) -> pd.DataFrame:
    """AD_CONVERSIONS_DAILY as a pandas frame; the graph uses ``conversions_daily_table``."""
    return frame_from_arrow(conversions_daily_table(raw), AD_CONVERSIONS_DAILY)


def insights_daily_table(raw: pd.DataFrame | pa.Table) -> pa.Table:
    """AD_INSIGHTS_DAILY: typed delivery metrics per ad and report date, parsed from raw.

    Parsed, typed and rounded inside DuckDB and handed on as Arrow: no value of a million rows
    ever becomes a Python object.
    """
    if not len(raw):
        return empty_table(AD_INSIGHTS_DAILY)
    # One parse per row: json_extract_string with a list of paths returns all of them at once
    # (measured 2x faster than from_json into a struct).
    paths = ", ".join(f"'$.{name}'" for name, _ in _DAILY_JSON_FIELDS)
    parsed = {
        name: _typed_sql(f"f[{i}]", sql_type)
        for i, (name, sql_type) in enumerate(_DAILY_JSON_FIELDS, start=1)
    }
    parsed["spend"] = f"round({parsed['spend']}, {minor_unit_digits_sql('f[6]')})"
    own = {"ad_id", "account_id", "date_start", "fetched_at"}
    columns = ", ".join(
        f"{c.name}::{_SQL_TYPES[c.type]} AS {c.name}"
        if c.name in own
        else f"{parsed[c.name]}::{_SQL_TYPES[c.type]} AS {c.name}"
        for c in AD_INSIGHTS_DAILY.columns
    )
    sql = f"""
        SELECT {columns}
        FROM (SELECT *, json_extract_string(row_json, [{paths}]) AS f FROM raw)
    """
    with _raw_connection(raw) as connection:
        return _arrow(connection, sql, AD_INSIGHTS_DAILY)


def _typed_sql(expression: str, sql_type: str) -> str:
    return expression if sql_type == "VARCHAR" else f"CAST({expression} AS {sql_type})"


def conversions_daily_table(raw: pd.DataFrame | pa.Table) -> pa.Table:
    """AD_CONVERSIONS_DAILY: one row per ad, date, action type and attribution window.

    ``actions`` and ``action_values`` are matched on action type and window: an action with a
    count but no value has a null action_value, and a value without a count still gets a row.
    This assumes one element per action type in each list, which holds for the default
    ``action_breakdowns=action_type``; another action breakdown would repeat types, and the
    table's primary-key check would fail the run rather than let doubled rows through.

    The long form has about 14 rows per raw row. DuckDB parses each raw row once into one row
    per action type with a column per window; numpy then spreads the windows into rows, and the
    text columns leave as Arrow dictionary arrays (an index per row into the distinct ids), so
    13.6 million rows cost about 40 bytes each instead of six Python strings.
    """
    if not len(raw):
        return empty_table(AD_CONVERSIONS_DAILY)
    with _raw_connection(raw) as connection:
        elements = connection.sql(_ACTION_ELEMENTS_SQL).to_arrow_table()

    # Window-major: all rows of the default window, then 1d_click's, and so on. Row order means
    # nothing in the table, and this order needs no 2-D copy of the counts and values.
    kept = []
    for window in range(len(_WINDOWS)):
        counts = _floats(elements, f"actions_{window}")
        values = _floats(elements, f"value_{window}")
        at = np.flatnonzero(~(np.isnan(counts) & np.isnan(values))).astype(np.int32)
        kept.append((at, counts[at], values[at]))
    element_at = np.concatenate([at for at, _, _ in kept])
    window_at = np.repeat(np.arange(len(_WINDOWS), dtype=np.int8), [len(at) for at, _, _ in kept])
    raw_rows = elements["raw_row"].to_numpy().astype(np.int32)[element_at]

    columns = {
        "ad_id": _spread(_raw_column(raw, "ad_id"), raw_rows),
        "date_start": _raw_column(raw, "date_start", pa.date32()).take(raw_rows),
        "action_type": _spread(elements["action_type"], element_at),
        "attribution_window": pa.DictionaryArray.from_arrays(window_at, pa.array(_WINDOWS)),
        "account_id": _spread(_raw_column(raw, "account_id"), raw_rows),
        "campaign_id": _spread(elements["campaign_id"], element_at),
        "adset_id": _spread(elements["adset_id"], element_at),
        "actions": pa.array(np.concatenate([c for _, c, _ in kept]), from_pandas=True),
        "action_value": pa.array(
            _round_money(
                np.concatenate([v for _, _, v in kept]),
                elements["account_currency"],
                element_at,
            ),
            from_pandas=True,
        ),
        "fetched_at": _raw_column(raw, "fetched_at", ARROW_TYPES["timestamp"]).take(raw_rows),
    }
    return pa.table(columns)


_WINDOWS = (DEFAULT_WINDOW, *ATTRIBUTION_WINDOW_KEYS)


def _floats(table: pa.Table, column: str) -> np.ndarray:
    return table[column].to_numpy().astype(np.float64, copy=False)


def _spread(values: pa.ChunkedArray, positions: np.ndarray) -> pa.DictionaryArray:
    """``values[positions]`` as a dictionary array: each distinct text once, an index per row."""
    encoded = pc.dictionary_encode(values.combine_chunks())
    return encoded.take(pa.array(positions))


def _raw_column(
    raw: pd.DataFrame | pa.Table, name: str, arrow_type: pa.DataType | None = None
) -> pa.ChunkedArray:
    values = raw[name] if isinstance(raw, pa.Table) else pa.chunked_array([pa.array(raw[name])])
    return values if arrow_type is None or values.type == arrow_type else values.cast(arrow_type)


def _round_money(amounts: np.ndarray, currencies: pa.ChunkedArray, rows: np.ndarray) -> np.ndarray:
    """Each amount rounded in place to its currency's minor unit (0 or 2 digits)."""
    encoded = pc.dictionary_encode(currencies.combine_chunks())
    digits = {minor_unit_digits(code) for code in encoded.dictionary.to_pylist()}
    if len(digits) <= 1 and encoded.null_count == 0:
        # One account's rows: one currency, one vectorised round.
        return np.round(amounts, next(iter(digits), 2), out=amounts)
    # A null currency rounds to cents, the finest minor unit Meta's currencies have.
    per_code = np.array([minor_unit_digits(c) for c in encoded.dictionary.to_pylist()] + [2])
    row_digits = per_code[pc.fill_null(encoded.indices, len(per_code) - 1).to_numpy()][rows]
    for places in np.unique(row_digits):
        chosen = row_digits == places
        amounts[chosen] = np.round(amounts[chosen], int(places))
    return amounts


def _window_columns_sql(struct: str, prefix: str) -> str:
    keys = ("value", *ATTRIBUTION_WINDOW_KEYS)
    return ", ".join(
        f'CAST({struct}."{key}" AS DOUBLE) AS {prefix}_{i}' for i, key in enumerate(keys)
    )


_ACTION_LIST = json.dumps([_ACTION_STATS])
# One parse per raw row: json_extract_string pulls the ids and the two action lists (as JSON
# text) in one pass, and from_json types only those short lists; from_json on the whole row
# measured 25 % slower. A substring pre-filter for '"actions"' was tried and dropped: it costs
# as much as the parse, and on real accounts nearly every row with delivery has some action.
_PARSED_ACTIONS_CTE = f"""
    parsed AS (
        SELECT raw_row, f[1] AS campaign_id, f[2] AS adset_id, f[3] AS account_currency,
               from_json(f[4], '{_ACTION_LIST}') AS actions,
               from_json(f[5], '{_ACTION_LIST}') AS action_values
        FROM (
            SELECT raw_row, json_extract_string(row_json, [
                '$.campaign_id', '$.adset_id', '$.account_currency', '$.actions',
                '$.action_values'
            ]) AS f
            FROM raw
        )
        WHERE f[4] IS NOT NULL OR f[5] IS NOT NULL
    )
"""
# One row per action type of each raw row: its count and its value in every window.
_ACTION_ELEMENTS_SQL = f"""
    WITH {_PARSED_ACTIONS_CTE},
    paired AS (
        SELECT raw_row, campaign_id, adset_id, account_currency,
               counts, counts.action_type AS action_type,
               list_filter(action_values, lambda v: v.action_type = counts.action_type)[1]
                   AS amounts
        FROM (SELECT *, unnest(actions) AS counts FROM parsed)
        -- By name: the second half has no counts column, which becomes NULL.
        UNION ALL BY NAME
        -- Values whose action type has no count.
        SELECT raw_row, campaign_id, adset_id, account_currency,
               amounts.action_type AS action_type, amounts
        FROM (
            SELECT raw_row, campaign_id, adset_id, account_currency, unnest(list_filter(
                action_values,
                lambda v: NOT list_contains(
                    list_transform(coalesce(actions, []), lambda c: c.action_type),
                    v.action_type
                )
            )) AS amounts
            FROM parsed
        )
    )
    SELECT raw_row, campaign_id, adset_id, account_currency, action_type,
           {_window_columns_sql("counts", "actions")},
           {_window_columns_sql("amounts", "value")}
    FROM paired
    ORDER BY raw_row, action_type
"""


# DuckDB types of the logical column types, as the transforms cast to them before Arrow. Money
# stays DOUBLE here (rounded to its minor unit); the warehouse stores it as DECIMAL.
_SQL_TYPES = {**DUCKDB_TYPES, "money": "DOUBLE"}


def _raw_connection(raw: pd.DataFrame | pa.Table) -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB with ``raw`` as the view ``raw``, plus its position raw_row."""
    positions = np.arange(len(raw), dtype=np.int64)
    if isinstance(raw, pa.Table):
        view: pd.DataFrame | pa.Table = raw.append_column("raw_row", pa.array(positions))
    else:
        view = raw.assign(raw_row=positions)
    connection = duckdb.connect()
    # Dates and times leave DuckDB in UTC whatever the machine's zone.
    connection.execute("SET TimeZone = 'UTC'")
    connection.register("raw", view)
    return connection


def _arrow(connection: duckdb.DuckDBPyConnection, sql: str, table: Table) -> pa.Table:
    return connection.sql(sql).to_arrow_table().cast(arrow_schema(table))

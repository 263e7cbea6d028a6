"""Insights rows → the raw landing table → typed daily metrics and long-form conversions.

``raw_table`` keeps each API row as redacted JSON text, so the typed tables can be rebuilt
from the warehouse alone, without another API call. ``insights_daily_table`` parses that JSON
inside an in-memory DuckDB; ``conversions_daily_table`` parses it with Arrow's JSON reader, a
slice of rows per thread. Both return Arrow: a million rows parse in seconds, where row-wise
Python takes minutes, and no value of a range becomes a Python object. The ``*_frame``
functions are pandas views of the same, for tests and analyses.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import cast

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

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


def parse_raw_json(texts: pa.Array, schema: pa.Schema) -> pa.Table:
    """Each raw row's JSON text parsed by Arrow's JSON reader into ``schema``: one row per text.

    The reader is handed the string array's own data buffer, where the texts lie back to
    back, so the parse copies no text. It runs on the calling thread: callers parse slices of a
    range on a thread each (the reader releases the interpreter lock), which measured faster
    than the reader's own threads, since those must find the objects' bounds in one pass first.
    Keys the schema does not name are skipped, missing keys are null. The API sends every value
    as a JSON string; a text that carries a number where the schema has a string (a proxy, a
    hand-made row) fails the fast parse, and is parsed again after Python has turned its numbers
    into strings: slow, and never the case for rows Meta sent.
    """
    if not len(texts):
        return schema.empty_table()
    try:
        parsed = _read_json(_texts_back_to_back(texts), schema)
    except pa.ArrowInvalid:
        parsed = _read_json(_numbers_as_strings(texts), schema)
    if parsed.num_rows != len(texts):
        raise ValueError(
            f"ad_insights_raw.row_json: {len(texts)} texts held {parsed.num_rows} JSON "
            "objects; every raw row must be one JSON object. Re-materialize "
            "ad_insights_raw for these dates to fetch the rows again."
        )
    return parsed


def _texts_back_to_back(texts: pa.Array) -> pa.Buffer:
    """The texts of a string array as one buffer, without a copy: its own data buffer."""
    if texts.type not in (pa.string(), pa.large_string()):
        texts = texts.cast(pa.large_string())
    if texts.null_count:
        texts = pc.fill_null(texts, "{}")
    _validity, offsets_buffer, data = texts.buffers()
    offset_type = np.int32 if texts.type == pa.string() else np.int64
    offsets = np.frombuffer(offsets_buffer, dtype=offset_type)
    first, last = int(offsets[texts.offset]), int(offsets[texts.offset + len(texts)])
    return data.slice(first, last - first)


def _read_json(text: pa.Buffer, schema: pa.Schema) -> pa.Table:
    return pajson.read_json(
        pa.BufferReader(text),
        # Blocks far larger than any one row: a row may not straddle two blocks.
        read_options=pajson.ReadOptions(block_size=64 << 20, use_threads=False),
        parse_options=pajson.ParseOptions(
            explicit_schema=schema,
            unexpected_field_behavior="ignore",
            # Objects are not newline-separated; this makes the reader find their bounds by
            # parsing rather than by looking for newlines.
            newlines_in_values=True,
        ),
    )


def _numbers_as_strings(texts: pa.Array) -> pa.Buffer:
    rows = (json.loads(text) if text is not None else {} for text in texts.to_pylist())
    return pa.py_buffer(
        "\n".join(json.dumps(_number_strings(row), separators=(",", ":")) for row in rows).encode()
    )


def _number_strings(value: object) -> object:
    """``value`` with every JSON number (not true or false) turned into its text."""
    if isinstance(value, dict):
        return {key: _number_strings(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_number_strings(item) for item in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return json.dumps(value)
    return value


def conversions_daily_table(raw: pd.DataFrame | pa.Table) -> pa.Table:
    """AD_CONVERSIONS_DAILY: one row per ad, date, action type and attribution window.

    ``actions`` and ``action_values`` are matched on action type and window: an action with a
    count but no value has a null action_value, and a value without a count still gets a row.
    This assumes one element per action type in each list, which holds for the default
    ``action_breakdowns=action_type``; another action breakdown would repeat types, and the
    table's primary-key check would fail the run rather than let doubled rows through.

    The long form has about 14 rows per raw row. The range is taken in slices of raw rows, a
    thread each (``_slice_conversions``), which bounds the working memory to a few slices
    whatever the range. The text columns leave as Arrow dictionary arrays (an index per row into
    the distinct ids of its slice), so 13.6 million rows cost about 40 bytes each instead of six
    Python strings.
    """
    if not len(raw):
        return empty_table(AD_CONVERSIONS_DAILY)
    inputs = pa.table(
        {
            "row_json": _raw_column(raw, "row_json"),
            "ad_id": _raw_column(raw, "ad_id"),
            "date_start": _raw_column(raw, "date_start", pa.date32()),
            "account_id": _raw_column(raw, "account_id"),
            "fetched_at": _raw_column(raw, "fetched_at", ARROW_TYPES["timestamp"]),
        }
    )
    # Batches never span two chunks of a column, so a slice's texts are a view, not a copy.
    slices = inputs.to_batches(max_chunksize=_SLICE_ROWS)
    with ThreadPoolExecutor(max_workers=pa.cpu_count()) as pool:
        return pa.concat_tables(pool.map(_slice_conversions, slices))


# Raw rows per slice: 20,000 rows are about 23 MB of JSON, whose parse and long form take some
# 100 MB at once; far fewer rows per slice measured slower (more fixed cost per parse).
_SLICE_ROWS = 20_000


def _slice_conversions(raw: pa.RecordBatch) -> pa.Table:
    """The conversions of one slice of raw rows: parse, pair, spread the windows into rows."""
    parsed = parse_raw_json(raw["row_json"], _CONVERSION_JSON_SCHEMA)
    elements = _ActionElements.pair(parsed["actions"], parsed["action_values"])

    # Window-major: all rows of the default window, then 1d_click's, and so on. Row order means
    # nothing in the table, and this order needs no 2-D copy of the counts and values.
    kept = []
    for window in _WINDOWS:
        counts, values = elements.window(window)
        at = np.flatnonzero(~(np.isnan(counts) & np.isnan(values)))
        kept.append((at, counts[at], values[at]))
    element_at = np.concatenate([at for at, _, _ in kept])
    window_at = np.repeat(np.arange(len(_WINDOWS), dtype=np.int8), [len(at) for at, _, _ in kept])
    raw_rows = pa.array(elements.raw_row[element_at])

    columns = {
        "ad_id": _spread(raw["ad_id"], raw_rows),
        "date_start": raw["date_start"].take(raw_rows),
        "action_type": pa.DictionaryArray.from_arrays(
            elements.action_type.indices.take(pa.array(element_at)),
            elements.action_type.dictionary,
        ),
        "attribution_window": pa.DictionaryArray.from_arrays(window_at, pa.array(_WINDOWS)),
        "account_id": _spread(raw["account_id"], raw_rows),
        "campaign_id": _spread(parsed["campaign_id"], raw_rows),
        "adset_id": _spread(parsed["adset_id"], raw_rows),
        "actions": pa.array(np.concatenate([c for _, c, _ in kept]), from_pandas=True),
        "action_value": pa.array(
            _round_money(
                np.concatenate([v for _, _, v in kept]),
                parsed["account_currency"],
                raw_rows.to_numpy(),
            ),
            from_pandas=True,
        ),
        "fetched_at": raw["fetched_at"].take(raw_rows),
    }
    return pa.table(columns)


_WINDOWS = (DEFAULT_WINDOW, *ATTRIBUTION_WINDOW_KEYS)

# What the conversions read from each raw row's JSON. Every value is a JSON string on the wire;
# keys not named here (cost_per_action_type, names, metrics, a retired window) are skipped.
_ACTION_ELEMENT = pa.struct(
    [("action_type", pa.string()), ("value", pa.string())]
    + [(window, pa.string()) for window in ATTRIBUTION_WINDOW_KEYS]
)
_CONVERSION_JSON_SCHEMA = pa.schema(
    [
        ("campaign_id", pa.string()),
        ("adset_id", pa.string()),
        ("account_currency", pa.string()),
        ("actions", pa.list_(_ACTION_ELEMENT)),
        ("action_values", pa.list_(_ACTION_ELEMENT)),
    ]
)


@dataclass(frozen=True)
class _ActionElements:
    """One entry per action type of each raw row, with its count element, its value element
    or both: the outer join of ``actions`` and ``action_values`` on (raw row, action type)."""

    raw_row: np.ndarray  # int32: the raw row each entry belongs to
    action_type: pa.DictionaryArray
    counts: pa.StructArray  # the actions elements, in list order; entries [0, len(counts))
    amounts: pa.StructArray  # the action_values elements
    amount_of: np.ndarray  # int64 per entry: its element in ``amounts``, or -1

    @classmethod
    def pair(
        cls, actions: pa.Array | pa.ChunkedArray, action_values: pa.Array | pa.ChunkedArray
    ) -> _ActionElements:
        count_rows, counts = _flatten(actions)
        amount_rows, amounts = _flatten(action_values)
        # One dictionary for the types of both lists, so that equal types get equal codes.
        types = pc.dictionary_encode(
            pa.concat_arrays([counts.field("action_type"), amounts.field("action_type")]),
            null_encoding="encode",
        )
        codes = types.indices.to_numpy().astype(np.int64)
        width = len(types.dictionary) + 1
        count_keys = count_rows * width + codes[: len(counts)]
        amount_keys = amount_rows * width + codes[len(counts) :]

        # Each value element finds the count element of its row and type, if there is one.
        by_key = np.argsort(count_keys, kind="stable")
        sorted_keys = count_keys[by_key]
        slot = np.minimum(np.searchsorted(sorted_keys, amount_keys), max(len(counts) - 1, 0))
        found = (
            sorted_keys[slot] == amount_keys if len(counts) else np.zeros(len(amounts), dtype=bool)
        )
        amount_of_count = np.full(len(counts), -1, dtype=np.int64)
        amount_of_count[by_key[slot[found]]] = np.flatnonzero(found)
        # Values whose type has no count become entries of their own, after the counts.
        alone = np.flatnonzero(~found)
        entry_codes = np.concatenate([codes[: len(counts)], codes[len(counts) :][alone]])
        return cls(
            raw_row=np.concatenate([count_rows, amount_rows[alone]]).astype(np.int32),
            action_type=pa.DictionaryArray.from_arrays(
                pa.array(entry_codes.astype(np.int32)), types.dictionary
            ),
            counts=counts,
            amounts=amounts,
            amount_of=np.concatenate([amount_of_count, alone]),
        )

    def window(self, window: str) -> tuple[np.ndarray, np.ndarray]:
        """Each entry's count and value in ``window`` as floats, NaN where absent."""
        key = "value" if window == DEFAULT_WINDOW else window
        entries = len(self.raw_row)
        counts = np.full(entries, np.nan)
        counts[: len(self.counts)] = _float_values(self.counts.field(key))
        values = np.full(entries, np.nan)
        has_value = self.amount_of >= 0
        values[has_value] = _float_values(self.amounts.field(key))[self.amount_of[has_value]]
        return counts, values


def _flatten(lists: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, pa.StructArray]:
    """The elements of every list, and for each the row it came from."""
    combined = _one_array(lists)
    rows = pc.list_parent_indices(combined).to_numpy().astype(np.int64)
    return rows, pc.list_flatten(combined)


def _float_values(texts: pa.Array) -> np.ndarray:
    return pc.cast(texts, pa.float64()).to_numpy(zero_copy_only=False)


def _spread(values: pa.Array | pa.ChunkedArray, positions: pa.Array) -> pa.DictionaryArray:
    """``values[positions]`` as a dictionary array: each distinct text once, an index per row."""
    return pc.dictionary_encode(_one_array(values)).take(positions)


def _one_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _raw_column(
    raw: pd.DataFrame | pa.Table, name: str, arrow_type: pa.DataType | None = None
) -> pa.ChunkedArray:
    values = raw[name] if isinstance(raw, pa.Table) else pa.chunked_array([pa.array(raw[name])])
    return values if arrow_type is None or values.type == arrow_type else values.cast(arrow_type)


def _round_money(
    amounts: np.ndarray, currencies: pa.Array | pa.ChunkedArray, rows: np.ndarray
) -> np.ndarray:
    """Each amount rounded in place to its currency's minor unit (0 or 2 digits)."""
    encoded = pc.dictionary_encode(_one_array(currencies))
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

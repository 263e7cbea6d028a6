"""``conform``: the last step of every transform, making a frame match its table exactly.

The IO managers write whatever columns they are given, so every transform ends here: the
table's columns in ``tables.py`` order (missing ones as nulls, extra ones dropped) and the
pandas dtypes the warehouse writers expect (``warehouse/frames.py``), with money rounded to
the currency's minor unit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fbads_assets.transform.money import minor_unit_digits
from fbads_assets.warehouse.frames import PANDAS_DTYPES
from fbads_assets.warehouse.tables import Table


def conform(
    frame: pd.DataFrame, table: Table, *, currency: str | pd.Series | None = None
) -> pd.DataFrame:
    """``frame`` with exactly ``table``'s columns, in order, typed as the warehouse expects.

    Args:
        frame: any frame whose columns are named as in the table; values may be API strings.
        table: the table from ``warehouse/tables.py``.
        currency: the currency of the money columns, one code for all rows or a per-row
            Series aligned with ``frame``. None rounds money to cents, the finest minor unit
            Meta's currencies have.
    """
    columns = {
        column.name: _typed(
            frame[column.name] if column.name in frame else _nulls(frame.index),
            column.type,
            currency,
        )
        for column in table.columns
    }
    # Arrays, not Series, under a fresh RangeIndex: nothing to align, and copy=False skips
    # pandas' block consolidation, which copied every column again (together: 60 % of this
    # function's time on a million rows, measured).
    return pd.DataFrame(
        {name: _column_data(values) for name, values in columns.items()},
        columns=table.column_names,
        index=pd.RangeIndex(len(frame)),
        copy=False,
    )


def _column_data(values: pd.Series) -> object:
    # NumpyExtensionArray.to_numpy scans object columns for NaN; the raw ndarray does not.
    if isinstance(values.dtype, np.dtype):
        return values.to_numpy(copy=False)
    return values.array


def _nulls(index: pd.Index) -> pd.Series:
    return pd.Series([None] * len(index), index=index, dtype="object")


def _typed(values: pd.Series, logical_type: str, currency: str | pd.Series | None) -> pd.Series:
    target = PANDAS_DTYPES[logical_type]
    if logical_type == "string":
        if values.dtype == object:
            # Records, Arrow and DuckDB all give None for a null text already; scanning a
            # million objects for NaN would cost more than the rest of this function.
            return values
        strings = values.astype("object")
        return strings.where(strings.notna(), None)
    if logical_type in ("int", "float"):
        return pd.to_numeric(values).astype(target)
    if logical_type == "money":
        return _round_money(pd.to_numeric(values).astype(target), currency)
    if logical_type == "date":
        if values.dtype.kind == "M":
            # Already a date column (datetime64 at midnight): normalising millions again is
            # the single most expensive step of the conversions table.
            return values.astype(target)
        return pd.to_datetime(values).dt.normalize().astype(target)
    if logical_type == "timestamp":
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            # Already parsed (from DuckDB or a loaded frame): parsing again costs 0.5 s/1M rows.
            return values.dt.tz_convert("UTC").astype(target)
        return pd.to_datetime(values, utc=True, format="ISO8601").astype(target)
    return values.astype(target)


def _round_money(amounts: pd.Series, currency: str | pd.Series | None) -> pd.Series:
    if isinstance(currency, pd.Series):
        codes = currency.dropna().unique()
        if len(codes) > 1:
            return _round_money_per_row(amounts, currency)
        currency = str(codes[0]) if len(codes) else None
    return amounts.round(2 if currency is None else minor_unit_digits(currency))


def _round_money_per_row(amounts: pd.Series, currency: pd.Series) -> pd.Series:
    # One vectorised round per distinct number of decimals (0 or 2); mapping the distinct
    # codes, not the rows, keeps this cheap on a million rows.
    digits_by_code = {code: minor_unit_digits(code) for code in currency.dropna().unique()}
    whole = (currency.map(digits_by_code) == 0).to_numpy()
    rounded = amounts.round(2)
    rounded[whole] = np.round(amounts.to_numpy()[whole], 0)
    return rounded

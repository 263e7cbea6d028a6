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
    return pd.DataFrame(columns, columns=table.column_names, index=frame.index).reset_index(
        drop=True
    )


def _nulls(index: pd.Index) -> pd.Series:
    return pd.Series([None] * len(index), index=index, dtype="object")


def _typed(values: pd.Series, logical_type: str, currency: str | pd.Series | None) -> pd.Series:
    target = PANDAS_DTYPES[logical_type]
    if logical_type == "string":
        strings = values.astype("object")
        return strings.where(strings.notna(), None)
    if logical_type == "int":
        return pd.to_numeric(values).astype(target)
    if logical_type == "float":
        return pd.to_numeric(values).astype(target)
    if logical_type == "money":
        return _round_money(pd.to_numeric(values).astype(target), currency)
    if logical_type == "date":
        return pd.to_datetime(values).dt.normalize().astype(target)
    if logical_type == "timestamp":
        return pd.to_datetime(values, utc=True, format="ISO8601").astype(target)
    return values.astype(target)


def _round_money(amounts: pd.Series, currency: str | pd.Series | None) -> pd.Series:
    if currency is None or isinstance(currency, str):
        return amounts.round(2 if currency is None else minor_unit_digits(currency))

    # Per-row currencies: one vectorised round per distinct number of decimals (0 or 2).
    # Mapping the distinct codes, not the rows, keeps this cheap on a million rows.
    digits_by_code = {code: minor_unit_digits(code) for code in currency.dropna().unique()}
    digits = currency.map(digits_by_code).fillna(2)
    rounded = amounts.round(2)
    whole = (digits == 0).to_numpy()
    if whole.any():
        rounded[whole] = np.round(amounts.to_numpy()[whole], 0)
    return rounded

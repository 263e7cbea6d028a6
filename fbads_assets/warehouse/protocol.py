"""What checks and analyses need from a warehouse, whichever engine holds it."""

from __future__ import annotations

from typing import Protocol

import pandas as pd


class Warehouse(Protocol):
    def query(self, sql: str, params: list | None = None) -> pd.DataFrame: ...

    def table_ref(self, name: str) -> str: ...

    def table_exists(self, name: str) -> bool: ...

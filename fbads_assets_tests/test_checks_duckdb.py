"""The warehouse checks against a real DuckDB file whose rows a test wrote by hand, as a foreign
program (a notebook, a DuckDB CLI) could have written them past the IO manager's own checks."""

import duckdb
import pytest

from fbads_assets.defs.checks import build_primary_key_check
from fbads_assets.warehouse.duckdb import QUERY_MEMORY_LIMIT, DuckDBWarehouse
from fbads_assets.warehouse.tables import AD_CONVERSIONS_DAILY


@pytest.fixture
def database(tmp_path) -> str:
    path = str(tmp_path / "fbads.duckdb")
    with duckdb.connect(path) as connection:
        connection.execute("CREATE SCHEMA facebook_ads")
        connection.execute(
            "CREATE TABLE facebook_ads.ad_conversions_daily (ad_id VARCHAR, date_start DATE, "
            "action_type VARCHAR, attribution_window VARCHAR, actions DOUBLE)"
        )
    return path


def insert(database: str, rows: list[tuple]) -> None:
    with duckdb.connect(database) as connection:
        connection.executemany(
            "INSERT INTO facebook_ads.ad_conversions_daily VALUES (?, ?, ?, ?, ?)", rows
        )


def key_check(database: str):
    check = build_primary_key_check(AD_CONVERSIONS_DAILY)
    return check(warehouse=DuckDBWarehouse(database=database))


def test_primary_key_check_counts_every_repeated_key_and_shows_the_worst_first(database):
    purchase = ("1", "2026-11-01", "purchase", "7d_click")
    lead = ("2", "2026-11-01", "lead", "1d_view")
    insert(database, [(*purchase, 1.0), (*purchase, 1.0), (*purchase, 2.0)])
    insert(database, [(*lead, 1.0), (*lead, 1.0), ("3", "2026-11-01", "lead", "1d_view", 1.0)])

    result = key_check(database)

    assert result.passed is False
    assert result.metadata["duplicated_keys"].value == 2
    sample = result.metadata["sample"].value
    rows = [line for line in sample.splitlines() if "purchase" in line or "lead" in line]
    assert ["purchase" in row for row in rows] == [True, False]
    assert [row.split("|")[-2].strip() for row in rows] == ["3", "2"]  # the copies column
    assert "duplicated_keys" not in sample


def test_primary_key_check_passes_on_unique_keys(database):
    insert(database, [("1", "2026-11-01", "purchase", w, 1.0) for w in ("1d_click", "7d_click")])

    result = key_check(database)

    assert result.passed is True
    assert result.metadata["duplicated_keys"].value == 0


def duckdb_shows(limit: str) -> str:
    with duckdb.connect(":memory:", config={"memory_limit": limit}) as connection:
        return connection.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]


@pytest.mark.parametrize("configured", [None, "1GB"])
def test_warehouse_queries_run_under_a_memory_cap(database, configured):
    warehouse = (
        DuckDBWarehouse(database=database)
        if configured is None
        else DuckDBWarehouse(database=database, memory_limit=configured)
    )

    shown = warehouse.query("SELECT current_setting('memory_limit') AS limit_").limit_[0]

    assert shown == duckdb_shows(configured or QUERY_MEMORY_LIMIT)

"""The analysts' SQL in analyses/: each file runs on DuckDB and returns the right numbers.

The warehouse here is built the way the pipeline builds it: tables typed from tables.py, filled
with the transforms' output over API-shaped rows. Expected numbers are computed independently,
straight from those rows with Decimal arithmetic, not from the mart.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from fbads_assets.transform.insights import (
    conversions_daily_frame,
    insights_daily_frame,
    raw_frame,
)
from fbads_assets.transform.mart import DEFAULT_CONVERSION_ACTION_TYPES, campaign_daily_frame
from fbads_assets.warehouse.tables import DUCKDB_TYPES, TABLES, Table
from fbads_assets_tests.test_transform_insights import FETCHED_AT, action, insights_row

ANALYSES = Path(__file__).resolve().parent.parent / "analyses"
SCHEMA = "facebook_ads"
FIRST_DAY = dt.date(2026, 11, 2)  # a Monday, so the weekly trend has two full weeks
DAYS = [FIRST_DAY + dt.timedelta(days=i) for i in range(14)]
# account, currency, campaign → its ads
CAMPAIGNS = {
    ("1", "USD", "100"): ("1001", "1002"),
    ("1", "USD", "101"): ("1011",),
    ("2", "JPY", "200"): ("2001", "2002"),
}


def api_rows() -> dict[str, list[dict]]:
    """Two weeks of ad rows per account, with purchases, leads and per-window counts."""
    rows: dict[str, list[dict]] = defaultdict(list)
    for (account_id, currency, campaign_id), ads in CAMPAIGNS.items():
        for ad_number, ad_id in enumerate(ads):
            for day_number, day in enumerate(DAYS):
                n = day_number + 3 * ad_number + int(campaign_id)
                if n % 11 == 0:
                    continue  # a day without delivery: the API sends no row
                spend = f"{n * 3 + 0.37:.2f}" if currency == "USD" else str(n * 450)
                purchases = n % 4
                rows[account_id].append(
                    insights_row(
                        ad_id,
                        day.isoformat(),
                        account_id=account_id,
                        campaign_id=campaign_id,
                        currency=currency,
                        impressions=1000 + 17 * n,
                        clicks=n % 7 * 3,
                        spend=spend,
                        actions=[
                            action(
                                "purchase",
                                str(purchases),
                                {
                                    "1d_click": str(purchases // 2),
                                    "7d_click": str(purchases),
                                    "28d_click": str(purchases + 1),
                                    "1d_view": "1",
                                },
                            ),
                            action("lead", str(n % 3), {"7d_click": str(n % 3)}),
                            action("link_click", str(n % 7 * 2)),
                        ],
                        action_values=[
                            action(
                                "purchase",
                                f"{purchases * 24.99:.2f}" if currency == "USD" else "0",
                                {"7d_click": "1"},
                            )
                        ],
                    )
                )
    return rows


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> duckdb.DuckDBPyConnection:
    path = tmp_path_factory.mktemp("analyses") / "fbads.duckdb"
    connection = duckdb.connect(str(path))
    connection.execute(f"CREATE SCHEMA {SCHEMA}")
    for table in TABLES.values():
        connection.execute(create_table_sql(table))

    for account_id, rows in api_rows().items():
        raw = raw_frame(
            account_id, rows, fingerprint="fp", api_version="v26.0", fetched_at=FETCHED_AT
        )
        daily = insights_daily_frame(raw)
        conversions = conversions_daily_frame(raw)
        mart = campaign_daily_frame(daily, conversions)
        for name, frame in (
            ("ad_insights_raw", raw),
            ("ad_insights_daily", daily),
            ("ad_conversions_daily", conversions),
            ("facebook_ads_campaign_daily", mart),
        ):
            insert(connection, name, frame)
    yield connection
    connection.close()


def create_table_sql(table: Table) -> str:
    columns = ", ".join(f'"{c.name}" {DUCKDB_TYPES[c.type]}' for c in table.columns)
    key = ", ".join(table.primary_key)
    return f"CREATE TABLE {SCHEMA}.{table.name} ({columns}, PRIMARY KEY ({key}))"


def insert(connection: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame) -> None:
    connection.register("frame", frame)
    connection.execute(f"INSERT INTO {SCHEMA}.{name} BY NAME SELECT * FROM frame")
    connection.unregister("frame")


def run_analysis(connection: duckdb.DuckDBPyConnection, filename: str) -> pd.DataFrame:
    return connection.execute((ANALYSES / filename).read_text()).df()


def all_rows() -> list[dict]:
    return [row for rows in api_rows().values() for row in rows]


def default_value(row: dict, list_name: str, action_types: tuple[str, ...]) -> Decimal:
    return sum(
        (Decimal(a["value"]) for a in row.get(list_name, []) if a["action_type"] in action_types),
        Decimal(0),
    )


def window_count(row: dict, action_type: str, window: str) -> Decimal | None:
    for element in row.get("actions", []):
        if element["action_type"] == action_type:
            amount = element["value"] if window == "default" else element.get(window)
            return None if amount is None else Decimal(amount)
    return None


def test_every_analysis_has_a_header_saying_what_it_answers_and_how_to_run_it():
    files = sorted(ANALYSES.glob("*.sql"))

    assert len(files) >= 4
    for path in files:
        header = path.read_text().splitlines()[0]
        assert header.startswith("-- "), path.name
        assert "Run: duckdb" in path.read_text(), path.name


def test_every_analysis_file_has_a_numbers_test():
    tested = {name for name in CHECKS}

    assert {path.name for path in ANALYSES.glob("*.sql")} == tested


@pytest.mark.parametrize("filename", sorted(p.name for p in ANALYSES.glob("*.sql")))
def test_analysis_runs_and_returns_rows(warehouse, filename):
    result = run_analysis(warehouse, filename)

    assert len(result) > 0
    CHECKS[filename](result)


def check_daily_spend_ctr(result: pd.DataFrame) -> None:
    expected: dict[tuple[str, dt.date], list] = defaultdict(lambda: [Decimal(0), 0, 0])
    for row in all_rows():
        sums = expected[(row["campaign_id"], dt.date.fromisoformat(row["date_start"]))]
        sums[0] += Decimal(row["spend"])
        sums[1] += int(row["clicks"])
        sums[2] += int(row["impressions"])

    assert len(result) == len(expected)
    for got in result.itertuples():
        spend, clicks, impressions = expected[
            (got.campaign_id, pd.Timestamp(got.report_date).date())
        ]
        assert Decimal(str(got.spend)) == spend
        assert (got.clicks, got.impressions) == (clicks, impressions)
        assert got.ctr_percent == pytest.approx(round(100 * clicks / impressions, 4))
    assert pd.Timestamp(result.iloc[0]["report_date"]).date() == DAYS[-1]


def check_roas(result: pd.DataFrame) -> None:
    spend: dict[str, Decimal] = defaultdict(Decimal)
    value: dict[str, Decimal] = defaultdict(Decimal)
    conversions: dict[str, Decimal] = defaultdict(Decimal)
    for row in all_rows():
        spend[row["campaign_id"]] += Decimal(row["spend"])
        value[row["campaign_id"]] += default_value(
            row, "action_values", DEFAULT_CONVERSION_ACTION_TYPES
        )
        conversions[row["campaign_id"]] += default_value(
            row, "actions", DEFAULT_CONVERSION_ACTION_TYPES
        )

    by_campaign = result.set_index("campaign_id")
    assert set(by_campaign.index) == set(spend)
    for campaign_id, campaign_spend in spend.items():
        got = by_campaign.loc[campaign_id]
        assert Decimal(str(got["spend"])) == campaign_spend
        assert Decimal(str(got["conversion_value"])) == value[campaign_id]
        assert got["conversions"] == float(conversions[campaign_id])
        assert got["roas"] == pytest.approx(float(round(value[campaign_id] / campaign_spend, 4)))
    assert by_campaign.loc["200", "currency"] == "JPY"
    assert by_campaign.loc["200", "roas"] == 0
    # Highest ROAS first.
    assert result["roas"].tolist() == sorted(result["roas"].tolist(), reverse=True)


def check_attribution_windows(result: pd.DataFrame) -> None:
    columns = {
        "default": "default_window",
        "1d_click": "click_1d",
        "7d_click": "click_7d",
        "28d_click": "click_28d",
        "1d_view": "view_1d",
    }
    got = result.set_index(["campaign_id", "action_type"])
    assert set(got.index.get_level_values("action_type")) == {"purchase", "lead"}
    for campaign_id in {row["campaign_id"] for row in all_rows()}:
        for window, column in columns.items():
            counts = [
                window_count(row, "purchase", window)
                for row in all_rows()
                if row["campaign_id"] == campaign_id
            ]
            expected = sum((c for c in counts if c is not None), Decimal(0))
            assert got.loc[(campaign_id, "purchase"), column] == float(expected), window
        purchase = got.loc[(campaign_id, "purchase")]
        assert purchase["click_28d"] > purchase["click_7d"] >= purchase["click_1d"]
        assert purchase["share_of_7d_click_in_1d"] == pytest.approx(
            round(purchase["click_1d"] / purchase["click_7d"], 4)
        )
        # No row carried an engaged-view count: absent, not zero.
        assert pd.isna(purchase["engaged_view_1d"])
        # Leads only came with a 7-day-click key besides the default value.
        assert pd.isna(got.loc[(campaign_id, "lead"), "click_1d"])


def check_cost_per_conversion_trend(result: pd.DataFrame) -> None:
    spend: dict[tuple[str, dt.date], Decimal] = defaultdict(Decimal)
    conversions: dict[tuple[str, dt.date], Decimal] = defaultdict(Decimal)
    for row in all_rows():
        day = dt.date.fromisoformat(row["date_start"])
        key = (row["campaign_id"], day - dt.timedelta(days=day.weekday()))
        spend[key] += Decimal(row["spend"])
        conversions[key] += default_value(row, "actions", DEFAULT_CONVERSION_ACTION_TYPES)

    assert len(result) == len(spend) == 3 * 2
    for got in result.itertuples():
        key = (got.campaign_id, pd.Timestamp(got.week_start).date())
        assert Decimal(str(got.spend)) == spend[key]
        assert got.cost_per_conversion == pytest.approx(
            float(round(spend[key] / conversions[key], 4))
        )
    for campaign_id, weeks in result.groupby("campaign_id"):
        first, second = weeks.sort_values("week_start")["cost_per_conversion"].tolist()
        change = weeks.sort_values("week_start")["change_from_previous_week"].tolist()
        assert pd.isna(change[0]), campaign_id
        # Both sides are rounded to 4 places separately, so they may differ in the last one.
        assert change[1] == pytest.approx(second - first, abs=2e-4)


CHECKS = {
    "daily_spend_ctr_by_campaign.sql": check_daily_spend_ctr,
    "roas_by_campaign.sql": check_roas,
    "attribution_windows_compared.sql": check_attribution_windows,
    "cost_per_conversion_trend.sql": check_cost_per_conversion_trend,
}

"""The campaign daily mart: sums that reconcile with the ad rows, conversions, ratios."""

from __future__ import annotations

import pandas as pd
import pytest

from fbads_assets.transform.insights import conversions_daily_frame, insights_daily_frame
from fbads_assets.transform.mart import DEFAULT_CONVERSION_ACTION_TYPES, campaign_daily_frame
from fbads_assets.warehouse.tables import AD_CONVERSIONS_DAILY, AD_INSIGHTS_DAILY, CAMPAIGN_DAILY
from fbads_assets_tests.test_transform_insights import (
    action,
    assert_conforms,
    assert_primary_key_unique,
    insights_row,
    to_raw,
)

DAYS = ("2026-11-01", "2026-11-02", "2026-11-03")


def mart_of(rows: list[dict], **kwargs) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    raw = to_raw(rows)
    daily = insights_daily_frame(raw)
    conversions = conversions_daily_frame(raw)
    return daily, conversions, campaign_daily_frame(daily, conversions, **kwargs)


def delivery_rows() -> list[dict]:
    """Two campaigns, three ads each, three days; cents chosen so float sums drift."""
    rows = []
    for day_number, day in enumerate(DAYS):
        for ad in range(6):
            rows.append(
                insights_row(
                    str(1000 + ad),
                    day,
                    campaign_id="100" if ad < 3 else "101",
                    adset_id=str(200 + ad // 3),
                    impressions=1000 + 37 * ad + day_number,
                    clicks=10 + ad,
                    spend=f"{0.1 + ad * 3.33 + day_number * 0.07:.2f}",
                    actions=[
                        action("purchase", "2", {"1d_click": "1", "7d_click": "2"}),
                        action("lead", "1", {"7d_click": "1"}),
                        action("link_click", "9", {"1d_click": "9"}),
                    ],
                    action_values=[action("purchase", "19.99", {"7d_click": "19.99"})],
                )
            )
    return rows


def test_mart_sums_equal_the_ad_rows_to_the_cent():
    daily, _, mart = mart_of(delivery_rows())

    assert_conforms(mart, CAMPAIGN_DAILY)
    assert_primary_key_unique(mart, CAMPAIGN_DAILY)
    assert len(mart) == 2 * len(DAYS)
    by_campaign_day = daily.groupby(["campaign_id", "date_start"])
    expected = by_campaign_day[["impressions", "clicks", "spend"]].sum()
    got = mart.set_index(["campaign_id", "report_date"])
    for (campaign_id, day), sums in expected.iterrows():
        row = got.loc[(campaign_id, day)]
        assert row["impressions"] == sums["impressions"]
        assert row["clicks"] == sums["clicks"]
        assert round(row["spend"] * 100) == round(sums["spend"] * 100)
    assert round(mart["spend"].sum(), 2) == round(daily["spend"].sum(), 2)
    assert mart["impressions"].sum() == daily["impressions"].sum()


def test_conversions_count_purchases_and_leads_in_the_default_window_only():
    _, conversions, mart = mart_of(delivery_rows())

    # Per ad and day: 2 purchases + 1 lead by default; 7d_click and link_click do not count.
    assert (mart["conversions"] == 3 * 3.0).all()
    assert mart["conversion_value"].tolist() == [59.97] * len(mart)
    default = conversions[
        (conversions["attribution_window"] == "default")
        & conversions["action_type"].isin(DEFAULT_CONVERSION_ACTION_TYPES)
    ]
    assert mart["conversions"].sum() == default["actions"].sum()
    assert mart["roas"].tolist() == pytest.approx(
        (mart["conversion_value"] / mart["spend"]).tolist()
    )


def test_the_conversion_action_types_are_configurable():
    _, _, mart = mart_of(delivery_rows(), conversion_action_types=("link_click",))

    assert (mart["conversions"] == 3 * 9.0).all()
    assert (mart["conversion_value"] == 0).all()


def test_ratios_are_recomputed_from_the_sums():
    rows = [
        insights_row("1", DAYS[0], impressions=1000, clicks=10, spend="5.00"),
        insights_row("2", DAYS[0], impressions=3000, clicks=50, spend="7.00"),
    ]

    _, _, mart = mart_of(rows)

    row = mart.iloc[0]
    assert row["ctr"] == pytest.approx(60 / 4000 * 100)
    assert row["cpc"] == pytest.approx(12 / 60)
    assert row["cpm"] == pytest.approx(12 / 4000 * 1000)


def test_ratios_are_null_when_their_divisor_is_zero():
    rows = [
        insights_row("1", DAYS[0], campaign_id="100", impressions=0, clicks=0, spend="0"),
        insights_row("2", DAYS[0], campaign_id="101", impressions=500, clicks=0, spend="1.50"),
    ]

    _, _, mart = mart_of(rows)

    nothing, no_clicks = mart.iloc[0], mart.iloc[1]
    assert nothing["conversions"] == 0
    for ratio in ("ctr", "cpc", "cpm", "roas"):
        assert pd.isna(nothing[ratio]), ratio
    assert pd.isna(no_clicks["cpc"])
    assert no_clicks["ctr"] == 0
    assert no_clicks["cpm"] == pytest.approx(3.0)
    assert no_clicks["roas"] == 0


def test_jpy_campaign_money_stays_in_whole_yen():
    rows = [
        insights_row(
            str(ad),
            DAYS[0],
            account_id="2",
            currency="JPY",
            spend=spend,
            actions=[action("purchase", "1")],
            action_values=[action("purchase", "3980")],
        )
        for ad, spend in ((1, "1234"), (2, "566"))
    ]

    raw = to_raw(rows, account_id="2")
    mart = campaign_daily_frame(insights_daily_frame(raw), conversions_daily_frame(raw))

    row = mart.iloc[0]
    assert (row["currency"], row["account_id"]) == ("JPY", "2")
    assert (row["spend"], row["conversion_value"]) == (1800.0, 7960.0)
    assert row["roas"] == pytest.approx(7960 / 1800)


def test_campaign_name_and_currency_come_from_the_daily_rows():
    _, _, mart = mart_of(delivery_rows())

    assert set(mart["campaign_name"]) == {"Campaign 100", "Campaign 101"}
    assert set(mart["currency"]) == {"USD"}
    assert set(mart["account_id"]) == {"1"}


def test_empty_inputs_give_an_empty_mart():
    empty_daily = insights_daily_frame(to_raw([]))
    empty_conversions = conversions_daily_frame(to_raw([]))
    assert_conforms(empty_daily, AD_INSIGHTS_DAILY)
    assert_conforms(empty_conversions, AD_CONVERSIONS_DAILY)

    mart = campaign_daily_frame(empty_daily, empty_conversions)

    assert mart.empty
    assert_conforms(mart, CAMPAIGN_DAILY)


def test_delivery_without_any_actions_gives_zero_conversions():
    rows = [insights_row("1", DAYS[0], spend="4.20")]

    _, conversions, mart = mart_of(rows)

    assert conversions.empty
    assert mart.loc[0, "conversions"] == 0
    assert mart.loc[0, "conversion_value"] == 0
    assert mart.loc[0, "spend"] == 4.2

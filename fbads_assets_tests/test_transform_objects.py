"""Ad accounts, campaigns, ad sets, ads and creatives: API objects → typed frames."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from fbads_assets.transform.money import minor_to_major
from fbads_assets.transform.objects import (
    ad_accounts_frame,
    ad_creatives_frame,
    ad_sets_frame,
    ads_frame,
    campaigns_frame,
)
from fbads_assets.warehouse.tables import AD_ACCOUNTS, AD_CREATIVES, AD_SETS, ADS, CAMPAIGNS
from fbads_assets_tests.test_transform_insights import assert_conforms, assert_primary_key_unique

FETCHED_AT = dt.datetime(2026, 12, 2, 8, 30, tzinfo=dt.UTC)


def account_row(account_id: str, currency: str, **overrides) -> dict:
    return {
        "id": f"act_{account_id}",
        "account_id": account_id,
        "name": f"Account {account_id}",
        "currency": currency,
        "timezone_name": "America/Los_Angeles",
        "timezone_offset_hours_utc": -8.0,
        "account_status": 1,
        "business": {"id": "777", "name": "Shop Inc"},
        "amount_spent": "123456",
        "created_time": "2023-03-21T22:33:56-0700",
    } | overrides


def test_ad_accounts_are_typed_with_status_names_and_major_units():
    rows = [
        account_row("1", "USD"),
        account_row("2", "JPY", account_status=101, business=None, amount_spent="98765"),
    ]

    accounts = ad_accounts_frame(rows, fetched_at=FETCHED_AT).set_index("account_id")

    assert_conforms(accounts.reset_index(), AD_ACCOUNTS)
    usd, jpy = accounts.loc["1"], accounts.loc["2"]
    assert (usd["status"], usd["account_status"]) == ("ACTIVE", 1)
    assert (jpy["status"], jpy["account_status"]) == ("CLOSED", 101)
    assert usd["amount_spent"] == 1234.56
    assert jpy["amount_spent"] == 98765.0
    assert (usd["business_id"], usd["business_name"]) == ("777", "Shop Inc")
    assert jpy["business_id"] is None
    assert usd["timezone_offset_hours_utc"] == -8.0
    assert usd["created_time"] == pd.Timestamp("2023-03-22 05:33:56", tz="UTC")
    assert usd["fetched_at"] == pd.Timestamp(FETCHED_AT)


def test_ad_account_ids_come_without_the_act_prefix_even_from_the_id():
    row = account_row("5", "EUR")
    del row["account_id"]

    accounts = ad_accounts_frame([row], fetched_at=FETCHED_AT)

    assert accounts.loc[0, "account_id"] == "5"


def test_an_unknown_account_status_code_is_named_not_dropped():
    accounts = ad_accounts_frame([account_row("1", "USD", account_status=42)], FETCHED_AT)

    assert accounts.loc[0, "status"] == "UNKNOWN_42"


@pytest.mark.parametrize(
    ("amount", "currency", "major"),
    [
        ("123456", "USD", 1234.56),
        ("5", "EUR", 0.05),
        ("1200", "JPY", 1200.0),
        ("50000", "KRW", 50000.0),
        ("99", "vnd", 99.0),
        ("", "USD", None),
        (None, "JPY", None),
    ],
)
def test_minor_units_convert_by_the_currency_offset(amount, currency, major):
    assert minor_to_major(amount, currency) == major


def test_a_malformed_amount_names_itself():
    with pytest.raises(ValueError, match="'12.3.4'"):
        minor_to_major("12.3.4", "USD")


def test_campaign_budgets_are_major_units_and_times_utc():
    rows = [
        {
            "id": "100",
            "account_id": "1",
            "name": "Spring sale",
            "objective": "OUTCOME_SALES",
            "status": "ACTIVE",
            "effective_status": "ACTIVE",
            "buying_type": "AUCTION",
            "bid_strategy": "LOWEST_COST_WITHOUT_CAP",
            "daily_budget": "5000",
            "budget_remaining": "1234",
            "special_ad_categories": [],
            "start_time": "2026-03-01T09:00:00+0100",
            "created_time": "2026-02-27T10:00:00-0800",
            "updated_time": "2026-11-30T23:59:59-0800",
        },
        {"id": "101", "name": "Archived", "status": "ARCHIVED", "lifetime_budget": "100000"},
    ]

    campaigns = campaigns_frame(rows, "act_1", "USD", FETCHED_AT).set_index("campaign_id")

    assert_conforms(campaigns.reset_index(), CAMPAIGNS)
    spring, archived = campaigns.loc["100"], campaigns.loc["101"]
    assert (spring["daily_budget"], spring["budget_remaining"]) == (50.0, 12.34)
    assert pd.isna(spring["lifetime_budget"])
    assert archived["lifetime_budget"] == 1000.0
    assert archived["account_id"] == "1"
    assert spring["start_time"] == pd.Timestamp("2026-03-01 08:00:00", tz="UTC")
    assert spring["updated_time"] == pd.Timestamp("2026-12-01 07:59:59", tz="UTC")
    assert pd.isna(archived["stop_time"])
    assert (spring["objective"], archived["status"]) == ("OUTCOME_SALES", "ARCHIVED")


def test_jpy_budgets_are_whole_yen():
    campaigns = campaigns_frame([{"id": "9", "daily_budget": "3000"}], "2", "JPY", FETCHED_AT)

    assert campaigns.loc[0, "daily_budget"] == 3000.0


def test_ad_set_attribution_spec_is_stored_as_json_text():
    spec = [{"event_type": "CLICK_THROUGH", "window_days": 7}]
    rows = [
        {
            "id": "200",
            "campaign_id": "100",
            "name": "Lookalikes",
            "status": "PAUSED",
            "effective_status": "CAMPAIGN_PAUSED",
            "optimization_goal": "OFFSITE_CONVERSIONS",
            "billing_event": "IMPRESSIONS",
            "bid_amount": 150,
            "daily_budget": "2500",
            "attribution_spec": spec,
            "targeting": {"geo_locations": {"countries": ["US"]}},
            "end_time": "2026-12-31T23:59:59-0800",
        }
    ]

    ad_sets = ad_sets_frame(rows, "1", "USD", FETCHED_AT)

    assert_conforms(ad_sets, AD_SETS)
    row = ad_sets.iloc[0]
    assert json.loads(row["attribution_spec"]) == spec
    assert (row["bid_amount"], row["daily_budget"]) == (1.5, 25.0)
    assert (row["adset_id"], row["campaign_id"], row["account_id"]) == ("200", "100", "1")
    assert row["effective_status"] == "CAMPAIGN_PAUSED"
    assert row["end_time"] == pd.Timestamp("2027-01-01 07:59:59", tz="UTC")


def test_ads_take_the_creative_id_from_the_nested_creative():
    rows = [
        {"id": "300", "adset_id": "200", "campaign_id": "100", "creative": {"id": "900"}},
        {"id": "301", "adset_id": "200", "campaign_id": "100", "status": "DELETED"},
    ]

    ads = ads_frame(rows, "1", "USD", FETCHED_AT)

    assert_conforms(ads, ADS)
    assert ads["creative_id"].tolist() == ["900", None]
    assert ads["status"].tolist() == [None, "DELETED"]
    assert_primary_key_unique(ads, ADS)


def test_creatives_prefer_the_effective_object_story_id():
    rows = [
        {
            "id": "900",
            "name": "Red shoes",
            "title": "Shoes",
            "body": "Buy them",
            "call_to_action_type": "SHOP_NOW",
            "effective_object_story_id": "55_66",
            "object_story_spec": {"page_id": "55"},
        },
        {"id": "901", "object_story_id": "55_77"},
    ]

    creatives = ad_creatives_frame(rows, "1", "USD", FETCHED_AT)

    assert_conforms(creatives, AD_CREATIVES)
    assert creatives["object_story_id"].tolist() == ["55_66", "55_77"]
    assert creatives.loc[0, "call_to_action_type"] == "SHOP_NOW"
    assert creatives.loc[1, "image_url"] is None


@pytest.mark.parametrize(
    ("transform", "table"),
    [
        (campaigns_frame, CAMPAIGNS),
        (ad_sets_frame, AD_SETS),
        (ads_frame, ADS),
        (ad_creatives_frame, AD_CREATIVES),
    ],
)
def test_an_account_without_objects_gives_an_empty_typed_frame(transform, table):
    frame = transform([], "1", "USD", FETCHED_AT)

    assert frame.empty
    assert_conforms(frame, table)


def test_no_accounts_gives_an_empty_typed_frame():
    frame = ad_accounts_frame([], FETCHED_AT)

    assert frame.empty
    assert_conforms(frame, AD_ACCOUNTS)

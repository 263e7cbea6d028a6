"""The sandbox's data, read through the facebook-business SDK as a client would read Meta's.

Ground truth comes from the SDK's answers at other levels (additivity) or from a second sandbox
(determinism), never from the sandbox's internals.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.adobjects.user import User

from fbads_assets.sandbox import SandboxConfig, run_sandbox
from fbads_assets.sandbox.sdk import make_api

# 05:00 UTC: still the 29th in Los Angeles, already the 30th in Berlin and Tokyo.
NOW = dt.datetime(2026, 11, 30, 5, tzinfo=dt.UTC)
CONFIG = SandboxConfig(seed=11, now=NOW, history_days=60)
MONEY_FIELDS = [
    "spend",
    "impressions",
    "clicks",
    "inline_link_clicks",
    "actions",
    "action_values",
    "reach",
]


@pytest.fixture(scope="module")
def sandbox():
    with run_sandbox(CONFIG) as running:
        yield running


@pytest.fixture(scope="module")
def api(sandbox):
    return make_api(sandbox.base_url, sandbox.demo_token)


@pytest.fixture(scope="module")
def accounts(api):
    fields = ["id", "account_id", "name", "currency", "timezone_name", "timezone_offset_hours_utc"]
    return [dict(a) for a in User("me", api=api).get_ad_accounts(fields=fields)]


def insights(api, account_id, **params):
    fields = params.pop("fields", MONEY_FIELDS + ["ad_id", "adset_id", "campaign_id"])
    params.setdefault("limit", 500)
    cursor = AdAccount(f"act_{account_id}", api=api).get_insights(fields=fields, params=params)
    return [dict(row) for row in cursor]


def minor(amount: str, currency: str) -> int:
    return int(Decimal(amount) * (1 if currency == "JPY" else 100))


def action(row, key, action_type="purchase", window="value"):
    for entry in row.get(key, []):
        if entry["action_type"] == action_type:
            return entry.get(window, "0")
    return "0"


def test_accounts_span_time_zones_and_a_zero_decimal_currency(accounts):
    by_currency = {a["currency"]: a for a in accounts}
    assert {"USD", "EUR", "JPY"} <= set(by_currency)
    assert by_currency["USD"]["timezone_offset_hours_utc"] < 0
    assert by_currency["EUR"]["timezone_offset_hours_utc"] > 0
    assert by_currency["JPY"]["timezone_name"] == "Asia/Tokyo"
    for account in accounts:
        assert account["id"] == f"act_{account['account_id']}"
        assert account["account_id"].isdigit()


@pytest.mark.parametrize("currency", ["USD", "JPY"])
def test_spend_and_conversion_values_add_up_across_levels_to_the_cent(api, accounts, currency):
    account = next(a for a in accounts if a["currency"] == currency)
    range_ = {"since": "2026-10-01", "until": "2026-11-20"}
    totals = {}
    for level in ("ad", "adset", "campaign", "account"):
        rows = insights(api, account["account_id"], level=level, time_range=range_)
        totals[level] = (
            sum(minor(r["spend"], currency) for r in rows),
            sum(int(r["impressions"]) for r in rows),
            sum(minor(action(r, "action_values"), currency) for r in rows),
            sum(int(action(r, "actions", "add_to_cart", "28d_click")) for r in rows),
        )
    assert totals["ad"][0] > 0 and totals["ad"][2] > 0
    assert totals["ad"] == totals["adset"] == totals["campaign"] == totals["account"]


def test_daily_account_rows_equal_the_sum_of_their_ads_each_day(api, accounts):
    account = accounts[1]
    params = {"time_range": {"since": "2026-11-01", "until": "2026-11-14"}, "time_increment": 1}
    by_day: dict[str, int] = {}
    for row in insights(api, account["account_id"], level="ad", **params):
        by_day[row["date_start"]] = by_day.get(row["date_start"], 0) + minor(row["spend"], "EUR")
    account_rows = insights(api, account["account_id"], level="account", **params)
    assert {r["date_start"]: minor(r["spend"], "EUR") for r in account_rows} == by_day


def test_reach_is_computed_per_level_not_summed(api, accounts):
    account_id = accounts[0]["account_id"]
    range_ = {"since": "2026-11-01", "until": "2026-11-07"}
    ads = insights(api, account_id, level="ad", time_range=range_)
    (total,) = insights(api, account_id, level="account", time_range=range_)
    assert int(total["reach"]) < sum(int(r["reach"]) for r in ads)
    assert int(total["reach"]) <= int(total["impressions"])
    assert int(total["reach"]) >= max(int(r["reach"]) for r in ads)


def test_metrics_are_strings_and_ratios_follow_from_them(api, accounts):
    fields = [
        "impressions",
        "clicks",
        "spend",
        "ctr",
        "cpc",
        "cpm",
        "frequency",
        "reach",
        "cost_per_action_type",
        "actions",
    ]
    row = insights(
        api, accounts[0]["account_id"], level="account", fields=fields, date_preset="last_7d"
    )[0]
    assert all(isinstance(row[name], str) for name in fields[:8])
    spend, clicks, imps = Decimal(row["spend"]), int(row["clicks"]), int(row["impressions"])
    assert abs(Decimal(row["ctr"]) - Decimal(clicks * 100) / imps) < Decimal("0.00001")
    assert abs(Decimal(row["cpc"]) - spend / clicks) < Decimal("0.00001")
    assert abs(Decimal(row["cpm"]) - spend * 1000 / imps) < Decimal("0.00001")
    assert abs(Decimal(row["frequency"]) - Decimal(imps) / int(row["reach"])) < Decimal("0.00001")
    links = int(action(row, "actions", "link_click"))
    cost = Decimal(action(row, "cost_per_action_type", "link_click"))
    assert abs(cost - spend / links) < Decimal("0.00001")


def test_attribution_windows_are_ordered_and_value_is_7d_click_plus_1d_view(api, accounts):
    rows = insights(
        api,
        accounts[0]["account_id"],
        level="ad",
        time_increment=1,
        date_preset="last_30d",
        action_attribution_windows=["1d_click", "7d_click", "28d_click", "1d_view", "7d_view"],
    )
    checked = 0
    for row in rows:
        for entry in row.get("actions", []) + row.get("action_values", []):
            if entry["action_type"] not in ("add_to_cart", "purchase", "lead"):
                continue
            one, seven, month = (Decimal(entry[w]) for w in ("1d_click", "7d_click", "28d_click"))
            assert one <= seven <= month
            assert Decimal(entry["value"]) == seven + Decimal(entry["1d_view"])
            assert "7d_view" not in entry  # removed by Meta on 2026-01-12: omitted, not an error
            checked += 1
    assert checked > 20


def test_no_rows_after_each_accounts_today(api, accounts):
    for account in accounts:
        rows = insights(
            api,
            account["account_id"],
            level="account",
            time_increment=1,
            time_range={"since": "2026-11-20", "until": "2026-12-05"},
        )
        local_today = NOW.astimezone(_zone(account["timezone_name"])).date().isoformat()
        assert max(r["date_start"] for r in rows) == local_today


def test_some_account_days_have_no_rows_at_all(api, accounts):
    days_with_rows = set()
    for row in insights(
        api,
        accounts[0]["account_id"],
        level="account",
        time_increment=1,
        time_range={"since": "2026-10-02", "until": "2026-11-28"},
    ):
        days_with_rows.add(row["date_start"])
    assert 40 <= len(days_with_rows) < 58


def test_late_attribution_grows_until_28_days_then_is_final(sandbox, api, accounts):
    account_id = accounts[2]["account_id"]
    week = {"since": "2026-11-20", "until": "2026-11-26"}

    def purchases():
        (row,) = insights(
            api,
            account_id,
            level="account",
            time_range=week,
            action_attribution_windows=["28d_click"],
        )
        return (
            int(action(row, "actions", "add_to_cart", "28d_click")),
            minor(action(row, "action_values"), "JPY"),
            row["spend"],
        )

    try:
        early = purchases()
        sandbox.clock.advance(dt.timedelta(days=10))
        later = purchases()
        sandbox.clock.advance(dt.timedelta(days=25))
        settled = purchases()
        sandbox.clock.advance(dt.timedelta(days=40))
        final = purchases()
    finally:
        sandbox.clock.set(NOW)
    assert early[0] < later[0] < settled[0]
    assert early[1] < later[1] < settled[1]
    assert settled == final
    assert early[2] == later[2] == final[2]  # spend does not restate


def test_archived_and_deleted_objects_appear_only_when_asked_for(api, accounts):
    account = AdAccount(accounts[0]["id"], api=api)
    default = [dict(ad) for ad in account.get_ads(fields=["effective_status"])]
    hidden = [
        dict(ad)
        for ad in account.get_ads(
            fields=["effective_status"], params={"effective_status": ["ARCHIVED", "DELETED"]}
        )
    ]
    filtered = [
        dict(ad)
        for ad in account.get_ads(
            fields=["effective_status"],
            params={
                "filtering": [
                    {"field": "ad.effective_status", "operator": "IN", "value": ["DELETED"]}
                ]
            },
        )
    ]
    assert {a["effective_status"] for a in default}.isdisjoint({"ARCHIVED", "DELETED"})
    assert {a["effective_status"] for a in default} >= {"ACTIVE", "PAUSED"}
    assert {a["effective_status"] for a in hidden} == {"ARCHIVED", "DELETED"}
    assert filtered and {a["effective_status"] for a in filtered} == {"DELETED"}
    hidden_ids = {a["id"] for a in hidden}
    rows = insights(
        api,
        accounts[0]["account_id"],
        level="ad",
        time_range={"since": "2026-10-01", "until": "2026-10-10"},
    )
    assert hidden_ids & {r["ad_id"] for r in rows}, "hidden ads still report past delivery"


def test_objects_carry_reference_fields(api, accounts):
    account = AdAccount(accounts[0]["id"], api=api)
    campaign = dict(
        next(
            iter(
                account.get_campaigns(
                    fields=["name", "objective", "daily_budget", "created_time", "status"]
                )
            )
        )
    )
    assert campaign["daily_budget"].isdigit()
    dt.datetime.strptime(campaign["created_time"], "%Y-%m-%dT%H:%M:%S%z")
    ad = dict(next(iter(account.get_ads(fields=["creative", "adset_id", "campaign_id"]))))
    assert set(ad["creative"]) == {"id"}
    creatives = list(account.get_ad_creatives(fields=["title", "object_story_spec"]))
    assert creatives and creatives[0]["object_story_spec"]
    assert dict(account.api_get(fields=["amount_spent"]))["amount_spent"].isdigit()


@pytest.mark.parametrize(
    "breakdown", [["age"], ["gender"], ["age", "gender"], ["country"], ["publisher_platform"]]
)
def test_breakdowns_split_the_totals_exactly(api, accounts, breakdown):
    account_id = accounts[0]["account_id"]
    range_ = {"since": "2026-11-10", "until": "2026-11-12"}
    (total,) = insights(
        api, account_id, level="account", time_range=range_, fields=["spend", "impressions"]
    )
    rows = insights(
        api,
        account_id,
        level="account",
        time_range=range_,
        breakdowns=breakdown,
        fields=["spend", "impressions"],
    )
    assert all(set(breakdown) <= set(r) for r in rows) and len(rows) > 2
    assert sum(minor(r["spend"], "USD") for r in rows) == minor(total["spend"], "USD")
    assert sum(int(r["impressions"]) for r in rows) == int(total["impressions"])


def test_the_same_seed_gives_the_same_data_after_a_restart(api, accounts):
    params = {
        "level": "ad",
        "time_increment": 1,
        "date_preset": "last_14d",
        "action_attribution_windows": ["1d_click", "7d_click"],
    }
    first = insights(api, accounts[0]["account_id"], **params)
    with run_sandbox(CONFIG) as again:
        second = insights(
            make_api(again.base_url, again.demo_token), accounts[0]["account_id"], **params
        )
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
    with run_sandbox(SandboxConfig(seed=12, now=NOW, history_days=60)) as other:
        other_api = make_api(other.base_url, other.demo_token)
        other_accounts = [a["account_id"] for a in User("me", api=other_api).get_ad_accounts()]
    assert accounts[0]["account_id"] not in other_accounts


def _zone(name):
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def test_daily_ad_rows_are_the_same_with_or_without_a_pass_through_filter(api, accounts):
    # A metric filter sends the query down the general row path; without one, ad-level daily
    # reports take the sandbox's fast path. Both must give the same rows.
    params = {
        "level": "ad",
        "time_increment": 1,
        "date_preset": "last_30d",
        "fields": ["ad_id", "spend", "actions", "ctr"],
    }
    plain = insights(api, accounts[0]["account_id"], **params)
    filtered = insights(
        api,
        accounts[0]["account_id"],
        **params,
        filtering=[{"field": "ad.impressions", "operator": "GREATER_THAN", "value": 0}],
    )
    assert len(plain) > 100 and plain == filtered


def test_insights_under_a_campaign_cover_only_its_ads(sandbox, api):
    from facebook_business.adobjects.campaign import Campaign

    campaign = sandbox.world.accounts[0].campaigns[0]
    rows = [
        dict(r)
        for r in Campaign(campaign["id"], api=api).get_insights(
            fields=["campaign_id", "spend"], params={"date_preset": "last_30d"}
        )
    ]
    ads = insights(
        api,
        sandbox.world.accounts[0].id,
        level="ad",
        date_preset="last_30d",
        filtering=[{"field": "campaign.id", "operator": "IN", "value": [campaign["id"]]}],
    )
    assert [r["campaign_id"] for r in rows] == [campaign["id"]]
    assert minor(rows[0]["spend"], "USD") == sum(minor(r["spend"], "USD") for r in ads)

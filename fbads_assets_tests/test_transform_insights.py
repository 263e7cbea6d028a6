"""Insights rows → raw frame → typed daily metrics and long-form conversions.

The row builders here produce rows shaped as the Marketing API sends them (every metric a
string, lists omitted when empty, per-window keys on action elements); the mart and analyses
tests reuse them.
"""

from __future__ import annotations

import datetime as dt
import json
import random

import pandas as pd
import pytest

from fbads_assets.api.redaction import redact_obj, register_secret
from fbads_assets.transform import insights as insights_module
from fbads_assets.transform.insights import (
    ATTRIBUTION_WINDOW_KEYS,
    conversions_daily_frame,
    insights_daily_frame,
    raw_frame,
    raw_rows,
    rows_as_redacted_json,
)
from fbads_assets.warehouse.frames import PANDAS_DTYPES
from fbads_assets.warehouse.tables import (
    AD_CONVERSIONS_DAILY,
    AD_INSIGHTS_DAILY,
    AD_INSIGHTS_RAW,
    Table,
)

FETCHED_AT = dt.datetime(2026, 12, 2, 8, 30, tzinfo=dt.UTC)


def insights_row(
    ad_id: str,
    date: str,
    *,
    account_id: str = "1",
    campaign_id: str = "100",
    adset_id: str = "200",
    currency: str = "USD",
    impressions: int = 1000,
    clicks: int = 20,
    spend: str = "12.34",
    actions: list[dict] | None = None,
    action_values: list[dict] | None = None,
) -> dict:
    """One ad-level daily row as the API sends it."""
    row = {
        "account_id": account_id,
        "account_currency": currency,
        "campaign_id": campaign_id,
        "campaign_name": f"Campaign {campaign_id}",
        "adset_id": adset_id,
        "adset_name": f"Ad set {adset_id}",
        "ad_id": ad_id,
        "ad_name": f"Ad {ad_id}",
        "impressions": str(impressions),
        "reach": str(impressions * 4 // 5),
        "frequency": "1.25",
        "clicks": str(clicks),
        "inline_link_clicks": str(clicks // 2),
        "spend": spend,
        "ctr": f"{clicks * 100 / impressions:.6f}" if impressions else "0",
        "attribution_setting": "7d_click_1d_view",
        "date_start": date,
        "date_stop": date,
    }
    if clicks:
        row["cpc"] = f"{float(spend) / clicks:.6f}"
    if impressions:
        row["cpm"] = f"{float(spend) * 1000 / impressions:.6f}"
    # The API omits a list entirely rather than sending it empty.
    if actions:
        row["actions"] = actions
    if action_values:
        row["action_values"] = action_values
    return row


def action(action_type: str, value: str, windows: dict[str, str] | None = None) -> dict:
    """An AdsActionStats element: the default-window ``value`` plus per-window keys."""
    return {"action_type": action_type, "value": value} | (windows or {})


def to_raw(rows: list[dict], account_id: str = "1") -> pd.DataFrame:
    return raw_frame(
        account_id, rows, fingerprint="fp-test", api_version="v26.0", fetched_at=FETCHED_AT
    )


def assert_conforms(frame: pd.DataFrame, table: Table) -> None:
    assert list(frame.columns) == table.column_names
    for column in table.columns:
        assert str(frame[column.name].dtype) == PANDAS_DTYPES[column.type], column.name


def assert_primary_key_unique(frame: pd.DataFrame, table: Table) -> None:
    duplicated = frame.duplicated(list(table.primary_key), keep=False)
    assert not duplicated.any(), frame[duplicated]


def test_raw_frame_keeps_the_row_as_json_without_paging_or_tokens():
    row = insights_row("11", "2026-11-01")
    row["paging"] = {"next": "https://graph.example/v26.0/1/insights?access_token=SBX-secret-1"}
    row["campaign_name"] = "copied access_token=SBX-secret-2 into a name"

    raw = to_raw([row])

    assert_conforms(raw, AD_INSIGHTS_RAW)
    stored = raw.loc[0, "row_json"]
    assert "paging" not in json.loads(stored)
    assert "SBX-secret" not in stored
    assert json.loads(stored)["spend"] == "12.34"
    assert raw.loc[0, ["account_id", "ad_id", "request_fingerprint", "api_version"]].tolist() == [
        "1",
        "11",
        "fp-test",
        "v26.0",
    ]
    assert raw.loc[0, "date_start"] == pd.Timestamp("2026-11-01")
    assert raw.loc[0, "fetched_at"] == pd.Timestamp(FETCHED_AT)


def test_raw_frame_masks_a_registered_secret_that_no_pattern_knows():
    # Looks like nothing in particular, so only the exact registered value can catch it.
    secret = "sbx-transform-test-4f1c9a7e"
    register_secret(secret)
    row = insights_row("11", "2026-11-01")
    row["ad_name"] = f"pasted {secret} by mistake"

    stored = to_raw([row]).loc[0, "row_json"]

    assert secret not in stored
    assert json.loads(stored)["spend"] == "12.34"


def test_clean_rows_are_stored_exactly_as_redaction_would_store_them():
    rows = [insights_row(str(ad), "2026-11-01", actions=[action("lead", "1")]) for ad in range(7)]
    rows[3]["campaign_name"] = "Tokenomics launch"  # a harmless mark: that chunk is redacted

    texts = rows_as_redacted_json(rows, chunk_size=2)

    assert texts == [json.dumps(redact_obj(row), separators=(",", ":")) for row in rows]
    assert [json.loads(text) for text in texts] == rows


def test_raw_row_index_numbers_each_day_in_ad_order_whatever_the_paging_order():
    rows = [insights_row(ad, day) for day in ("2026-11-01", "2026-11-02") for ad in ("13", "11")]
    rows.append(insights_row("12", "2026-11-02"))

    forward = to_raw(rows)
    shuffled = to_raw(random.Random(3).sample(rows, len(rows)))

    pd.testing.assert_frame_equal(forward, shuffled)
    keyed = forward.set_index(["date_start", "ad_id"])["row_index"]
    assert keyed.loc[(pd.Timestamp("2026-11-01"), "11")] == 0
    assert keyed.loc[(pd.Timestamp("2026-11-01"), "13")] == 1
    assert keyed.loc[(pd.Timestamp("2026-11-02"), "12")] == 1
    assert keyed.loc[(pd.Timestamp("2026-11-02"), "13")] == 2
    assert_primary_key_unique(forward, AD_INSIGHTS_RAW)


def test_raw_frame_strips_the_act_prefix_from_the_account():
    assert (
        to_raw([insights_row("11", "2026-11-01")], account_id="act_1").loc[0, "account_id"] == "1"
    )


@pytest.mark.parametrize(
    ("transform", "table"),
    [(insights_daily_frame, AD_INSIGHTS_DAILY), (conversions_daily_frame, AD_CONVERSIONS_DAILY)],
)
def test_a_day_without_delivery_gives_empty_typed_frames(transform, table):
    raw = to_raw([])

    assert_conforms(raw, AD_INSIGHTS_RAW)
    assert raw.empty
    frame = transform(raw)
    assert frame.empty
    assert_conforms(frame, table)


def test_daily_metrics_are_typed_from_the_api_strings():
    rows = [
        insights_row("11", "2026-11-01", impressions=1500, clicks=30, spend="5339.5"),
        insights_row("12", "2026-11-01", impressions=40, clicks=0, spend="0.07"),
    ]

    daily = insights_daily_frame(to_raw(rows)).set_index("ad_id")

    assert_conforms(daily.reset_index(), AD_INSIGHTS_DAILY)
    first = daily.loc["11"]
    assert (first["impressions"], first["reach"], first["clicks"]) == (1500, 1200, 30)
    assert first["inline_link_clicks"] == 15
    assert first["spend"] == 5339.5
    assert first["frequency"] == 1.25
    assert first["ctr"] == pytest.approx(2.0)
    assert first["cpc"] == pytest.approx(5339.5 / 30)
    assert (first["campaign_id"], first["adset_id"], first["account_id"]) == ("100", "200", "1")
    assert first["campaign_name"] == "Campaign 100"
    assert first["account_currency"] == "USD"
    assert first["attribution_setting"] == "7d_click_1d_view"
    assert first["date_start"] == pd.Timestamp("2026-11-01")
    assert first["fetched_at"] == pd.Timestamp(FETCHED_AT)
    # No clicks: the API leaves cpc out of the row, and the table keeps it null.
    assert pd.isna(daily.loc["12", "cpc"])
    assert daily.loc["12", "spend"] == 0.07


def test_metrics_the_api_left_out_are_null_not_zero():
    row = insights_row("11", "2026-11-01")
    del row["reach"], row["frequency"], row["inline_link_clicks"]

    daily = insights_daily_frame(to_raw([row]))

    assert daily.loc[0, "reach"] is pd.NA
    assert daily.loc[0, "inline_link_clicks"] is pd.NA
    assert pd.isna(daily.loc[0, "frequency"])
    assert daily.loc[0, "impressions"] == 1000


def test_spend_keeps_cents_for_usd_and_whole_yen_for_jpy():
    usd = [insights_row(str(10 + i), "2026-11-01", spend=s) for i, s in enumerate(("0.1", "0.2"))]
    jpy = [insights_row("21", "2026-11-01", account_id="2", currency="JPY", spend="1234")]

    usd_daily = insights_daily_frame(to_raw(usd))
    jpy_daily = insights_daily_frame(to_raw(jpy, account_id="2"))

    assert usd_daily["spend"].tolist() == [0.1, 0.2]
    assert round(usd_daily["spend"].sum(), 2) == 0.3
    assert jpy_daily.loc[0, "spend"] == 1234.0
    assert jpy_daily.loc[0, "account_currency"] == "JPY"


def test_conversions_have_one_row_per_action_type_and_window_present():
    purchase = action(
        "purchase",
        "3",
        {"1d_click": "1", "7d_click": "3", "28d_click": "4", "1d_view": "1", "1d_ev": "2"},
    )
    purchase_value = action(
        "purchase",
        "90.5",
        {"1d_click": "30.25", "7d_click": "90.5", "28d_click": "120", "1d_view": "15"},
    )
    row = insights_row(
        "11",
        "2026-11-01",
        actions=[purchase, action("link_click", "15", {"1d_click": "15"})],
        action_values=[purchase_value, action("lead", "7.5")],
    )

    conversions = conversions_daily_frame(to_raw([row]))

    assert_conforms(conversions, AD_CONVERSIONS_DAILY)
    got = {
        (r.action_type, r.attribution_window): (r.actions, r.action_value)
        for r in conversions.itertuples()
    }
    nan = float("nan")
    expected = {
        ("purchase", "default"): (3.0, 90.5),
        ("purchase", "1d_click"): (1.0, 30.25),
        ("purchase", "7d_click"): (3.0, 90.5),
        ("purchase", "28d_click"): (4.0, 120.0),
        ("purchase", "1d_view"): (1.0, 15.0),
        # A count without a value keeps a null value ...
        ("purchase", "1d_ev"): (2.0, nan),
        ("link_click", "default"): (15.0, nan),
        ("link_click", "1d_click"): (15.0, nan),
        # ... and a value without a count still gets its row.
        ("lead", "default"): (nan, 7.5),
    }
    assert got.keys() == expected.keys()
    for key, (actions, value) in expected.items():
        got_actions, got_value = got[key]
        assert got_actions == actions or (pd.isna(actions) and pd.isna(got_actions)), key
        assert got_value == value or (pd.isna(value) and pd.isna(got_value)), key
    assert set(conversions["attribution_window"]) == {"default", *ATTRIBUTION_WINDOW_KEYS}
    first = conversions.iloc[0]
    assert (first["ad_id"], first["account_id"], first["campaign_id"]) == ("11", "1", "100")
    assert (first["adset_id"], first["date_start"]) == ("200", pd.Timestamp("2026-11-01"))
    assert first["fetched_at"] == pd.Timestamp(FETCHED_AT)


def test_rows_without_actions_give_no_conversion_rows():
    rows = [
        insights_row("11", "2026-11-01"),
        insights_row("12", "2026-11-01", actions=[action("lead", "1")]),
    ]

    conversions = conversions_daily_frame(to_raw(rows))

    assert conversions[["ad_id", "action_type", "attribution_window"]].values.tolist() == [
        ["12", "lead", "default"]
    ]


def test_jpy_action_values_are_whole_yen():
    row = insights_row(
        "21",
        "2026-11-01",
        account_id="2",
        currency="JPY",
        spend="500",
        actions=[action("purchase", "1")],
        action_values=[action("purchase", "4980")],
    )

    conversions = conversions_daily_frame(to_raw([row], account_id="2"))

    assert conversions.loc[0, "action_value"] == 4980.0
    assert conversions.loc[0, "account_id"] == "2"


def test_primary_keys_are_unique_over_many_ads_and_days():
    rows = [
        insights_row(
            str(ad),
            f"2026-11-{day:02d}",
            campaign_id=str(100 + ad % 3),
            actions=[
                action("purchase", "2", {"1d_click": "1", "7d_click": "2"}),
                action("lead", "1"),
            ],
            action_values=[action("purchase", "40", {"7d_click": "40"})],
        )
        for ad in range(30)
        for day in range(1, 8)
    ]

    raw = to_raw(rows)
    daily = insights_daily_frame(raw)
    conversions = conversions_daily_frame(raw)

    assert len(daily) == 30 * 7
    assert len(conversions) == 30 * 7 * 4
    for frame, table in ((raw, AD_INSIGHTS_RAW), (daily, AD_INSIGHTS_DAILY)):
        assert_primary_key_unique(frame, table)
    assert_primary_key_unique(conversions, AD_CONVERSIONS_DAILY)


def test_a_day_with_delivery_but_no_actions_gives_an_empty_conversions_frame():
    conversions = conversions_daily_frame(to_raw([insights_row("11", "2026-11-01")]))

    assert conversions.empty
    assert_conforms(conversions, AD_CONVERSIONS_DAILY)


def test_a_raw_frame_loaded_back_with_date_objects_parses_the_same():
    rows = [insights_row("11", "2026-11-01", actions=[action("lead", "2")])]
    raw = to_raw(rows)
    loaded = raw.assign(date_start=raw["date_start"].dt.date)

    pd.testing.assert_frame_equal(insights_daily_frame(loaded), insights_daily_frame(raw))
    pd.testing.assert_frame_equal(conversions_daily_frame(loaded), conversions_daily_frame(raw))


def test_money_of_mixed_currencies_is_rounded_per_row():
    rows = [
        insights_row("11", "2026-11-01", spend="10.004", action_values=[action("lead", "3.333")]),
        insights_row(
            "21", "2026-11-01", currency="JPY", spend="99.6", action_values=[action("lead", "7.5")]
        ),
    ]
    # Never one account in practice; a hand-built frame must still round each row its own way.
    raw = pd.concat([to_raw(rows[:1]), to_raw(rows[1:], account_id="2")], ignore_index=True)

    daily = insights_daily_frame(raw).set_index("ad_id")
    conversions = conversions_daily_frame(raw).set_index("ad_id")

    assert daily.loc["11", "spend"] == 10.0
    assert daily.loc["21", "spend"] == 100.0
    assert conversions.loc["11", "action_value"] == 3.33
    assert conversions.loc["21", "action_value"] == 8.0


def test_raw_rows_kept_page_by_page_make_the_same_raw_frame_as_dicts():
    rows = [
        insights_row(ad, day, actions=[action("lead", "1")])
        for ad in ("12", "11")
        for day in ("2026-11-02", "2026-11-01")
    ]
    pages = [rows[:3], rows[3:]]

    kept = [row for page in pages for row in raw_rows(page)]

    pd.testing.assert_frame_equal(
        raw_frame("1", kept, fingerprint="fp-test", api_version="v26.0", fetched_at=FETCHED_AT),
        to_raw(rows),
    )


def test_conversions_are_the_same_whether_a_range_is_taken_in_one_slice_or_many(monkeypatch):
    currencies = ("USD", "JPY")
    rows = [
        insights_row(
            str(ad),
            f"2026-11-{day:02d}",
            campaign_id=str(100 + ad % 3),
            currency=currencies[ad % 2],
            actions=[action("purchase", str(ad % 4), {"1d_click": "1"}), action("lead", "1")]
            if ad % 5
            else None,
            action_values=[action("purchase", f"{ad}.37", {"7d_click": "9.5"})],
        )
        for ad in range(23)
        for day in range(1, 6)
    ]
    raw = to_raw(rows)
    key = list(AD_CONVERSIONS_DAILY.primary_key)

    def in_key_order(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.sort_values(key, ignore_index=True)

    whole = in_key_order(conversions_daily_frame(raw))
    # 7 rows a slice: slices end inside a day, and some hold only rows without actions.
    monkeypatch.setattr(insights_module, "_SLICE_ROWS", 7)
    sliced = in_key_order(conversions_daily_frame(raw))

    assert len(whole) > 23 * 5
    pd.testing.assert_frame_equal(sliced, whole)


def test_conversions_read_numbers_where_the_api_would_send_strings():
    as_strings = insights_row(
        "11",
        "2026-11-01",
        actions=[action("purchase", "3", {"1d_click": "2"})],
        action_values=[action("purchase", "45.5", {"1d_click": "30"})],
    )
    # A proxy or a hand-made row may carry JSON numbers; Meta sends every value as a string.
    as_numbers = json.loads(
        json.dumps(as_strings)
        .replace('"3"', "3")
        .replace('"2"', "2")
        .replace('"45.5"', "45.5")
        .replace('"30"', "30")
    )
    assert as_numbers["actions"][0]["value"] == 3

    pd.testing.assert_frame_equal(
        conversions_daily_frame(to_raw([as_numbers])),
        conversions_daily_frame(to_raw([as_strings])),
    )

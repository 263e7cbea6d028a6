"""The sandbox speaks the SDK's wire dialect: paths, params, paging, async runs, batch, errors."""

from __future__ import annotations

import datetime as dt
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.adobjects.adsinsights import AdsInsights
from facebook_business.adobjects.campaign import Campaign
from facebook_business.adobjects.user import User
from facebook_business.api import Cursor
from facebook_business.exceptions import FacebookRequestError

from fbads_assets.sandbox import API_VERSION, SandboxConfig, run_sandbox
from fbads_assets.sandbox.sdk import make_api

NOW = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def sandbox():
    config = SandboxConfig(
        seed=3, now=NOW, history_days=60, async_job_seconds=0.6, max_page_size=50
    )
    with run_sandbox(config) as running:
        yield running


@pytest.fixture(scope="module")
def api(sandbox):
    return make_api(sandbox.base_url, sandbox.demo_token)


@pytest.fixture(scope="module")
def account_id(sandbox):
    return sandbox.world.accounts[0].id


def graph_get(sandbox, path, **params):
    params.setdefault("access_token", sandbox.demo_token)
    return requests.get(f"{sandbox.base_url}/{API_VERSION}/{path}", params=params, timeout=10)


def raised(call) -> FacebookRequestError:
    with pytest.raises(FacebookRequestError) as info:
        call()
    return info.value


def test_node_reads_use_the_sdks_trailing_slash_and_default_fields(sandbox, api, account_id):
    account = AdAccount(f"act_{account_id}", api=api).api_get()
    assert account["account_id"] == account_id
    response = graph_get(sandbox, f"act_{account_id}/")
    assert response.status_code == 200 and response.json()["id"] == f"act_{account_id}"
    assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
    campaign_id = sandbox.world.accounts[0].campaigns[0]["id"]
    campaign = Campaign(campaign_id, api=api).api_get(fields=["name", "account_id"])
    assert campaign["account_id"] == account_id
    assert User("me", api=api).api_get(fields=["id", "name"])["id"].isdigit()


def test_bearer_header_works_like_the_query_token(sandbox, account_id):
    response = requests.get(
        f"{sandbox.base_url}/{API_VERSION}/act_{account_id}/campaigns",
        headers={"Authorization": f"Bearer {sandbox.demo_token}"},
        timeout=10,
    )
    assert response.status_code == 200 and response.json()["data"]


def test_comma_lists_and_json_arrays_mean_the_same(sandbox, account_id):
    common = {"level": "ad", "date_preset": "last_7d", "limit": "50"}
    as_json = graph_get(
        sandbox,
        f"act_{account_id}/insights",
        fields='["ad_id","spend"]',
        breakdowns='["age"]',
        **common,
    ).json()
    as_comma = graph_get(
        sandbox, f"act_{account_id}/insights", fields="ad_id,spend", breakdowns="age", **common
    ).json()
    assert as_json["data"] and as_json["data"] == as_comma["data"]


def test_paging_cursors_next_links_and_the_last_page(sandbox, account_id):
    path = f"act_{account_id}/insights"
    params = {
        "level": "ad",
        "time_increment": "1",
        "date_preset": "last_30d",
        "fields": "ad_id,spend",
        "limit": "60",
    }
    seen, page = [], graph_get(sandbox, path, **params).json()
    assert len(page["data"]) == 50, "limit is capped silently at max_page_size"
    pages = 1
    while True:
        seen += page["data"]
        paging = page.get("paging", {})
        if "next" not in paging:
            assert "after" not in paging.get("cursors", {})
            break
        link = urlsplit(paging["next"])
        assert f"{link.scheme}://{link.netloc}" == sandbox.base_url
        query = parse_qs(link.query)
        assert query["access_token"] == [sandbox.demo_token]  # as Meta's next links do
        assert query["after"] == [paging["cursors"]["after"]]
        page = requests.get(paging["next"], timeout=10).json()
        pages += 1
    assert pages > 2
    keys = [(r["ad_id"], r["date_start"]) for r in seen]
    assert len(keys) == len(set(keys))
    previous = graph_get(sandbox, path, before=page["paging"]["cursors"]["before"], **params).json()
    assert previous["data"] == seen[-len(page["data"]) - 50 : -len(page["data"])]


def test_sdk_cursor_reads_every_row_of_an_edge_with_summary(api, sandbox, account_id):
    cursor = AdAccount(f"act_{account_id}", api=api).get_ads(
        fields=["name"],
        params={
            "limit": 2,
            "effective_status": ["ACTIVE", "PAUSED", "CAMPAIGN_PAUSED", "ARCHIVED", "DELETED"],
        },
    )
    names = [ad["name"] for ad in cursor]
    assert cursor.total() == len(names) == len(sandbox.world.accounts[0].ads)


def test_async_report_moves_through_every_status_to_completed(api, account_id):
    job = AdAccount(f"act_{account_id}", api=api).get_insights(
        fields=["ad_id", "spend"],
        params={"level": "ad", "time_increment": 1, "date_preset": "last_30d"},
        is_async=True,
    )
    assert job["report_run_id"].isdigit() and job.get_id() == job["report_run_id"]
    statuses, deadline = [], time.monotonic() + 10
    while time.monotonic() < deadline:
        state = job.api_get()
        statuses.append((state["async_status"], state["async_percent_completion"]))
        if state["async_status"] == "Job Completed":
            break
        time.sleep(0.03)
    names = [s for s, _p in statuses]
    assert names[0] == "Job Not Started" and names[-1] == "Job Completed"
    assert {"Job Started", "Job Running"} <= set(names)
    assert [p for _s, p in statuses] == sorted(p for _s, p in statuses)
    assert statuses[-1][1] == 100
    assert {"time_ref", "date_start", "date_stop", "account_id"} <= set(state)
    rows = list(job.get_result(params={"limit": 40}))
    sync = list(
        AdAccount(f"act_{account_id}", api=api).get_insights(
            fields=["ad_id", "spend"],
            params={"level": "ad", "time_increment": 1, "date_preset": "last_30d", "limit": 50},
        )
    )
    assert [dict(r) for r in rows] == [dict(r) for r in sync]


def test_report_results_before_completion_are_an_error(api, account_id):
    job = AdAccount(f"act_{account_id}", api=api).get_insights(
        fields=["spend"], params={"date_preset": "last_7d"}, is_async=True
    )
    error = raised(lambda: list(Cursor(job, AdsInsights, api=api, include_summary=False)))
    assert error.api_error_code() == 100 and "not ready" in error.api_error_message()


def test_batch_answers_each_request_and_caps_at_fifty(sandbox, api, account_id):
    batch = api.new_batch()
    answers, failures = [], []
    campaigns = sandbox.world.accounts[0].campaigns
    for campaign in campaigns:
        Campaign(campaign["id"], api=api).api_get(
            fields=["name"],
            batch=batch,
            success=lambda r: answers.append(r.json()["name"]),
            failure=lambda r: failures.append(r),
        )
    Campaign("999999", api=api).api_get(
        fields=["name"],
        batch=batch,
        success=answers.append,
        failure=lambda r: failures.append(r.error()),
    )
    assert batch.execute() is None
    assert answers == [c["name"] for c in campaigns]
    assert failures[0].api_error_code() == 100 and failures[0].api_error_subcode() == 33
    too_many = api.new_batch()
    for _ in range(51):
        Campaign(campaigns[0]["id"], api=api).api_get(fields=["name"], batch=too_many)
    assert raised(too_many.execute).api_error_code() == 100


def test_multi_id_read_returns_an_object_per_id(sandbox, account_id):
    ids = [c["id"] for c in sandbox.world.accounts[0].campaigns[:2]]
    body = graph_get(sandbox, "", ids=",".join(ids), fields="name").json()
    assert set(body) == set(ids) and all("name" in v for v in body.values())


@pytest.mark.parametrize(
    ("params", "code", "subcode", "text"),
    [
        ({"fields": "spend,bogus_metric"}, 100, None, "bogus_metric is not valid for fields param"),
        ({"time_range": "{not json"}, 100, None, "time_range"),
        ({"time_range": '{"since":"2026-11-10","until":"2026-11-01"}'}, 100, None, "since"),
        ({"time_range": '{"since":"2023-01-01","until":"2023-01-31"}'}, 3018, None, "37 months"),
        ({"breakdowns": "age,country"}, 100, None, "combination of data breakdown"),
        ({"time_increment": "91"}, 100, None, "time_increment"),
        ({"date_preset": "last_2d"}, 100, None, "date_preset"),
        ({"level": "creative"}, 100, None, "level"),
        ({"action_attribution_windows": '["2d_click"]'}, 100, None, "action_attribution"),
        ({"filtering": '[{"field":"ad.id"}]'}, 100, None, "filtering"),
        ({"after": "not-a-cursor"}, 2642, None, "cursor"),
    ],
)
def test_bad_insights_input_gets_metas_error_envelope(
    sandbox, account_id, params, code, subcode, text
):
    response = graph_get(sandbox, f"act_{account_id}/insights", **params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code and text in error["message"]
    assert {"message", "type", "code", "fbtrace_id"} <= set(error)
    assert "Traceback" not in response.text


def test_unknown_ids_and_fields_fail_as_meta_does(api, account_id):
    error = raised(lambda: Campaign("120299999999999999", api=api).api_get(fields=["name"]))
    assert (error.http_status(), error.api_error_code(), error.api_error_subcode()) == (
        400,
        100,
        33,
    )
    assert error.api_error_type() == "GraphMethodException"
    with pytest.warns(UserWarning, match="nope"):  # the SDK warns, then sends it anyway
        error = raised(lambda: AdAccount(f"act_{account_id}", api=api).api_get(fields=["nope"]))
    assert "nonexisting field (nope)" in error.api_error_message()


def test_deprecated_versions_and_unknown_paths_get_envelopes(sandbox, account_id):
    old = requests.get(
        f"{sandbox.base_url}/v19.0/act_{account_id}/",
        params={"access_token": sandbox.demo_token},
        timeout=10,
    )
    assert old.status_code == 400 and old.json()["error"]["code"] == 2635
    odd = graph_get(sandbox, f"act_{account_id}/nothing_here")
    assert odd.status_code == 400 and odd.json()["error"]["code"] == 2500


def test_usage_headers_ride_on_every_response(sandbox, api, account_id):
    cursor = AdAccount(f"act_{account_id}", api=api).get_insights(
        fields=["spend"], params={"date_preset": "last_7d"}
    )
    list(cursor)
    headers = cursor.headers()
    for name in (
        "x-business-use-case-usage",
        "x-ad-account-usage",
        "x-app-usage",
        "x-fb-ads-insights-throttle",
    ):
        assert name in headers
    buc = __import__("json").loads(headers["x-business-use-case-usage"])
    assert buc[account_id][0]["type"] == "ads_insights"
    assert buc[account_id][0]["estimated_time_to_regain_access"] == 0
    campaigns = graph_get(sandbox, f"act_{account_id}/campaigns")
    assert "x-fb-ads-insights-throttle" not in campaigns.headers
    assert "ads_management" in campaigns.headers["x-business-use-case-usage"]


def test_fields_the_api_knows_are_accepted_even_when_the_sandbox_leaves_them_out(
    sandbox, api, account_id
):
    rows = graph_get(
        sandbox,
        f"act_{account_id}/insights",
        fields="spend,unique_clicks,video_p25_watched_actions",
    ).json()["data"]
    assert rows and "spend" in rows[0] and "unique_clicks" not in rows[0]
    refused = graph_get(sandbox, f"act_{account_id}/insights", fields="spend,age")
    assert "age is not valid for fields param" in refused.json()["error"]["message"]
    campaign = dict(
        next(
            iter(
                AdAccount(f"act_{account_id}", api=api).get_campaigns(
                    fields=["lifetime_budget", "stop_time", "name"]
                )
            )
        )
    )
    assert campaign["lifetime_budget"] == "0" and "stop_time" not in campaign

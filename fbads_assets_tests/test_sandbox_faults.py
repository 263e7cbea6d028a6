"""Faults, throttles and counters: every fault kind as the SDK meets it, scripted and repeatable."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time

import pytest
import requests
from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.adobjects.adsinsights import AdsInsights
from facebook_business.adobjects.campaign import Campaign
from facebook_business.api import Cursor
from facebook_business.exceptions import FacebookRequestError

from fbads_assets.sandbox import API_VERSION, FAULT_KINDS, FaultRule, SandboxConfig, run_sandbox
from fbads_assets.sandbox.sdk import make_api

NOW = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)
INSIGHTS = r"/insights$"


@pytest.fixture(scope="module")
def sandbox():
    with run_sandbox(SandboxConfig(seed=9, now=NOW, history_days=40)) as running:
        yield running


@pytest.fixture(autouse=True)
def clean(sandbox):
    sandbox.reset()
    yield
    sandbox.faults.clear()


@pytest.fixture(scope="module")
def account(sandbox):
    api = make_api(sandbox.base_url, sandbox.demo_token, timeout=5)
    return AdAccount(f"act_{sandbox.world.accounts[0].id}", api=api)


def sync_insights(account, **params):
    params.setdefault("date_preset", "last_7d")
    return list(account.get_insights(fields=["ad_id", "spend"], params={"level": "ad", **params}))


def failure(call) -> FacebookRequestError:
    with pytest.raises(FacebookRequestError) as info:
        call()
    return info.value


def run_job(account, **params):
    params.setdefault("date_preset", "last_7d")
    job = account.get_insights(fields=["spend"], params=params, is_async=True)
    deadline = time.monotonic() + 10
    while (state := job.api_get())["async_percent_completion"] < 100:
        assert time.monotonic() < deadline, "report run never finished"
        time.sleep(0.02)
    return job, state


@pytest.mark.parametrize(
    ("kind", "status", "code", "subcode", "transient"),
    [
        ("transient", 503, 2, None, True),
        ("unknown", 500, 1, 99, False),
        ("reduce_data", 500, 1, None, False),
    ],
)
def test_error_faults_fire_once_then_the_call_succeeds(
    sandbox, account, kind, status, code, subcode, transient
):
    sandbox.faults.add(FaultRule(kind=kind, path=INSIGHTS, times=1))
    error = failure(lambda: sync_insights(account))
    assert (error.http_status(), error.api_error_code()) == (status, code)
    assert error.api_error_subcode() == subcode and error.api_transient_error() == transient
    if kind == "reduce_data":
        assert "reduce the amount of data" in error.api_error_message()
    assert sync_insights(account)


def test_skip_and_times_script_which_requests_fail(sandbox, account):
    sandbox.faults.add(FaultRule(kind="transient", path=INSIGHTS, skip=1, times=2))
    outcomes = []
    for _ in range(4):
        try:
            sync_insights(account)
            outcomes.append("ok")
        except FacebookRequestError as error:
            outcomes.append(error.api_error_code())
    assert outcomes == ["ok", 2, 2, "ok"]


def test_probability_faults_hit_the_same_requests_every_run(sandbox):
    def pattern():
        sandbox.faults.clear()
        sandbox.faults.add(
            FaultRule(kind="transient", path="/campaigns$", times=None, params={"probability": 0.5})
        )
        url = f"{sandbox.base_url}/{API_VERSION}/act_{sandbox.world.accounts[0].id}/campaigns"
        return [
            requests.get(url, params={"access_token": sandbox.demo_token}, timeout=5).status_code
            for _ in range(16)
        ]

    first = pattern()
    assert 503 in first and 200 in first and pattern() == first


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80000, 80004])
def test_rate_limit_faults_carry_metas_codes_and_exhausted_usage_headers(sandbox, account, code):
    sandbox.faults.add(
        FaultRule(
            kind="rate_limit",
            path=INSIGHTS,
            account=sandbox.world.accounts[0].id,
            params={"code": code, "minutes": 42},
        )
    )
    error = failure(lambda: sync_insights(account))
    assert error.http_status() == 400 and error.api_error_code() == code
    assert f"(#{code})" in error.api_error_message()
    if code in (17, 80000, 80004):
        assert error.api_error_subcode() == 2446079
    buc = json.loads(error.http_headers()["x-business-use-case-usage"])
    (usage,) = buc[sandbox.world.accounts[0].id]
    assert usage["estimated_time_to_regain_access"] == 42 and usage["call_count"] >= 100
    assert usage["type"] == ("ads_management" if code == 80004 else "ads_insights")


def test_the_quota_engine_throttles_past_the_hourly_budget_and_recovers():
    config = SandboxConfig(seed=9, now=NOW, history_days=10, insights_calls_per_hour=3)
    with run_sandbox(config) as sb:
        account = AdAccount(
            f"act_{sb.world.accounts[0].id}", api=make_api(sb.base_url, sb.demo_token)
        )
        percents = []
        for _ in range(3):
            cursor = account.get_insights(fields=["spend"], params={"date_preset": "last_7d"})
            list(cursor)
            usage = json.loads(cursor.headers()["x-business-use-case-usage"])
            percents.append(usage[sb.world.accounts[0].id][0]["call_count"])
        assert percents == [33, 66, 100]
        error = failure(lambda: sync_insights(account))
        assert (error.api_error_code(), error.api_error_subcode()) == (80000, 2446079)
        buc = json.loads(error.http_headers()["x-business-use-case-usage"])
        assert 1 <= buc[sb.world.accounts[0].id][0]["estimated_time_to_regain_access"] <= 60
        assert account.api_get(fields=["name"])["name"], "ads_management has its own budget"
        sb.clock.advance(dt.timedelta(hours=1, seconds=1))
        assert sync_insights(account) is not None


@pytest.mark.parametrize("kind", ["html_502", "html_504"])
def test_html_gateway_pages_are_taken_for_success_by_the_sdk(sandbox, account, kind):
    sandbox.faults.add(FaultRule(kind=kind, path=r"/act_\d+$"))
    url = f"{sandbox.base_url}/{API_VERSION}/{account.get_id()}/"
    raw = requests.get(url, params={"access_token": sandbox.demo_token}, timeout=5)
    assert raw.status_code == int(kind[-3:]) and raw.text.startswith("<html>")
    sandbox.faults.add(FaultRule(kind=kind, path=r"/act_\d+$"))
    with pytest.raises(TypeError):  # the SDK's bug the client must guard against
        account.api_get(fields=["name"])


def test_dropped_connections_surface_as_connection_errors(sandbox, account):
    sandbox.faults.add(FaultRule(kind="drop_connection", path=INSIGHTS))
    with pytest.raises(requests.ConnectionError):
        sync_insights(account)
    assert sync_insights(account)


def test_slow_faults_delay_the_answer(sandbox, account):
    sandbox.faults.add(FaultRule(kind="slow", path=INSIGHTS, params={"seconds": 30}))
    api = make_api(sandbox.base_url, sandbox.demo_token, timeout=0.3)
    with pytest.raises(requests.exceptions.ReadTimeout):
        sync_insights(AdAccount(account.get_id(), api=api))


def test_empty_page_with_next_stops_the_sdk_cursor_early(sandbox, account):
    params = {"level": "ad", "time_increment": 1, "date_preset": "last_30d", "limit": 20}
    full = list(account.get_insights(fields=["ad_id"], params=params))
    sandbox.faults.add(FaultRule(kind="empty_page_with_next", path=INSIGHTS, skip=1))
    truncated = list(account.get_insights(fields=["ad_id"], params=params))
    assert len(truncated) == 20 < len(full)
    sandbox.faults.add(FaultRule(kind="empty_page_with_next", path=INSIGHTS, skip=1))
    cursor = account.get_insights(fields=["ad_id"], params=params)  # holds the first page
    rows = list(cursor._queue)
    while not cursor._finished_iteration:  # the guard clients need: page on until no `next`
        cursor._queue = []
        cursor.load_next_page()
        rows += cursor._queue
    assert [dict(r) for r in rows] == [dict(r) for r in full]


@pytest.mark.parametrize("kind", ["job_failed", "job_skipped"])
def test_report_runs_can_fail_or_be_skipped(sandbox, account, kind):
    sandbox.faults.add(FaultRule(kind=kind, path=INSIGHTS, method="POST"))
    _job, state = run_job(account)
    if kind == "job_failed":
        assert state["async_status"] == "Job Failed"
        assert (state["error_code"], state["error_subcode"]) == (-2, 2490547)
        assert state["error_message"] == "Report Failed" and state["error_user_msg"]
    else:
        assert state["async_status"] == "Job Skipped"
    _job, state = run_job(account)
    assert state["async_status"] == "Job Completed"


def test_a_run_id_rule_fails_that_run_when_polled(sandbox, account):
    job = account.get_insights(fields=["spend"], params={"date_preset": "last_7d"}, is_async=True)
    sandbox.faults.add(FaultRule(kind="job_failed", path=f"/{job.get_id()}$"))
    assert job.api_get()["async_status"] == "Job Failed"


def test_slow_jobs_keep_running(sandbox, account):
    sandbox.faults.add(FaultRule(kind="slow_job", path=INSIGHTS, params={"seconds": 60}))
    job = account.get_insights(fields=["spend"], params={"date_preset": "last_7d"}, is_async=True)
    assert job.api_get()["async_status"] == "Job Not Started"


@pytest.mark.parametrize("subcode", [463, 460, 458, 467])
def test_invalid_token_faults_answer_as_that_token_problem(sandbox, account, subcode):
    sandbox.faults.add(FaultRule(kind="invalid_token", params={"subcode": subcode}))
    error = failure(lambda: sync_insights(account))
    assert (error.api_error_code(), error.api_error_subcode()) == (190, subcode)


def test_batch_null_entries_come_back_as_a_retry_batch(sandbox, account):
    sandbox.faults.add(FaultRule(kind="batch_null", path=r"/\d+$", skip=1))
    api = account.get_api()
    campaigns = sandbox.world.accounts[0].campaigns
    batch, names = api.new_batch(), []
    for campaign in campaigns:
        Campaign(campaign["id"], api=api).api_get(
            fields=["name"], batch=batch, success=lambda r: names.append(r.json()["name"])
        )
    retry = batch.execute()
    assert retry is not None and len(retry) == 1 and len(names) == len(campaigns) - 1
    assert retry.execute() is None and sorted(names) == sorted(c["name"] for c in campaigns)


def test_reduce_data_threshold_fails_oversized_pages():
    with run_sandbox(SandboxConfig(seed=9, now=NOW, history_days=40, reduce_data_rows=10)) as sb:
        account = AdAccount(
            f"act_{sb.world.accounts[0].id}", api=make_api(sb.base_url, sb.demo_token)
        )
        error = failure(lambda: sync_insights(account, limit=25, time_increment=1))
        assert (error.http_status(), error.api_error_code()) == (500, 1)
        assert len(sync_insights(account, limit=10, time_increment=1)) > 10


def test_latency_is_added_to_every_request():
    with run_sandbox(SandboxConfig(seed=9, now=NOW, history_days=5, latency_ms=200)) as sb:
        api = make_api(sb.base_url, sb.demo_token, timeout=0.1)
        with pytest.raises(requests.exceptions.ReadTimeout):
            AdAccount(f"act_{sb.world.accounts[0].id}", api=api).api_get(fields=["name"])


def test_every_fault_kind_is_covered_here():
    tested = {
        "transient",
        "unknown",
        "reduce_data",
        "rate_limit",
        "html_502",
        "html_504",
        "drop_connection",
        "empty_page_with_next",
        "job_failed",
        "job_skipped",
        "slow",
        "invalid_token",
        "batch_null",
        "slow_job",
    }
    assert tested == FAULT_KINDS


def test_unknown_fault_kinds_and_codes_are_refused():
    with pytest.raises(ValueError, match="Unknown fault kind"):
        FaultRule(kind="explode")
    with pytest.raises(ValueError, match="throttle code"):
        FaultRule(kind="rate_limit", params={"code": 429})


def test_counters_count_by_endpoint_account_job_and_error(sandbox, account):
    sandbox.faults.add(FaultRule(kind="transient", path=r"/campaigns$"))
    sync_insights(account)
    run_job(account)
    with pytest.raises(FacebookRequestError):
        list(account.get_campaigns())
    snap = sandbox.counters.snapshot()
    account_id = sandbox.world.accounts[0].id
    assert snap["by_endpoint"]["GET /act/insights"] == 1
    assert snap["by_endpoint"]["POST /act/insights"] == 1
    assert snap["by_endpoint"]["GET /report_run"] >= 1
    assert snap["by_account"][account_id] == snap["total"]
    assert snap["async_jobs"] == 1 and snap["errors"] == {2: 1}
    assert snap["requests"][0] == {
        "method": "GET",
        "endpoint": "/act/insights",
        "account": account_id,
        "status": 200,
        "code": None,
    }
    sandbox.counters.reset()
    assert sandbox.counters.snapshot()["total"] == 0


def test_http_control_paths_drive_a_sandbox_from_another_process(sandbox, account, tmp_path):
    control = f"{sandbox.base_url}/__sandbox"
    plan = {"faults": [{"kind": "transient", "path": "/insights$", "times": 1}]}
    assert requests.post(f"{control}/faults", json=plan, timeout=5).json() == {"added": 1}
    assert requests.get(f"{control}/faults", timeout=5).json()["faults"][0]["kind"] == "transient"
    assert failure(lambda: sync_insights(account)).api_error_code() == 2
    counters = requests.get(f"{control}/counters", timeout=5).json()
    assert counters["errors"] == {"2": 1} and counters["total"] == 1
    later = requests.post(f"{control}/clock", json={"advance_seconds": 86400}, timeout=5).json()
    assert later["now"].startswith("2026-12-01")
    requests.post(f"{control}/clock", json={"set": NOW.isoformat()}, timeout=5)
    requests.post(f"{control}/reset", timeout=5)
    assert requests.get(f"{control}/counters", timeout=5).json()["total"] == 0
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan))
    assert sandbox.faults.load_plan(plan_file) == 1
    assert requests.get(f"{control}/nope", timeout=5).status_code == 404


def test_serve_command_prints_the_base_url_and_demo_token_and_applies_faults(tmp_path):
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"faults": [{"kind": "unknown", "path": "/campaigns$"}]}))
    command = [
        sys.executable,
        "-c",
        "from fbads_assets.sandbox.cli import serve_main; serve_main()",
        "--port",
        "0",
        "--accounts",
        "1",
        "--fault-plan",
        str(plan),
        "--fault",
        "transient:/adsets$:2",
        "--now",
        "2026-11-30T12:00Z",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        base_url = process.stdout.readline().split()[4]
        token_line = process.stdout.readline()
        assert base_url.startswith("http://127.0.0.1:")
        assert token_line.strip().endswith("sbx-demo-token-public")
        tokens = requests.get(f"{base_url}/__sandbox/tokens", timeout=5).json()
        account_id = requests.get(
            f"{base_url}/{API_VERSION}/me/adaccounts",
            params={"access_token": tokens["demo"]},
            timeout=5,
        ).json()["data"][0]["account_id"]
        status = [
            requests.get(
                f"{base_url}/{API_VERSION}/act_{account_id}/{edge}",
                params={"access_token": tokens["demo"]},
                timeout=5,
            ).status_code
            for edge in ("campaigns", "adsets", "adsets", "adsets")
        ]
        assert status == [500, 503, 503, 200]
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_cursor_over_a_report_run_reads_every_page(sandbox, account):
    job, _state = run_job(account, level="ad", time_increment=1)
    rows = list(
        Cursor(job, AdsInsights, params={"limit": 3}, include_summary=False, api=account.get_api())
    )
    assert len(rows) > 3 and sandbox.counters.snapshot()["by_endpoint"][
        "GET /report_run/insights"
    ] == -(-len(rows) // 3)

"""The Marketing API client end to end against the sandbox: every error class, paging, insights.

Waits go through a clock linked to the sandbox's: sleeping on it advances both, so an hour-long
rate-limit block is honoured (and the sandbox sees the hour pass) without the test waiting.
"""

from __future__ import annotations

import datetime as dt

import pytest

from fbads_assets.api.client import InsightsRequest, MarketingApiClient
from fbads_assets.api.clock import FakeClock
from fbads_assets.api.errors import MarketingApiError
from fbads_assets.sandbox import FaultRule, SandboxConfig, run_sandbox

NOW = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)
ACCOUNT_FIELDS = ["id", "account_id", "name", "currency", "timezone_name"]
CAMPAIGN_FIELDS = ["id", "name", "effective_status"]
INSIGHTS_FIELDS = ["ad_id", "campaign_id", "impressions", "clicks", "spend", "actions"]
WINDOWS = ["1d_click", "7d_click", "1d_view"]
UNTIL = dt.date(2026, 11, 20)
SINCE = UNTIL - dt.timedelta(days=5)


class LinkedClock(FakeClock):
    """A FakeClock whose sleeps also move the sandbox's clock, so quotas and jobs see time pass."""

    def __init__(self, sandbox) -> None:
        super().__init__(NOW)
        self._sandbox = sandbox

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        self._sandbox.clock.advance(dt.timedelta(seconds=max(0.0, seconds)))


@pytest.fixture(scope="module")
def sandbox():
    config = SandboxConfig(
        seed=7,
        accounts=3,
        campaigns_per_account=3,
        adsets_per_campaign=2,
        ads_per_adset=2,
        async_job_seconds=0.0,
        max_page_size=500,
        now=NOW,
    )
    with run_sandbox(config) as running:
        yield running


@pytest.fixture
def sb(sandbox):
    sandbox.faults.clear()
    sandbox.clock.set(NOW)
    yield sandbox
    sandbox.faults.clear()


def make_client(sandbox, kind: str = "system_user", **kwargs) -> MarketingApiClient:
    kwargs.setdefault("clock", LinkedClock(sandbox))
    return MarketingApiClient(sandbox.tokens[kind], graph_url=sandbox.base_url, **kwargs)


def first_account(sandbox) -> str:
    return make_client(sandbox).list_ad_accounts(["id"])[0]["id"]


def ad_insights(client, account_id, *, use_async=True):
    return client.insights(
        account_id,
        SINCE,
        UNTIL,
        level="ad",
        fields=INSIGHTS_FIELDS,
        action_attribution_windows=WINDOWS,
        use_async=use_async,
    )


def row_keys(rows):
    return sorted((r["ad_id"], r["date_start"], r["spend"]) for r in rows)


# -- tokens that are dead: code 190, never retried -----------------------------------------------


@pytest.mark.parametrize(
    ("kind", "subcode", "advice"),
    [
        ("expired", 463, "expired"),
        ("password_changed", 460, "password"),
        ("not_authorized", 458, "not authorised"),
        ("logged_out", 467, "logged out"),
    ],
)
def test_dead_tokens_fail_at_once_with_what_to_do(sb, kind, subcode, advice):
    client = make_client(sb, kind)
    with pytest.raises(MarketingApiError) as caught:
        client.list_ad_accounts(ACCOUNT_FIELDS)
    error = caught.value
    assert (error.kind, error.code, error.subcode) == ("auth", 190, subcode)
    assert advice in str(error)
    assert "system user token" in str(error) and "FACEBOOK_ACCESS_TOKEN" in str(error)
    assert client.stats.total_calls == 1
    assert sb.tokens[kind] not in str(error)


def test_a_token_revoked_mid_run_fails_without_retry(sb):
    account = first_account(sb)
    client = make_client(sb)
    sb.faults.add(FaultRule(kind="invalid_token", path=r"/campaigns", params={"subcode": 460}))
    with pytest.raises(MarketingApiError) as caught:
        client.list_objects(account, "campaigns", CAMPAIGN_FIELDS)
    assert (caught.value.code, caught.value.subcode) == (190, 460)
    assert client.stats.retries == 0


# -- permission and invalid requests: never retried -----------------------------------------------


def test_a_token_without_a_role_on_the_account_names_the_account(sb):
    accounts = make_client(sb).list_ad_accounts(["id"])
    client = make_client(sb, "one_account")
    with pytest.raises(MarketingApiError) as caught:
        client.get_ad_accounts([a["id"] for a in accounts], ACCOUNT_FIELDS)
    error = caught.value
    assert error.kind in ("permission", "invalid")
    assert accounts[1]["id"] in str(error) or accounts[2]["id"] in str(error)
    assert client.stats.retries == 0


def test_a_token_without_ads_read_is_refused_without_retry(sb):
    client = make_client(sb, "no_ads_read")
    with pytest.raises(MarketingApiError) as caught:
        client.list_ad_accounts(ACCOUNT_FIELDS)
    assert caught.value.kind == "permission"
    assert caught.value.code in (10, 200, *range(200, 300))
    assert client.stats.retries == 0


def test_a_plain_code_100_is_not_retried(sb):
    client = make_client(sb)
    with pytest.raises(MarketingApiError) as caught:
        client.list_objects("act_999999999", "campaigns", CAMPAIGN_FIELDS)
    assert caught.value.code == 100
    assert caught.value.kind == "invalid"
    assert client.stats.total_calls == 1


# -- transient errors and throttles: retried, waiting as long as Meta says ----------------------


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("unknown", {}),
        ("transient", {}),
        ("html_502", {}),
        ("html_504", {}),
        ("drop_connection", {}),
    ],
)
def test_transient_failures_are_retried_and_the_read_completes(sb, kind, params):
    account = first_account(sb)
    expected = make_client(sb).list_objects(account, "campaigns", CAMPAIGN_FIELDS)
    client = make_client(sb)
    sb.faults.add(FaultRule(kind=kind, path=r"/campaigns", times=2, params=params))
    assert client.list_objects(account, "campaigns", CAMPAIGN_FIELDS) == expected
    assert client.stats.retries == 2
    assert client.stats.errors_by_kind["transient"] == 2


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80000, 80004])
def test_throttles_wait_the_estimated_hour_without_sleeping(sb, code):
    account = first_account(sb)
    client = make_client(sb)
    sb.faults.add(
        FaultRule(
            kind="rate_limit",
            path=r"/campaigns",
            times=1,
            params={"code": code, "subcode": 2446079, "minutes": 60},
        )
    )
    rows = client.list_objects(account, "campaigns", CAMPAIGN_FIELDS)
    assert rows
    assert 3600 in client.clock.sleeps
    assert client.stats.throttle_waits >= 1
    assert client.stats.throttle_wait_seconds >= 3600
    assert client.stats.errors_by_kind["throttle"] == 1


def test_an_html_error_page_that_persists_fails_as_such_not_as_data(sb):
    client = make_client(sb, max_retries=2)
    sb.faults.add(FaultRule(kind="html_502", path=r"/adaccounts", times=None))
    with pytest.raises(MarketingApiError) as caught:
        client.list_ad_accounts(ACCOUNT_FIELDS)
    assert caught.value.kind == "transient"
    assert "HTTP 502" in str(caught.value) and "non-JSON" in str(caught.value)
    assert "Gave up after 3 attempts" in str(caught.value)
    assert client.stats.total_calls == 3


def test_a_dropped_connection_that_persists_fails_with_a_token_free_message(sb):
    client = make_client(sb, max_retries=1)
    sb.faults.add(FaultRule(kind="drop_connection", path=r"/adaccounts", times=None))
    with pytest.raises(MarketingApiError) as caught:
        client.list_ad_accounts(ACCOUNT_FIELDS)
    text = str(caught.value)
    assert "connection" in text
    assert sb.tokens["system_user"] not in text and "access_token" not in text
    assert caught.value.__cause__ is None and caught.value.__context__ is None


# -- paging ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("use_async", "path"), [(False, r"^/act_\d+/insights$"), (True, r"^/\d+/insights$")]
)
def test_an_empty_page_with_next_does_not_end_paging(sb, use_async, path):
    account = first_account(sb)
    expected = ad_insights(make_client(sb), account).rows
    client = make_client(sb, page_size=10)
    # The second page comes back empty but with `next`: the SDK's Cursor would stop there.
    sb.faults.add(FaultRule(kind="empty_page_with_next", path=path, method="GET", skip=1))
    rows = ad_insights(client, account, use_async=use_async).rows
    assert len(expected) > 20, "the range must span several pages for this to prove anything"
    assert row_keys(rows) == row_keys(expected)


def test_objects_include_archived_and_deleted_ones(sb):
    account = first_account(sb)
    client = make_client(sb)
    everything = client.list_objects(account, "ads", ["id", "effective_status"])
    live = client.list_objects(account, "ads", ["id", "effective_status"], include_deleted=False)
    assert len(everything) >= len(live)
    assert {"id", "effective_status"} <= set(everything[0])


# -- insights ------------------------------------------------------------------------------------


def test_async_insights_equal_sync_insights(sb):
    account = first_account(sb)
    client = make_client(sb)
    async_result = ad_insights(client, account)
    sync_result = ad_insights(make_client(sb), account, use_async=False)
    assert async_result.rows and row_keys(async_result.rows) == row_keys(sync_result.rows)
    assert async_result.jobs == 1 and client.stats.async_jobs == 1
    assert async_result.api_version == "v26.0"
    assert all("paging" not in row for row in async_result.rows)


def test_the_fingerprint_names_the_request_not_the_dates_or_the_token(sb):
    account = first_account(sb)
    one = make_client(sb).insights(account, SINCE, SINCE, fields=INSIGHTS_FIELDS)
    other_days = make_client(sb, "system_user_60d").insights(
        account, UNTIL, UNTIL, fields=list(reversed(INSIGHTS_FIELDS))
    )
    more_fields = make_client(sb).insights(
        account, SINCE, SINCE, fields=[*INSIGHTS_FIELDS, "reach"]
    )
    assert one.fingerprint == other_days.fingerprint
    assert one.fingerprint != more_fields.fingerprint


def test_reduce_the_amount_of_data_shrinks_pages_then_splits_and_keeps_every_row(sb):
    account = first_account(sb)
    expected = ad_insights(make_client(sb), account).rows
    client = make_client(sb, page_size=100)
    # The POST fails once (split the range); each read fails until pages are at the floor.
    sb.faults.add(FaultRule(kind="reduce_data", path=r"/insights$", method="POST", times=1))
    sb.faults.add(FaultRule(kind="reduce_data", path=r"^/\d+/insights$", method="GET", times=3))
    result = ad_insights(client, account)
    assert row_keys(result.rows) == row_keys(expected)
    assert client.stats.splits >= 1
    assert client.stats.page_size_reductions >= 1


def test_a_sync_read_too_large_even_at_the_smallest_page_is_split_by_date(sb):
    account = first_account(sb)
    expected = ad_insights(make_client(sb), account, use_async=False).rows
    client = make_client(sb, page_size=100)
    # 100 → 50 → 25 → 12 → 10 (the floor) fail, then the fifth failure splits the range.
    sb.faults.add(FaultRule(kind="reduce_data", path=r"^/act_\d+/insights$", times=5))
    result = ad_insights(client, account, use_async=False)
    assert row_keys(result.rows) == row_keys(expected)
    assert client.stats.page_size_reductions == 4
    assert client.stats.splits == 1


@pytest.mark.parametrize("kind", ["job_failed", "job_skipped"])
def test_a_failed_job_is_resubmitted_once_then_split(sb, kind):
    account = first_account(sb)
    expected = ad_insights(make_client(sb), account).rows

    # method="POST": the sandbox decides a job's fate when it is created (a rule without a method
    # would also fire on the job's first poll and spend two of its "times" on one job).
    once = make_client(sb)
    sb.faults.add(FaultRule(kind=kind, method="POST", times=1))
    assert row_keys(ad_insights(once, account).rows) == row_keys(expected)
    assert once.stats.async_jobs == 2 and once.stats.splits == 0

    sb.faults.clear()
    twice = make_client(sb)
    sb.faults.add(FaultRule(kind=kind, method="POST", times=2))
    assert row_keys(ad_insights(twice, account).rows) == row_keys(expected)
    assert twice.stats.splits == 1 and twice.stats.async_jobs == 4


def test_insights_for_many_accounts_batch_their_polls(sb):
    accounts = [a["id"] for a in make_client(sb).list_ad_accounts(["id"])]
    client = make_client(sb)
    requests = [
        InsightsRequest(account_id=a, since=SINCE, until=UNTIL, fields=tuple(INSIGHTS_FIELDS))
        for a in accounts
    ]
    results = client.insights_many(requests)
    singles = [make_client(sb).insights(a, SINCE, UNTIL, fields=INSIGHTS_FIELDS) for a in accounts]
    for many, single in zip(results, singles, strict=True):
        assert row_keys(many.rows) == row_keys(single.rows)
    assert client.stats.batch_calls >= 1
    assert client.stats.polls >= len(accounts)


def test_usage_headers_slow_the_client_before_the_limit():
    config = SandboxConfig(seed=3, accounts=1, insights_calls_per_hour=20, now=NOW)
    with run_sandbox(config) as sandbox:
        client = make_client(sandbox)
        account = client.list_ad_accounts(["id"])[0]["id"]
        # 19 calls of a budget of 20: from the 15th on (75 %) the client pauses before each call.
        for day in range(19):
            report_day = UNTIL - dt.timedelta(days=day)
            client.insights(
                account, report_day, report_day, fields=["spend"], level="account", use_async=False
            )
    pauses = client.clock.sleeps
    assert len(pauses) == 4 and pauses == sorted(pauses)
    assert client.stats.throttle_waits == 4
    assert client.stats.errors_by_kind["throttle"] == 0


# -- bad input: a configuration error before the first request ------------------------------------


@pytest.mark.parametrize(
    ("make", "call", "fragment"),
    [
        (dict(), lambda c: c.list_objects("act_12x", "ads", ["id"]), "not an ad account id"),
        (dict(), lambda c: c.list_objects("act_1", "ads", ["id", "nmae"]), "Unknown field"),
        (dict(), lambda c: c.list_objects("act_1", "pixels", ["id"]), "Unknown object edge"),
        (
            dict(),
            lambda c: c.insights("act_1", SINCE, UNTIL, fields=["spend"],
                                 action_attribution_windows=["28d_view"]),
            "no longer returned",
        ),
    ],
)  # fmt: skip
def test_bad_input_fails_before_any_request(sb, make, call, fragment):
    client = make_client(sb, **make)
    with pytest.raises(MarketingApiError) as caught:
        call(client)
    assert caught.value.kind == "config"
    assert fragment in str(caught.value)
    assert client.stats.total_calls == 0


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"api_version": "26.0"}, "vNN.N"),
        ({"api_version": "xv26.0/"}, "vNN.N"),
        ({"app_secret": "a-secret-without-app"}, "without an app id"),
        ({"page_size": 0}, "page_size"),
    ],
)
def test_bad_client_settings_fail_at_construction(sb, kwargs, fragment):
    with pytest.raises(MarketingApiError) as caught:
        make_client(sb, **kwargs)
    assert caught.value.kind == "config"
    assert fragment in str(caught.value)


# -- async jobs in flight per account --------------------------------------------------------------


class CallLog(MarketingApiClient):
    """Records each request's method and endpoint, to measure jobs in flight."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[str, str]] = []

    def call(self, method, path, params=None, **kwargs):
        self.calls.append((method, "/".join(path)))
        return super().call(method, path, params, **kwargs)

    def max_jobs_in_flight(self) -> int:
        """Jobs started (POST act_X/insights) and not yet read (GET <report_run_id>/insights)."""
        running = peak = 0
        for method, path in self.calls:
            if method == "POST" and path.endswith("/insights"):
                running += 1
                peak = max(peak, running)
            elif method == "GET" and path.endswith("/insights") and not path.startswith("act_"):
                running -= 1
        return peak


def weekly_requests(account: str, weeks: int) -> list[InsightsRequest]:
    return [
        InsightsRequest(
            account_id=account,
            since=UNTIL - dt.timedelta(days=7 * w + 6),
            until=UNTIL - dt.timedelta(days=7 * w),
            fields=("ad_id", "spend"),
        )
        for w in range(weeks)
    ]


@pytest.mark.parametrize(("budget", "cap"), [(None, 4), (100, 1)])
def test_jobs_in_flight_per_account_follow_the_insights_throttle(budget, cap):
    config = SandboxConfig(
        seed=4,
        accounts=1,
        campaigns_per_account=1,
        adsets_per_campaign=1,
        history_days=60,
        insights_calls_per_hour=budget,
        now=NOW,
    )
    with run_sandbox(config) as sandbox:
        client = CallLog(
            sandbox.tokens["system_user"], graph_url=sandbox.base_url, clock=LinkedClock(sandbox)
        )
        account = client.list_ad_accounts(["id"])[0]["id"]
        if budget:
            # Spend 80 % of the hour's budget: x-fb-ads-insights-throttle then reports a high
            # load, and the 6 jobs (about 3 calls each) still fit in what is left.
            for _ in range(budget * 8 // 10):
                client.insights(account, UNTIL, UNTIL, fields=["spend"], use_async=False)
            client.calls.clear()
        results = client.insights_many(weekly_requests(account, 6))
    assert all(r.jobs >= 1 for r in results)
    assert client.stats.errors_by_kind["throttle"] == 0
    assert client.max_jobs_in_flight() == cap


# -- appsecret_proof -------------------------------------------------------------------------------


def test_with_an_app_secret_every_call_carries_appsecret_proof():
    secret = "sandbox-app-secret-for-proof-test"
    config = SandboxConfig(seed=2, accounts=1, app_id="100000000000099", app_secret=secret)
    with run_sandbox(config) as sandbox:
        token = sandbox.tokens["system_user"]
        with_proof = MarketingApiClient(
            token, graph_url=sandbox.base_url, app_id="100000000000099", app_secret=secret
        )
        assert with_proof.list_ad_accounts(["id"])
        without = MarketingApiClient(token, graph_url=sandbox.base_url)
        with pytest.raises(MarketingApiError) as caught:
            without.list_ad_accounts(["id"])
    assert caught.value.code == 100 and "appsecret_proof" in str(caught.value)
    assert without.stats.total_calls == 1


@pytest.mark.parametrize("use_async", [True, False], ids=["async", "sync"])
def test_keep_rows_sees_each_page_as_it_arrives_and_its_output_is_the_result(sb, use_async):
    account = first_account(sb)
    expected = ad_insights(make_client(sb), account, use_async=use_async).rows
    pages: list[int] = []

    def keep(page: list[dict]) -> list[tuple]:
        pages.append(len(page))
        return [(row["ad_id"], row["date_start"], row["spend"]) for row in page]

    result = make_client(sb, page_size=10).insights(
        account,
        SINCE,
        UNTIL,
        level="ad",
        fields=INSIGHTS_FIELDS,
        action_attribution_windows=WINDOWS,
        use_async=use_async,
        keep_rows=keep,
    )

    assert len(pages) > 1 and max(pages) <= 10
    assert sorted(result.rows) == row_keys(expected)

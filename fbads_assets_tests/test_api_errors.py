"""Error classes, usage headers and the decisions taken from them; no server needed."""

from __future__ import annotations

import datetime as dt
import json
import pickle

import pytest

from fbads_assets.api import errors, throttle
from fbads_assets.api.clock import FakeClock
from fbads_assets.api.errors import ApiErrorDetails, MarketingApiError, classify
from fbads_assets.api.stats import ApiStats


def _details(code, subcode=None, message="x", status=400, transient=False):
    return ApiErrorDetails(
        code=code, subcode=subcode, message=message, http_status=status, is_transient=transient
    )


@pytest.mark.parametrize(
    ("code", "subcode", "message", "expected"),
    [
        (190, 463, "Session has expired", errors.AUTH),
        (190, 460, "password", errors.AUTH),
        (10, None, "(#10) no permission", errors.PERMISSION),
        (200, None, "(#200) Requires business_management", errors.PERMISSION),
        (299, None, "(#299)", errors.PERMISSION),
        (100, None, "(#100) Invalid parameter", errors.INVALID),
        (100, 1487534, "data per call", errors.TOO_MUCH_DATA),
        (1, None, "Please reduce the amount of data you're asking for", errors.TOO_MUCH_DATA),
        (1, 99, "An unknown error occurred", errors.TRANSIENT),
        (2, None, "(#2) Service temporarily unavailable", errors.TRANSIENT),
        (4, None, "(#4) Application request limit reached", errors.THROTTLE),
        (17, 2446079, "(#17) User request limit reached", errors.THROTTLE),
        (32, None, "(#32) Page request limit", errors.THROTTLE),
        (613, 1487742, "(#613) too many calls", errors.THROTTLE),
        (80000, 2446079, "(#80000) too many calls", errors.THROTTLE),
        (80004, 2446079, "(#80004) too many calls", errors.THROTTLE),
        (80014, None, "(#80014)", errors.THROTTLE),
        (2, 1504041, "invalid breakdowns", errors.INVALID),
    ],
)
def test_codes_map_to_their_handling_class(code, subcode, message, expected):
    assert classify(_details(code, subcode, message)) == expected


def test_is_transient_flag_and_bare_5xx_are_transient():
    assert classify(_details(999, transient=True)) == errors.TRANSIENT
    assert classify(_details(None, status=502)) == errors.TRANSIENT


def test_auth_errors_say_which_token_to_create_and_where_to_set_it():
    error = MarketingApiError.from_details(_details(190, 463, "Session has expired"), "GET act_1/")
    text = str(error)
    assert "code 190/463" in text
    assert "system user token" in text and "FACEBOOK_ACCESS_TOKEN" in text
    assert not error.retryable


def test_error_text_is_redacted_and_survives_pickling():
    secret = "sbx-error-secret-0123456789abcdef"
    error = MarketingApiError(
        f"failed ?access_token={secret}", kind=errors.TRANSIENT, code=2, what="GET x"
    )
    assert secret not in str(error)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.kind, copy.code, str(copy)) == (error.kind, error.code, str(error))


def _headers(**values):
    return {name.replace("_", "-"): json.dumps(value) for name, value in values.items()}


def test_usage_headers_are_parsed_with_regain_time_in_minutes():
    usage = throttle.parse_usage(
        _headers(
            x_app_usage={"call_count": 28, "total_time": 25, "total_cputime": 25},
            x_ad_account_usage={"acc_id_util_pct": 9.67, "reset_time_duration": 100},
            x_business_use_case_usage={
                "123": [{"type": "ads_insights", "call_count": 97, "total_cputime": 23,
                         "total_time": 23, "estimated_time_to_regain_access": 60}]
            },
            x_fb_ads_insights_throttle={"app_id_util_pct": 40, "acc_id_util_pct": 10},
        )
    )  # fmt: skip
    assert usage.app_pct == 28
    assert usage.business_pct == 97
    assert usage.reset_seconds == 100
    assert usage.regain_access_seconds == 3600
    assert usage.has_insights_throttle


def test_malformed_headers_count_as_no_usage():
    usage = throttle.parse_usage({"x-app-usage": "not json", "x-ad-account-usage": "[]"})
    assert usage.max_pct == 0


def test_client_slows_down_before_the_limit_and_stops_near_it():
    calm = throttle.Usage(app_pct=50)
    busy = throttle.Usage(app_pct=85)
    busier = throttle.Usage(app_pct=94)
    full = throttle.Usage(account_pct=96, reset_seconds=100)
    assert throttle.pause_before_next_call(calm) == 0
    assert 0 < throttle.pause_before_next_call(busy) < throttle.pause_before_next_call(busier)
    assert throttle.pause_before_next_call(full) == 100


def test_throttle_backoff_follows_metas_estimate_else_one_to_five_minutes():
    assert throttle.throttle_backoff(throttle.Usage(regain_access_seconds=3600), 0) == 3600
    fallbacks = [throttle.throttle_backoff(throttle.Usage(), n) for n in range(5)]
    assert fallbacks[0] == 60 and max(fallbacks) == 300


def test_jobs_in_flight_cap_shrinks_with_the_insights_load():
    def cap(pct):
        return throttle.jobs_in_flight_cap(
            throttle.Usage(insights_account_pct=pct, has_insights_throttle=True)
        )

    assert cap(10) == throttle.MAX_JOBS_PER_ACCOUNT
    assert cap(60) == 2
    assert cap(90) == 1
    assert throttle.jobs_in_flight_cap(None) == throttle.MAX_JOBS_PER_ACCOUNT


def test_fake_clock_sleep_advances_time_without_waiting():
    clock = FakeClock(dt.datetime(2026, 11, 30, tzinfo=dt.UTC))
    clock.sleep(3600)
    assert clock.now() == dt.datetime(2026, 11, 30, 1, tzinfo=dt.UTC)
    assert clock.monotonic() == 3600
    assert clock.sleeps == [3600]


def test_stats_as_metadata_is_flat_numbers():
    stats = ApiStats()
    stats.record_call("insights", "act_1")
    stats.record_call("insights", "act_2", requests=2)
    stats.record_wait(12.5)
    stats.add("async_jobs")
    metadata = stats.as_metadata()
    assert metadata["api_calls"] == 3
    assert metadata["api_calls/insights"] == 3
    assert metadata["api_calls/account/act_2"] == 2
    assert metadata["api_throttle_waits"] == 1
    assert metadata["api_throttle_wait_seconds"] == 12.5
    assert all(isinstance(v, int | float) for v in metadata.values())

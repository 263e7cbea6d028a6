"""Sandbox tokens of every kind fail or pass as Meta's do, through the SDK and debug_token."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

import pytest
import requests
from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.adobjects.user import User
from facebook_business.exceptions import FacebookRequestError

from fbads_assets.sandbox import API_VERSION, DEMO_TOKEN, SandboxConfig, run_sandbox
from fbads_assets.sandbox.sdk import make_api

NOW = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)
SECRET = "sandbox-only-secret"
APP_ID = "900000000000007"


@pytest.fixture(scope="module")
def sandbox():
    with run_sandbox(SandboxConfig(seed=5, now=NOW, history_days=30)) as running:
        yield running


def read_account(sandbox, kind, account_index=0):
    api = make_api(sandbox.base_url, sandbox.tokens[kind])
    account = sandbox.world.accounts[account_index]
    return list(
        AdAccount(f"act_{account.id}", api=api).get_insights(
            fields=["spend"], params={"date_preset": "last_7d"}
        )
    )


def failure(call) -> FacebookRequestError:
    with pytest.raises(FacebookRequestError) as info:
        call()
    return info.value


def debug(sandbox, token, caller=f"{APP_ID}|anything"):
    return requests.get(
        f"{sandbox.base_url}/{API_VERSION}/debug_token",
        params={"input_token": token, "access_token": caller},
        timeout=10,
    )


def test_every_documented_token_kind_exists_and_none_looks_like_metas(sandbox):
    kinds = {
        "demo",
        "user_short_lived",
        "user_long_lived",
        "system_user",
        "system_user_60d",
        "page",
        "expired",
        "password_changed",
        "not_authorized",
        "logged_out",
        "no_ads_read",
        "ads_management",
        "one_account",
    }
    assert kinds <= set(sandbox.tokens)
    assert sandbox.tokens["demo"] == DEMO_TOKEN == sandbox.demo_token
    assert all(t.startswith("sbx-") and not t.startswith("EAA") for t in sandbox.tokens.values())
    assert len(set(sandbox.tokens.values())) == len(sandbox.tokens)


@pytest.mark.parametrize(
    "kind",
    [
        "demo",
        "user_short_lived",
        "user_long_lived",
        "system_user",
        "system_user_60d",
        "ads_management",
        "one_account",
    ],
)
def test_valid_tokens_with_ads_read_read_insights(sandbox, kind):
    assert read_account(sandbox, kind)


@pytest.mark.parametrize(
    ("kind", "subcode"),
    [("expired", 463), ("password_changed", 460), ("not_authorized", 458), ("logged_out", 467)],
)
def test_invalid_tokens_fail_with_190_and_their_subcode(sandbox, kind, subcode):
    error = failure(lambda: read_account(sandbox, kind))
    assert (error.http_status(), error.api_error_code()) == (400, 190)
    assert error.api_error_subcode() == subcode
    assert error.api_error_type() == "OAuthException"
    assert sandbox.tokens[kind] not in str(error.body())


def test_unparseable_and_missing_tokens(sandbox):
    account = sandbox.world.accounts[0].id
    error = failure(
        lambda: list(
            AdAccount(
                f"act_{account}", api=make_api(sandbox.base_url, "sbx-made-up")
            ).get_campaigns()
        )
    )
    assert error.api_error_code() == 190 and "Cannot parse" in error.api_error_message()
    bare = requests.get(f"{sandbox.base_url}/{API_VERSION}/act_{account}/", timeout=10)
    assert bare.status_code == 400 and bare.json()["error"]["code"] == 104


def test_tokens_without_ads_read_get_a_permission_error(sandbox):
    for kind in ("no_ads_read", "page"):
        error = failure(lambda kind=kind: read_account(sandbox, kind))
        assert (error.http_status(), error.api_error_code()) == (403, 200)


def test_one_account_token_sees_one_account_and_others_do_not_exist(sandbox):
    api = make_api(sandbox.base_url, sandbox.tokens["one_account"])
    listed = [a["account_id"] for a in User("me", api=api).get_ad_accounts()]
    assert listed == [sandbox.world.accounts[0].id]
    error = failure(lambda: read_account(sandbox, "one_account", account_index=1))
    assert (error.api_error_code(), error.api_error_subcode()) == (100, 33)


def test_short_lived_token_expires_when_the_clock_passes_its_expiry(sandbox):
    try:
        sandbox.clock.advance(dt.timedelta(hours=2, minutes=1))
        error = failure(lambda: read_account(sandbox, "user_short_lived"))
        assert error.api_error_subcode() == 463 and "Session has expired" in (
            error.api_error_message()
        )
        assert read_account(sandbox, "user_long_lived")
        sandbox.clock.advance(dt.timedelta(days=61))
        assert failure(lambda: read_account(sandbox, "user_long_lived")).api_error_subcode() == 463
        assert failure(lambda: read_account(sandbox, "system_user_60d")).api_error_code() == 190
        assert read_account(sandbox, "system_user")
    finally:
        sandbox.clock.set(NOW)


def test_debug_token_describes_each_kind(sandbox):
    expectations = {
        "system_user": ("SYSTEM_USER", 0, 0),
        "demo": ("SYSTEM_USER", 0, 0),
        "page": ("PAGE", 0, 0),
    }
    for kind, (type_, expires, data_expires) in expectations.items():
        data = debug(sandbox, sandbox.tokens[kind]).json()["data"]
        assert (data["type"], data["expires_at"], data["data_access_expires_at"]) == (
            type_,
            expires,
            data_expires,
        )
        assert data["is_valid"] is True and data["app_id"] == APP_ID
    short = debug(sandbox, sandbox.tokens["user_short_lived"]).json()["data"]
    assert 3600 <= short["expires_at"] - short["issued_at"] <= 7200
    assert short["expires_at"] % 3600 == 0
    long = debug(sandbox, sandbox.tokens["user_long_lived"]).json()["data"]
    assert long["expires_at"] - long["issued_at"] == 60 * 86400
    assert long["data_access_expires_at"] - long["issued_at"] == 90 * 86400
    assert "ads_read" in long["scopes"]
    scoped = debug(sandbox, sandbox.tokens["one_account"]).json()["data"]
    assert scoped["granular_scopes"][0]["target_ids"] == [sandbox.world.accounts[0].id]
    wide = debug(sandbox, sandbox.tokens["ads_management"]).json()["data"]
    assert {"ads_read", "ads_management", "business_management"} <= set(wide["scopes"])


def test_debug_token_reports_bad_tokens_in_data_and_refuses_bad_callers(sandbox):
    expired = debug(sandbox, sandbox.tokens["expired"])
    assert expired.status_code == 200
    assert expired.json()["data"]["is_valid"] is False
    assert expired.json()["data"]["error"]["subcode"] == 463
    garbage = debug(sandbox, "sbx-garbage").json()["data"]
    assert garbage["is_valid"] is False and garbage["scopes"] == []
    refused = debug(sandbox, sandbox.demo_token, caller="")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == 100


def test_exchange_turns_a_short_lived_user_token_into_a_long_lived_one(sandbox):
    url = f"{sandbox.base_url}/{API_VERSION}/oauth/access_token"
    params = {
        "grant_type": "fb_exchange_token",
        "client_id": APP_ID,
        "client_secret": "x",
        "fb_exchange_token": sandbox.tokens["user_short_lived"],
    }
    body = requests.get(url, params=params, timeout=10).json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 5183944
    assert body["access_token"].startswith("sbx-")
    data = debug(sandbox, body["access_token"]).json()["data"]
    assert data["is_valid"] and data["expires_at"] - data["issued_at"] == 60 * 86400
    params["fb_exchange_token"] = sandbox.tokens["expired"]
    expired = requests.get(url, params=params, timeout=10)
    assert expired.status_code == 400 and expired.json()["error"]["code"] == 190
    params["client_id"] = "123"
    assert requests.get(url, params=params, timeout=10).json()["error"]["code"] == 101


def test_appsecret_proof_is_enforced_when_the_sandbox_knows_the_secret():
    with run_sandbox(SandboxConfig(seed=5, now=NOW, history_days=30, app_secret=SECRET)) as sb:
        account = sb.world.accounts[0].id
        good = make_api(sb.base_url, sb.demo_token, app_id=APP_ID, app_secret=SECRET)
        assert AdAccount(f"act_{account}", api=good).api_get(fields=["name"])["name"]
        wrong = make_api(sb.base_url, sb.demo_token, app_id=APP_ID, app_secret="other")
        error = failure(lambda: AdAccount(f"act_{account}", api=wrong).api_get(fields=["name"]))
        assert "Invalid appsecret_proof" in error.api_error_message()
        missing = make_api(sb.base_url, sb.demo_token)
        error = failure(lambda: AdAccount(f"act_{account}", api=missing).api_get(fields=["name"]))
        assert "require an appsecret_proof" in error.api_error_message()
        proof = hmac.new(SECRET.encode(), sb.demo_token.encode(), hashlib.sha256).hexdigest()
        ok = requests.get(
            f"{sb.base_url}/{API_VERSION}/act_{account}/",
            headers={"Authorization": f"Bearer {sb.demo_token}"},
            params={"appsecret_proof": proof},
            timeout=10,
        )
        assert ok.status_code == 200

"""The per-run token check reuses the morning's debug_token verdict, for the same token only.

Unit tests of the verdict read back from a Dagster instance, then the real jobs against the
sandbox, whose counters say how often debug_token was called.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from fbads_assets.api.tokens import TokenInfo, token_health_metadata
from fbads_assets.defs.token_verdict import (
    TOKEN_HEALTH_ASSET,
    VERDICT_MAX_AGE,
    fingerprint_metadata,
    reusable_verdict,
)
from fbads_assets.resources import FacebookAdsResource, token_fingerprint
from fbads_assets.sandbox import SandboxConfig, run_sandbox
from fbads_assets_tests.graph_support import GraphRunner, dagster_home, graph_definitions

CHECK = "token_usable_for_this_run"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def token_info(**changes) -> TokenInfo:
    base = dict(
        type="SYSTEM_USER",
        app_id="100000000000042",
        application="Reporting (sandbox)",
        user_id="1",
        profile_id=None,
        issued_at=None,
        expires_at=dt.datetime(2027, 6, 1, tzinfo=dt.UTC),
        data_access_expires_at=dt.datetime(2027, 3, 1, tzinfo=dt.UTC),
        scopes=("ads_read", "business_management"),
        is_valid=True,
    )
    return TokenInfo(**{**base, **changes})


def record_health(instance: dg.DagsterInstance, info: TokenInfo, fingerprint: str) -> dt.datetime:
    """A facebook_token_health materialization as the asset records it; returns its time."""
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            TOKEN_HEALTH_ASSET,
            metadata={**token_health_metadata(info), **fingerprint_metadata(fingerprint)},
        )
    )
    event = instance.get_latest_materialization_event(TOKEN_HEALTH_ASSET)
    assert event is not None
    return dt.datetime.fromtimestamp(event.timestamp, dt.UTC)


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


def test_a_recent_verdict_for_the_same_token_is_read_back_whole(instance):
    info = token_info()
    inspected_at = record_health(instance, info, "fp-a")

    verdict = reusable_verdict(instance, "fp-a", inspected_at + dt.timedelta(hours=2))

    assert verdict is not None
    assert verdict.inspected_at == inspected_at
    got = verdict.info
    assert (got.type, got.app_id, got.application, got.scopes, got.is_valid) == (
        info.type,
        info.app_id,
        info.application,
        info.scopes,
        True,
    )
    assert got.expires_at == info.expires_at
    assert got.data_access_expires_at == info.data_access_expires_at


def test_a_token_that_never_expires_reads_back_as_such(instance):
    inspected_at = record_health(instance, token_info(expires_at=None), "fp-a")

    verdict = reusable_verdict(instance, "fp-a", inspected_at)

    assert verdict is not None and verdict.info.never_expires


@pytest.mark.parametrize(
    ("fingerprint", "age", "changes"),
    [
        pytest.param("fp-b", dt.timedelta(hours=1), {}, id="another token"),
        pytest.param("fp-a", VERDICT_MAX_AGE + dt.timedelta(seconds=1), {}, id="too old"),
        pytest.param("fp-a", -dt.timedelta(minutes=5), {}, id="from the future"),
        pytest.param(
            "fp-a",
            dt.timedelta(hours=1),
            {"expires_at": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)},
            id="expired since",
        ),
        pytest.param(
            "fp-a",
            dt.timedelta(hours=1),
            {"data_access_expires_at": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)},
            id="data access expired since",
        ),
        pytest.param("fp-a", dt.timedelta(hours=1), {"is_valid": False}, id="invalid"),
    ],
)
def test_a_verdict_is_not_reused_for_another_token_when_old_or_when_expired(
    instance, fingerprint, age, changes
):
    inspected_at = record_health(instance, token_info(**changes), "fp-a")

    assert reusable_verdict(instance, fingerprint, inspected_at + age) is None


def test_without_a_verdict_there_is_nothing_to_reuse(instance):
    assert reusable_verdict(instance, "fp-a", utc_now()) is None


def test_the_fingerprint_names_the_token_without_holding_it():
    token = "EAAB" + "x" * 180

    fingerprint = token_fingerprint(token)

    assert len(fingerprint) == 16 and int(fingerprint, 16) >= 0
    assert fingerprint not in token and token[:8] not in fingerprint
    assert fingerprint == token_fingerprint(token)
    assert fingerprint != token_fingerprint(token + "y")


# -- the real jobs against the sandbox ------------------------------------------------------------


@pytest.fixture
def sandbox():
    config = SandboxConfig(
        seed=13, accounts=2, campaigns_per_account=1, adsets_per_campaign=1, ads_per_adset=2
    )
    with run_sandbox(config) as running:
        yield running


def runner_for(tmp_path, sandbox, instance, token: str) -> GraphRunner:
    facebook = FacebookAdsResource(access_token=token, graph_url=sandbox.base_url)
    database = tmp_path / "fbads.duckdb"
    return GraphRunner(graph_definitions(database, facebook), instance, database)


def debug_token_calls(sandbox) -> int:
    by_endpoint = sandbox.counters.snapshot()["by_endpoint"]
    return sum(n for endpoint, n in by_endpoint.items() if "debug_token" in endpoint)


def token_check(result) -> dg.AssetCheckEvaluation:
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == CHECK]
    return evaluation


def test_runs_after_the_daily_inspection_reuse_its_verdict(tmp_path, sandbox):
    token = sandbox.tokens["system_user"]
    with dagster_home(tmp_path / "home") as instance:
        runner = runner_for(tmp_path, sandbox, instance, token)
        account_id = runner.accounts()[0]
        after_inspection = debug_token_calls(sandbox)
        day = utc_now().date() - dt.timedelta(days=3)

        objects = runner.objects(account_id)
        insights = runner.insights(account_id, day, day)

    assert after_inspection == 1
    assert debug_token_calls(sandbox) == 1
    for result in (objects, insights):
        evaluation = token_check(result)
        assert evaluation.passed is True
        assert str(evaluation.metadata["verdict"].value).startswith("reused from")
        assert "reused" in (evaluation.description or "")
        assert "days_to_expiry" in evaluation.metadata or "never_expires" in evaluation.metadata


def test_a_run_without_a_recent_verdict_for_its_token_asks_debug_token(tmp_path, sandbox):
    with dagster_home(tmp_path / "home") as instance:
        runner = runner_for(tmp_path, sandbox, instance, sandbox.tokens["system_user"])
        account_id = runner.accounts()[0]
        other = runner_for(tmp_path, sandbox, instance, sandbox.tokens["user_long_lived"])
        before = debug_token_calls(sandbox)

        result = other.objects(account_id)

    assert debug_token_calls(sandbox) == before + 1
    evaluation = token_check(result)
    assert str(evaluation.metadata["verdict"].value).startswith("fresh")

"""The whole asset graph, run through Dagster against the sandbox into a real DuckDB file."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from fbads_assets.defs import checks as checks_module, insights as insights_module
from fbads_assets.defs.checks import expected_latest_date
from fbads_assets.defs.schedules import (
    ACCOUNT_TAG,
    RANGE_END_TAG,
    RANGE_START_TAG,
    daily_insights_resync,
)
from fbads_assets.resources import FacebookAdsResource
from fbads_assets.sandbox import SandboxConfig, run_sandbox
from fbads_assets.warehouse.tables import TABLES
from fbads_assets_tests.graph_support import GraphRunner, dagster_home, graph_definitions

SMALL_WORLD = dict(
    seed=11,
    accounts=3,
    campaigns_per_account=2,
    adsets_per_campaign=2,
    ads_per_adset=2,
    history_days=60,
)


def utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


@pytest.fixture
def sandbox():
    with run_sandbox(SandboxConfig(**SMALL_WORLD)) as running:
        yield running


def make_runner(tmp_path, sandbox, token: str | None = None):
    facebook = FacebookAdsResource(
        access_token=token or sandbox.demo_token, graph_url=sandbox.base_url
    )
    database = tmp_path / "fbads.duckdb"
    return graph_definitions(database, facebook), database


@pytest.fixture
def runner(tmp_path, sandbox):
    defs, database = make_runner(tmp_path, sandbox)
    with dagster_home(tmp_path / "dagster_home") as instance:
        yield GraphRunner(defs, instance, database)


def check_results(result) -> dict[str, bool]:
    return {
        f"{e.asset_key.path[-1]}.{e.check_name}": e.passed
        for e in result.get_asset_check_evaluations()
    }


def test_the_graph_lands_every_table_with_unique_keys_and_reconciled_days(runner):
    accounts = runner.accounts()
    assert len(accounts) == 3
    for account_id in accounts:
        runner.objects(account_id)
    last = utc_today() - dt.timedelta(days=3)
    first = last - dt.timedelta(days=4)

    result = runner.insights(accounts[0], first, last)

    checks = check_results(result)
    assert checks["ad_insights_raw.reconciles_with_account_totals"] is True
    assert checks["facebook_token_health.token_usable_for_this_run"] is True
    for table in TABLES:
        assert checks.get(f"{table}.primary_key_unique", True) is True, table
    for name, table in TABLES.items():
        keys = ", ".join(table.primary_key)
        dupes = runner.query(
            f"SELECT count(*) AS n FROM (SELECT {keys} FROM facebook_ads.{name} "
            f"GROUP BY {keys} HAVING count(*) > 1)"
        )
        assert int(dupes.n[0]) == 0, name
    # One materialization per day of the range, for every insights-type asset.
    expected = {f"{accounts[0]}|{first + dt.timedelta(days=i)}" for i in range(5)}
    for asset in ("ad_insights_raw", "ad_insights_daily", "facebook_ads_campaign_daily"):
        done = {str(k) for k in runner.instance.get_materialized_partitions(dg.AssetKey(asset))}
        assert done == expected, asset
    mart = runner.query("SELECT * FROM facebook_ads.facebook_ads_campaign_daily")
    assert set(mart.account_id) == {accounts[0]}
    assert mart.spend.sum() > 0
    daily = runner.query("SELECT sum(spend) AS s FROM facebook_ads.ad_insights_daily")
    assert round(float(daily.s[0]), 2) == round(float(mart.spend.sum()), 2)


def test_a_second_run_of_the_same_partitions_leaves_the_same_rows(runner):
    accounts = runner.accounts()
    day = utc_today() - dt.timedelta(days=4)
    runner.insights(accounts[1], day - dt.timedelta(days=2), day)
    columns = "* EXCLUDE (fetched_at)"
    before = {
        name: runner.query(f"SELECT {columns} FROM facebook_ads.{name} ORDER BY ALL")
        for name in ("ad_insights_raw", "ad_insights_daily", "ad_conversions_daily")
    }

    runner.insights(accounts[1], day - dt.timedelta(days=2), day)

    for name, frame in before.items():
        after = runner.query(f"SELECT {columns} FROM facebook_ads.{name} ORDER BY ALL")
        assert len(after) == len(frame) > 0, name
        assert after.equals(frame), name


def test_the_resync_picks_up_conversions_restated_after_the_first_pull(tmp_path):
    now = dt.datetime.now(dt.UTC)
    early = now - dt.timedelta(days=20)
    with run_sandbox(SandboxConfig(**SMALL_WORLD, now=early)) as sandbox:
        defs, database = make_runner(tmp_path, sandbox)
        with dagster_home(tmp_path / "home") as instance:
            runner = GraphRunner(defs, instance, database)
            account_id = runner.accounts()[0]
            last = early.date() - dt.timedelta(days=2)
            first = last - dt.timedelta(days=2)
            restated = (
                "SELECT sum(actions) AS actions, sum(action_value) AS value, count(*) AS n "
                "FROM facebook_ads.ad_conversions_daily WHERE attribution_window = 'default'"
            )
            mart = (
                "SELECT sum(spend) AS s, count(*) AS n "
                "FROM facebook_ads.facebook_ads_campaign_daily"
            )
            runner.insights(account_id, first, last)
            young, young_mart = runner.query(restated), runner.query(mart)

            sandbox.clock.set(now)  # the same days are now 22 days old: attribution settled
            runner.insights(account_id, first, last)
            settled, settled_mart = runner.query(restated), runner.query(mart)

    assert float(settled.actions[0]) > float(young.actions[0]) > 0
    assert float(settled.value[0]) > float(young.value[0])
    # Delivery does not restate, and a re-sync replaces rows rather than adding them.
    assert settled_mart.n[0] == young_mart.n[0] > 0
    assert float(settled_mart.s[0]) == pytest.approx(float(young_mart.s[0]))


def test_reconciliation_fails_and_blocks_the_mart_when_a_row_goes_missing(runner, monkeypatch):
    accounts = runner.accounts()
    real_raw_table = insights_module.raw_table

    def drop_first_row(*args, **kwargs):
        return real_raw_table(*args, **kwargs).slice(1)

    monkeypatch.setattr(insights_module, "raw_table", drop_first_row)
    day = utc_today() - dt.timedelta(days=5)
    result = runner.insights(accounts[0], day, day, raise_on_error=False)

    assert check_results(result)["ad_insights_raw.reconciles_with_account_totals"] is False
    mart_key = dg.AssetKey("facebook_ads_campaign_daily")
    assert not runner.instance.get_materialized_partitions(mart_key)


def test_the_daily_schedule_asks_one_trailing_range_per_account_at_a_frozen_time(runner):
    accounts = runner.accounts()
    tick = dt.datetime.combine(utc_today() - dt.timedelta(days=2), dt.time(13), dt.UTC)
    context = dg.build_schedule_context(instance=runner.instance, scheduled_execution_time=tick)

    requests = daily_insights_resync.evaluate_tick(context).run_requests

    assert sorted(r.tags[ACCOUNT_TAG] for r in requests) == accounts
    last = tick.date() - dt.timedelta(days=1)
    first = last - dt.timedelta(days=27)
    for request in requests:
        account_id = request.tags[ACCOUNT_TAG]
        assert request.tags[RANGE_START_TAG] == f"{account_id}|{first}"
        assert request.tags[RANGE_END_TAG] == f"{account_id}|{last}"
        assert request.run_key == f"resync:{account_id}:{first}:{last}"


def test_the_latest_date_check_fails_while_an_account_misses_its_yesterday(runner):
    accounts = runner.accounts()
    zones = runner.query("SELECT account_id, timezone_name FROM facebook_ads.ad_accounts")
    zone_of = dict(zip(zones.account_id, zones.timezone_name, strict=True))
    now = checks_module.utc_now()
    for account_id in accounts[:-1]:
        day = expected_latest_date(zone_of[account_id], now)
        runner.insights(account_id, day, day)

    missing = runner.run("freshness_check_job", raise_on_error=False)
    evaluation = missing.get_asset_check_evaluations()[0]
    assert evaluation.passed is False
    assert accounts[-1] in evaluation.description

    day = expected_latest_date(zone_of[accounts[-1]], now)
    runner.insights(accounts[-1], day, day)
    complete = runner.run("freshness_check_job")
    assert complete.get_asset_check_evaluations()[0].passed is True


def test_an_account_the_token_cannot_read_fails_naming_the_setting(
    runner, tmp_path, sandbox, monkeypatch
):
    all_ids = runner.accounts()
    monkeypatch.setenv("FACEBOOK_AD_ACCOUNT_IDS", ",".join(all_ids))
    token = sandbox.tokens["one_account"]
    defs, database = make_runner(tmp_path / "restricted", sandbox, token=token)
    restricted = GraphRunner(defs, runner.instance, database)

    result = restricted.run("ad_accounts_job", raise_on_error=False)

    assert not result.success
    error = result.get_step_failure_events()[0].step_failure_data.error
    assert "FACEBOOK_AD_ACCOUNT_IDS" in error.to_string()
    assert token not in error.to_string()


def test_every_run_warns_about_a_token_that_expires_soon(runner, tmp_path, sandbox):
    account_id = runner.accounts()[0]
    defs, database = make_runner(
        tmp_path / "short", sandbox, token=sandbox.tokens["user_short_lived"]
    )
    short_lived = GraphRunner(defs, runner.instance, database)
    short_lived.accounts()

    result = short_lived.objects(account_id)

    assert result.success  # a warning, not a failure: the token still works today
    [evaluation] = [
        e
        for e in result.get_asset_check_evaluations()
        if e.check_name == "token_usable_for_this_run"
    ]
    assert evaluation.passed is False
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.metadata["days_to_expiry"].value == 0

"""The code location as the UI shows it: keys, groups, kinds, descriptions, schemas, schedules."""

import dagster as dg
import pytest

from fbads_assets.definitions import build_definitions, defs
from fbads_assets.settings import load_settings

EXPECTED_ASSETS = {
    "ad_accounts",
    "facebook_token_health",
    "campaigns",
    "ad_sets",
    "ads",
    "ad_creatives",
    "ad_insights_raw",
    "ad_insights_daily",
    "ad_conversions_daily",
    "facebook_ads_campaign_daily",
}


def asset_specs() -> dict[str, dg.AssetSpec]:
    return {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}


def test_the_code_location_holds_the_fixed_asset_keys():
    assert set(asset_specs()) == EXPECTED_ASSETS


@pytest.mark.parametrize("key", sorted(EXPECTED_ASSETS))
def test_every_asset_explains_itself_in_the_ui(key):
    spec = asset_specs()[key]
    assert spec.description and "\n" not in spec.description.strip()
    assert spec.group_name.startswith("facebook_ads")
    assert spec.kinds & {"facebook", "pandas"}
    assert spec.kinds & {"duckdb"} or key == "facebook_token_health"
    assert spec.freshness_policy is not None
    if key != "facebook_token_health":
        schema = spec.metadata["dagster/column_schema"]
        assert schema.columns and all(column.description for column in schema.columns)


def test_every_check_says_what_it_guards():
    graph = defs.resolve_asset_graph()
    checks = [graph.get_check_spec(key) for key in graph.asset_check_keys]
    # A primary-key check per table, foreign keys, plausibility, freshness, reconciliation
    # and token expiry (in the token asset and with every run).
    assert len(checks) == 22
    for check in checks:
        assert check.description, check.key


def test_the_lineage_runs_from_accounts_to_the_mart():
    graph = defs.resolve_asset_graph()

    def upstream(name: str) -> set[str]:
        return {k.to_user_string() for k in graph.get(dg.AssetKey(name)).parent_keys}

    assert "ad_accounts" in upstream("campaigns")
    assert "campaigns" in upstream("ad_sets")
    assert "ad_sets" in upstream("ads")
    assert "ads" in upstream("ad_insights_raw")
    assert "ad_insights_raw" in upstream("ad_insights_daily")
    assert {"ad_insights_daily", "ad_conversions_daily"} <= upstream("facebook_ads_campaign_daily")


def test_insights_backfills_become_one_run_per_account():
    for name in ("ad_insights_raw", "ad_insights_daily", "facebook_ads_campaign_daily"):
        assets_def = defs.resolve_assets_def(name)
        assert assets_def.backfill_policy == dg.BackfillPolicy.single_run()


def test_prod_selects_bigquery_and_local_duckdb(monkeypatch):
    monkeypatch.setenv("FBADS_ENV", "prod")
    monkeypatch.setenv("FACEBOOK_ACCESS_TOKEN", "sbx-not-a-real-token")
    monkeypatch.setenv("FBADS_BIGQUERY_PROJECT", "example-project")
    prod = build_definitions(load_settings())
    io_manager = prod.resources["io_manager"]
    assert type(io_manager).__name__ == "BigQueryWarehouseIOManager"
    assert type(defs.resources["io_manager"]).__name__ == "DuckDBWarehouseIOManager"
    # The token travels as an EnvVar reference, never as its value.
    assert "sbx-not-a-real-token" not in repr(prod.resources["facebook"])

"""The code location: the asset graph plus the resources of the chosen environment.

FBADS_ENV=local (default) writes DuckDB at FBADS_DUCKDB_PATH; FBADS_ENV=prod writes BigQuery.
Without FACEBOOK_ACCESS_TOKEN, local runs read the built-in sandbox (see resources.py).
Secrets only ever travel as dg.EnvVar, so they never reach the code-location snapshot the UI
reads.
"""

from __future__ import annotations

import os

import dagster as dg

from fbads_assets.defs.accounts import ad_accounts, facebook_token_health
from fbads_assets.defs.checks import ALL_CHECKS
from fbads_assets.defs.insights import INSIGHTS_ASSETS
from fbads_assets.defs.mart import facebook_ads_campaign_daily
from fbads_assets.defs.objects import OBJECT_ASSETS
from fbads_assets.defs.schedules import JOBS, SCHEDULES
from fbads_assets.resources import FacebookAdsResource
from fbads_assets.settings import Settings, load_settings


def _env_var_if_set(name: str) -> dg.EnvVar | None:
    return dg.EnvVar(name) if (os.environ.get(name) or "").strip() else None


def facebook_resource(settings: Settings) -> FacebookAdsResource:
    return FacebookAdsResource(
        access_token=_env_var_if_set("FACEBOOK_ACCESS_TOKEN"),
        app_id=_env_var_if_set("FACEBOOK_APP_ID"),
        app_secret=_env_var_if_set("FACEBOOK_APP_SECRET"),
        graph_url=settings.graph_url,
        environment=settings.env,
    )


def warehouse_resources(settings: Settings) -> dict:
    if settings.is_prod:
        from fbads_assets.warehouse.bigquery import BigQueryWarehouse, BigQueryWarehouseIOManager

        project = settings.bigquery_project or ""  # load_settings refuses prod without it
        credentials = _env_var_if_set("FBADS_BIGQUERY_CREDENTIALS_B64")
        return {
            "io_manager": BigQueryWarehouseIOManager(
                project=project,
                dataset=settings.bigquery_dataset,
                location=settings.bigquery_location,
                gcp_credentials=credentials,
            ),
            "warehouse": BigQueryWarehouse(
                project=project,
                dataset=settings.bigquery_dataset,
                location=settings.bigquery_location,
                gcp_credentials=credentials,
            ),
        }

    from fbads_assets.warehouse.duckdb import DuckDBWarehouse, DuckDBWarehouseIOManager

    database = str(settings.duckdb_path)
    return {
        "io_manager": DuckDBWarehouseIOManager(database=database),
        "warehouse": DuckDBWarehouse(database=database),
    }


def build_definitions(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=[
            ad_accounts,
            facebook_token_health,
            *OBJECT_ASSETS,
            *INSIGHTS_ASSETS,
            facebook_ads_campaign_daily,
        ],
        asset_checks=ALL_CHECKS,
        jobs=JOBS,
        schedules=SCHEDULES,
        resources={"facebook": facebook_resource(settings), **warehouse_resources(settings)},
        # Locally one process runs a run's steps in turn: cheaper than a process per step, and
        # DuckDB allows one writer per file anyway. Production keeps the multiprocess default.
        executor=None if settings.is_prod else dg.in_process_executor,
    )


defs = build_definitions(load_settings())

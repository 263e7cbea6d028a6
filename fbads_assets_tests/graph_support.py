"""Running the real asset graph against a sandbox and a temporary DuckDB file, as a user would.

Shared by the graph, secrets and benchmark-smoke tests: the same assets, checks and jobs as
``fbads_assets.definitions``, with the resources pointed at the test's sandbox and files.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd

from fbads_assets.defs.accounts import ad_accounts, facebook_token_health
from fbads_assets.defs.checks import ALL_CHECKS
from fbads_assets.defs.insights import INSIGHTS_ASSETS
from fbads_assets.defs.mart import facebook_ads_campaign_daily
from fbads_assets.defs.objects import OBJECT_ASSETS
from fbads_assets.defs.schedules import JOBS, SCHEDULES, range_tags
from fbads_assets.resources import FacebookAdsResource
from fbads_assets.warehouse.duckdb import DuckDBWarehouse, DuckDBWarehouseIOManager

ALL_ASSETS = [
    ad_accounts,
    facebook_token_health,
    *OBJECT_ASSETS,
    *INSIGHTS_ASSETS,
    facebook_ads_campaign_daily,
]


@contextmanager
def dagster_home(path: Path) -> Iterator[dg.DagsterInstance]:
    """A real, persistent instance (sqlite event log, compute logs) in a test folder."""
    path.mkdir(parents=True, exist_ok=True)
    with dg.instance_for_test(temp_dir=str(path)) as instance:
        yield instance


def graph_definitions(
    database: Path | None, facebook: FacebookAdsResource, warehouse: dict | None = None
) -> dg.Definitions:
    """The project's graph; DuckDB at ``database`` unless ``warehouse`` gives other resources."""
    warehouse = warehouse or {
        "io_manager": DuckDBWarehouseIOManager(database=str(database)),
        "warehouse": DuckDBWarehouse(database=str(database)),
    }
    return dg.Definitions(
        assets=ALL_ASSETS,
        asset_checks=ALL_CHECKS,
        jobs=JOBS,
        schedules=SCHEDULES,
        resources={"facebook": facebook, **warehouse},
        executor=dg.in_process_executor,
    )


@dataclass
class GraphRunner:
    """Runs the project's jobs the way the UI and the schedules launch them."""

    defs: dg.Definitions
    instance: dg.DagsterInstance
    database: Path

    def run(self, job_name: str, tags: dict | None = None, raise_on_error: bool = True):
        job = self.defs.resolve_job_def(job_name)
        return job.execute_in_process(
            instance=self.instance, tags=tags or {}, raise_on_error=raise_on_error
        )

    def accounts(self) -> list[str]:
        self.run("ad_accounts_job")
        return sorted(self.instance.get_dynamic_partitions("ad_account"))

    def objects(self, account_id: str):
        return self.run("account_objects_job", {"dagster/partition": account_id})

    def insights(self, account_id: str, first, last, raise_on_error: bool = True):
        tags = range_tags(account_id, first, last)
        return self.run("insights_job", tags, raise_on_error=raise_on_error)

    def query(self, sql: str) -> pd.DataFrame:
        with duckdb.connect(str(self.database), read_only=True) as connection:
            return connection.sql(sql).df()


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    """The first step failure's message and every cause, as the UI shows them."""
    failures = [e for e in result.all_events if e.is_step_failure]
    assert failures, "expected the run to fail"
    error = failures[0].step_failure_data.error
    texts = []
    while error is not None:
        texts.append(error.message)
        error = error.cause
    return "\n".join(texts)

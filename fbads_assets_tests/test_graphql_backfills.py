"""Scripted runs and backfills through the GraphQL API, the way a user automates the UI.

dagster-graphql's client has no partition argument: a partition run is the job plus the
``dagster/partition`` tag, and a backfill is the ``launchPartitionBackfill`` mutation, sent with
the client's raw executor. The backfill daemon of the live ``dagster dev`` turns it into one
run per account (single-run backfill policy).
"""

import datetime as dt
import time

import pytest
from dagster_graphql import DagsterGraphQLClient

from fbads_assets_tests.infra.dagster_ui import (
    RUN_TIMEOUT_S,
    DagsterUi,
    materialized_partitions,
    registered_accounts,
    wait_for_backfill,
    wait_until,
)

pytestmark = pytest.mark.slow

REPOSITORY = "__repository__"
INSIGHTS_ASSETS = [
    "ad_insights_raw",
    "ad_insights_daily",
    "ad_conversions_daily",
    "facebook_ads_campaign_daily",
]
BACKFILL_DAYS = 3

LAUNCH_BACKFILL = """
mutation LaunchBackfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on PartitionKeysNotFoundError { message }
    ... on InvalidSubsetError { message }
    ... on UnauthorizedError { message }
  }
}
"""

BACKFILL_STATUS = """
query BackfillStatus($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    ... on PartitionBackfill { status numPartitions }
  }
}
"""


@pytest.fixture
def client(dagster_ui: DagsterUi) -> DagsterGraphQLClient:
    return DagsterGraphQLClient("127.0.0.1", port_number=dagster_ui.port, timeout=60)


def run_job(
    client: DagsterGraphQLClient, dagster_ui: DagsterUi, job: str, tags: dict[str, str]
) -> str:
    run_id = client.submit_job_execution(
        job,
        repository_location_name=dagster_ui.location_name,
        repository_name=REPOSITORY,
        tags=tags,
    )
    status = wait_until(
        lambda: _finished(client.get_run_status(run_id).value),
        RUN_TIMEOUT_S,
        f"run {run_id} of {job}",
    )
    assert status == "SUCCESS", f"{job} run {run_id} ended {status}:\n{dagster_ui.log_tail()}"
    return run_id


def _finished(status: str) -> str | None:
    return status if status in ("SUCCESS", "FAILURE", "CANCELED") else None


def latest_report_date(dagster_ui: DagsterUi) -> dt.date:
    """The newest date partition, as the server's code location defines it."""
    data = dagster_ui.graphql(
        """query { assetNodeOrError(assetKey: {path: ["ad_insights_raw"]}) {
             ... on AssetNode { partitionKeysByDimension { name partitionKeys } } } }"""
    )
    dimensions = data["assetNodeOrError"]["partitionKeysByDimension"]
    dates = next(d["partitionKeys"] for d in dimensions if d["name"] == "date")
    return dt.date.fromisoformat(dates[-1])


def test_graphql_partition_run_and_backfill_materialize_their_partitions(
    client: DagsterGraphQLClient, dagster_ui: DagsterUi
) -> None:
    # ad_accounts registers the account partitions that the insights jobs need.
    run_job(client, dagster_ui, "ad_accounts_job", tags={})
    accounts = wait_until(lambda: registered_accounts(dagster_ui), 30, "account partitions")
    # The last account: the browser test uses the first, so their partitions never overlap.
    account_id = accounts[-1]
    latest = latest_report_date(dagster_ui)

    # One partition: the job plus the partition as a tag.
    partition = f"{account_id}|{latest}"
    run_job(client, dagster_ui, "insights_job", tags={"dagster/partition": partition})
    for asset in INSIGHTS_ASSETS:
        assert partition in materialized_partitions(dagster_ui, asset), asset

    # A 3-day backfill of one account, ending the day before the partition above.
    last_day = latest - dt.timedelta(days=1)
    first_day = last_day - dt.timedelta(days=BACKFILL_DAYS - 1)
    key_range = {"start": f"{account_id}|{first_day}", "end": f"{account_id}|{last_day}"}
    params = {
        "partitionsByAssets": [
            {"assetKey": {"path": [asset]}, "partitions": {"ranges": [key_range]}}
            for asset in INSIGHTS_ASSETS
        ],
        "title": "graphql test backfill",
    }
    started = time.monotonic()
    result = client._execute(LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
    assert result["__typename"] == "LaunchBackfillSuccess", result
    backfill_id = result["backfillId"]

    wait_for_backfill(dagster_ui, backfill_id)
    status = dagster_ui.graphql(BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]
    assert status["status"] == "COMPLETED_SUCCESS"
    expected = {f"{account_id}|{first_day + dt.timedelta(days=n)}" for n in range(BACKFILL_DAYS)}
    for asset in INSIGHTS_ASSETS:
        assert expected <= materialized_partitions(dagster_ui, asset), asset
    print(f"backfill of {BACKFILL_DAYS} days finished in {time.monotonic() - started:.0f} s")

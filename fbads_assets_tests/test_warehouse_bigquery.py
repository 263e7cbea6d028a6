"""BigQueryWarehouseIOManager against the local emulator, through real Dagster materializations.

Small test assets named after tables of ``tables.py`` run over the project's partitions
(date × account, account, none) with a test instance; each test writes into its own dataset.
"""

import datetime as dt

import dagster as dg
import pandas as pd
import pytest
from google.api_core.exceptions import Forbidden
from google.cloud import bigquery

from fbads_assets.partitions import account_partitions, date_account_partitions, partition_key
from fbads_assets.warehouse import bigquery as bq
from fbads_assets.warehouse.frames import PANDAS_DTYPES
from fbads_assets.warehouse.tables import CAMPAIGN_DAILY, CAMPAIGNS, TABLES, Table
from fbads_assets_tests.graph_support import failure_text

pytestmark = pytest.mark.bigquery

CREDENTIALS_VARIABLE = "FBADS_BIGQUERY_CREDENTIALS_B64"
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
TODAY = dt.datetime.now(dt.UTC).date()
D1, D2, D3 = (TODAY - dt.timedelta(days=n) for n in (12, 11, 10))


# ---- frames and assets ---------------------------------------------------------------------


def table_frame(table: Table, account: str, dates: list[dt.date], scale: float = 1.0):
    """Two rows per day with every column of the table, typed as the transforms type them."""
    rows = []
    for day in dates or [None]:
        for i in range(2):
            row = {}
            for c in table.columns:
                if c.name == "account_id":
                    row[c.name] = account
                elif c.name == table.date_column:
                    row[c.name] = pd.Timestamp(day)
                elif c.type == "string":
                    row[c.name] = f"{c.name}-{account}-{i}"
                elif c.type == "int":
                    row[c.name] = int(10 * (i + 1) * scale)
                elif c.type in ("float", "money"):
                    row[c.name] = round(1.25 * (i + 1) * scale, 2)
                elif c.type == "timestamp":
                    row[c.name] = pd.Timestamp("2026-01-02 03:04:05", tz="UTC")
                elif c.type == "date":
                    row[c.name] = pd.Timestamp(day or D1)
                else:
                    row[c.name] = True
            rows.append(row)
    frame = pd.DataFrame(rows, columns=table.column_names)
    return frame.astype({c.name: PANDAS_DTYPES[c.type] for c in table.columns})


class Plan:
    """What the test assets return next: a scale for the values, or an empty frame."""

    scale = 1.0
    empty = False


def _scope(context) -> tuple[str, list[dt.date]]:
    keys = [date_account_partitions.get_partition_key_from_str(k) for k in context.partition_keys]
    account = keys[0].keys_by_dimension["account"]
    return account, sorted(dt.date.fromisoformat(k.keys_by_dimension["date"]) for k in keys)


def daily_asset(plan: Plan, table: Table = CAMPAIGN_DAILY) -> dg.AssetsDefinition:
    @dg.asset(
        name=table.name,
        partitions_def=date_account_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def _daily(context: dg.AssetExecutionContext) -> pd.DataFrame:
        account, dates = _scope(context)
        frame = table_frame(TABLES[table.name], account, dates, plan.scale)
        return frame.iloc[:0] if plan.empty else frame

    return _daily


def account_asset(plan: Plan) -> dg.AssetsDefinition:
    @dg.asset(name=CAMPAIGNS.name, partitions_def=account_partitions)
    def _campaigns(context: dg.AssetExecutionContext) -> pd.DataFrame:
        return table_frame(CAMPAIGNS, context.partition_key, [], plan.scale)

    return _campaigns


@pytest.fixture(scope="module")
def instance():
    with dg.instance_for_test() as test_instance:
        test_instance.add_dynamic_partitions(account_partitions.name, ["1", "2"])
        yield test_instance


@pytest.fixture
def warehouse(bigquery_emulator, monkeypatch):
    """An IO manager and resource on a dataset of the test's own, wired as production wires
    them: the key comes from FBADS_BIGQUERY_CREDENTIALS_B64 through dg.EnvVar."""
    monkeypatch.setenv(CREDENTIALS_VARIABLE, bigquery_emulator.credentials_b64)
    config = warehouse_config(bigquery_emulator, bigquery_emulator.new_dataset())
    return bq.BigQueryWarehouseIOManager(**config), bq.BigQueryWarehouse(**config)


def warehouse_config(emulator, dataset: str, **overrides) -> dict:
    return dict(
        project=emulator.project,
        dataset=dataset,
        gcp_credentials=dg.EnvVar(CREDENTIALS_VARIABLE),
        **overrides,
    )


def run(assets, io_manager, instance, key=None, first=None, last=None, **kwargs):
    """Materialize one partition (key) or one account's range (first..last keys)."""
    tags = {}
    if first is not None:
        tags = {RANGE_START: str(first), RANGE_END: str(last)}
    return dg.materialize(
        assets,
        partition_key=str(key) if key is not None else None,
        resources={"io_manager": io_manager},
        instance=instance,
        tags=tags,
        **kwargs,
    )


def by_day(resource: bq.BigQueryWarehouse, table: str = CAMPAIGN_DAILY.name) -> dict:
    """{(account, date): (rows, total spend)} of the table."""
    frame = resource.query(
        f"SELECT account_id, report_date, COUNT(*) AS n, SUM(spend) AS spend "
        f"FROM {resource.table_ref(table)} GROUP BY account_id, report_date"
    )
    return {
        (r.account_id, pd.Timestamp(r.report_date).date()): (r.n, float(r.spend))
        for r in frame.itertuples()
    }


def table_names(emulator, dataset: str) -> list[str]:
    return [t.table_id for t in emulator.client.list_tables(f"{emulator.project}.{dataset}")]


# ---- partitions, ranges, re-materialization ------------------------------------------------


def test_single_partition_creates_a_day_partitioned_clustered_table_with_metadata(
    bigquery_emulator, warehouse, instance
):
    io_manager, resource = warehouse
    asset = daily_asset(Plan())
    result = run([asset], io_manager, instance, key=partition_key("1", D1))

    assert result.success
    assert by_day(resource) == {("1", D1): (2, 3.75)}
    metadata = result.asset_materializations_for_node(asset.node_def.name)[0].metadata
    assert metadata["dagster/partition_row_count"].value == 2
    assert metadata["dagster/storage_kind"].value == "bigquery"
    assert metadata["dagster/table_name"].value == resource.table_ref(asset.key.path[-1])[1:-1]
    columns = [c.name for c in metadata["dagster/column_schema"].schema.columns]
    assert columns == CAMPAIGN_DAILY.column_names
    found = bigquery_emulator.client.get_table(resource.table_ref(CAMPAIGN_DAILY.name).strip("`"))
    assert found.time_partitioning.type_ == "DAY"
    assert found.time_partitioning.field == "report_date"
    if bigquery_emulator.kind == "local-bigquery":  # bqemulator drops clustering metadata
        assert found.clustering_fields == ["account_id"]
    types = {f.name: bq.normalized_type(f.field_type) for f in found.schema}
    assert types["report_date"] == "DATE"
    assert types["spend"] == "NUMERIC"
    assert types["impressions"] == "INT64"
    assert types["account_id"] == "STRING"
    descriptions = {f.name: f.description for f in found.schema}
    assert descriptions["roas"] == CAMPAIGN_DAILY.column("roas").description


def test_ranged_run_and_rematerialization_replace_only_their_slice(warehouse, instance):
    io_manager, resource = warehouse
    plan = Plan()
    asset = daily_asset(plan)
    run([asset], io_manager, instance, first=partition_key("1", D1), last=partition_key("1", D3))
    run([asset], io_manager, instance, key=partition_key("2", D2))

    plan.scale = 10.0
    result = run(
        [asset], io_manager, instance, first=partition_key("1", D2), last=partition_key("1", D3)
    )

    assert result.success
    assert by_day(resource) == {
        ("1", D1): (2, 3.75),
        ("1", D2): (2, 37.5),
        ("1", D3): (2, 37.5),
        ("2", D2): (2, 3.75),
    }


def test_unpartitioned_downstream_reads_every_account_back(warehouse, instance):
    io_manager, _ = warehouse
    asset = daily_asset(Plan())
    seen = {}

    @dg.asset(deps=[], ins={"facebook_ads_campaign_daily": dg.AssetIn()})
    def spend_by_account(facebook_ads_campaign_daily: pd.DataFrame) -> None:
        seen["frame"] = facebook_ads_campaign_daily

    run([asset], io_manager, instance, key=partition_key("1", D1))
    run([asset], io_manager, instance, key=partition_key("2", D2))
    run([asset, spend_by_account], io_manager, instance, selection=[spend_by_account.key])

    frame = seen["frame"]
    assert list(frame.columns) == CAMPAIGN_DAILY.column_names
    assert sorted(set(zip(frame.account_id, frame.report_date.dt.date, strict=True))) == [
        ("1", D1),
        ("2", D2),
    ]
    expected = {c.name: PANDAS_DTYPES[c.type] for c in CAMPAIGN_DAILY.columns}
    assert {name: str(dtype) for name, dtype in frame.dtypes.items()} == expected


def test_partitioned_downstream_loads_its_own_slice_with_the_written_values(warehouse, instance):
    io_manager, _ = warehouse
    asset = daily_asset(Plan())
    seen = {}

    @dg.asset(partitions_def=date_account_partitions)
    def campaign_daily_copy(facebook_ads_campaign_daily: pd.DataFrame) -> None:
        seen["frame"] = facebook_ads_campaign_daily

    run([asset], io_manager, instance, first=partition_key("1", D1), last=partition_key("1", D2))
    run([asset, campaign_daily_copy], io_manager, instance, key=partition_key("1", D2))

    written = table_frame(CAMPAIGN_DAILY, "1", [D2])
    loaded = seen["frame"].reset_index(drop=True)
    pd.testing.assert_frame_equal(loaded, written, check_exact=False)


def test_account_partitions_and_unpartitioned_tables_replace_their_slice(
    bigquery_emulator, warehouse, instance
):
    io_manager, resource = warehouse
    plan = Plan()
    campaigns = account_asset(plan)
    run([campaigns], io_manager, instance, key="1")
    run([campaigns], io_manager, instance, key="2")
    plan.scale = 3.0
    run([campaigns], io_manager, instance, key="1")

    counts = resource.query(
        f"SELECT account_id, COUNT(*) AS n, SUM(daily_budget) AS budget "
        f"FROM {resource.table_ref('campaigns')} GROUP BY account_id ORDER BY account_id"
    )
    assert counts.values.tolist() == [["1", 2, 11.25], ["2", 2, 3.75]]
    found = bigquery_emulator.client.get_table(resource.table_ref("campaigns").strip("`"))
    assert found.time_partitioning is None


# ---- atomic replace ------------------------------------------------------------------------


def test_failure_between_staging_and_replace_keeps_old_rows_and_drops_staging(
    bigquery_emulator, warehouse, instance
):
    io_manager, resource = warehouse
    plan = Plan()
    asset = daily_asset(plan)
    run([asset], io_manager, instance, key=partition_key("1", D1))

    def crash(client, sql, timeout):
        raise RuntimeError("injected crash after the staging load")

    plan.scale = 10.0
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bq, "replace_slice", crash)
        failed = run(
            [asset], io_manager, instance, key=partition_key("1", D1), raise_on_error=False
        )

    assert not failed.success
    assert "injected crash" in failure_text(failed)
    assert by_day(resource) == {("1", D1): (2, 3.75)}
    dataset = resource.dataset
    assert [t for t in table_names(bigquery_emulator, dataset) if t.startswith("_fbads")] == []

    assert run([asset], io_manager, instance, key=partition_key("1", D1)).success
    assert by_day(resource) == {("1", D1): (2, 37.5)}


def test_error_inside_the_transaction_rolls_back_the_delete(warehouse, instance, monkeypatch):
    io_manager, resource = warehouse
    plan = Plan()
    asset = daily_asset(plan)
    run([asset], io_manager, instance, key=partition_key("1", D1))

    real_sql = bq.replace_sql

    def failing_after_delete(*args):
        # The DELETE and INSERT run, then a statement fails before COMMIT.
        return real_sql(*args).replace(
            "COMMIT TRANSACTION;", "SELECT ERROR('injected');\nCOMMIT TRANSACTION;"
        )

    monkeypatch.setattr(bq, "replace_sql", failing_after_delete)
    plan.scale = 10.0
    failed = run([asset], io_manager, instance, key=partition_key("1", D1), raise_on_error=False)

    assert not failed.success
    assert by_day(resource) == {("1", D1): (2, 3.75)}


def test_empty_frame_leaves_an_existing_table_with_an_empty_slice(warehouse, instance):
    io_manager, resource = warehouse
    plan = Plan()
    asset = daily_asset(plan)
    plan.empty = True
    assert run([asset], io_manager, instance, key=partition_key("1", D1)).success
    assert resource.table_exists(CAMPAIGN_DAILY.name)
    assert by_day(resource) == {}

    plan.empty = False
    run([asset], io_manager, instance, key=partition_key("1", D1))
    run([asset], io_manager, instance, key=partition_key("1", D2))
    plan.empty = True
    run([asset], io_manager, instance, key=partition_key("1", D1))

    assert by_day(resource) == {("1", D2): (2, 3.75)}


# ---- schema drift and bad input ------------------------------------------------------------


def test_column_new_in_tables_py_is_added_as_nullable(bigquery_emulator, warehouse, instance):
    io_manager, resource = warehouse
    older = Table(
        name=CAMPAIGN_DAILY.name,
        description=CAMPAIGN_DAILY.description,
        columns=tuple(c for c in CAMPAIGN_DAILY.columns if c.name != "roas"),
        primary_key=CAMPAIGN_DAILY.primary_key,
        date_column=CAMPAIGN_DAILY.date_column,
    )
    asset = daily_asset(Plan())
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(TABLES, CAMPAIGN_DAILY.name, older)
        run([asset], io_manager, instance, key=partition_key("1", D1))

    assert run([asset], io_manager, instance, key=partition_key("1", D2)).success

    rows = resource.query(
        f"SELECT report_date, roas FROM {resource.table_ref(CAMPAIGN_DAILY.name)} "
        "ORDER BY report_date, roas"
    )
    assert rows.roas.isna().tolist() == [True, True, False, False]
    if bigquery_emulator.kind == "local-bigquery":  # bqemulator's ALTER skips the metadata
        found = bigquery_emulator.client.get_table(
            resource.table_ref(CAMPAIGN_DAILY.name).strip("`")
        )
        assert {f.name: f.mode for f in found.schema}["roas"] == "NULLABLE"


def _create(emulator, resource, schema, partitioning=None) -> str:
    ref = resource.table_ref(CAMPAIGN_DAILY.name).strip("`")
    emulator.client.create_dataset(f"{emulator.project}.{resource.dataset}", exists_ok=True)
    created = bigquery.Table(ref, schema=schema)
    created.time_partitioning = partitioning
    emulator.client.create_table(created)
    spend = "'1.5'" if schema[3].field_type == "STRING" else "1.5"
    emulator.client.query(
        f"INSERT INTO `{ref}` (account_id, report_date, campaign_id, spend) "
        f"VALUES ('1', DATE '{D1}', 'old', {spend})"
    ).result()
    return ref


def _campaign_schema(spend_type: str) -> list[bigquery.SchemaField]:
    return [
        bigquery.SchemaField("account_id", "STRING"),
        bigquery.SchemaField("report_date", "DATE"),
        bigquery.SchemaField("campaign_id", "STRING"),
        bigquery.SchemaField("spend", spend_type),
    ]


def test_changed_column_type_is_refused_naming_the_column(bigquery_emulator, warehouse, instance):
    io_manager, resource = warehouse
    day_partitions = bigquery.TimePartitioning(field="report_date")
    ref = _create(bigquery_emulator, resource, _campaign_schema("STRING"), day_partitions)

    failed = run(
        [daily_asset(Plan())],
        io_manager,
        instance,
        key=partition_key("1", D1),
        raise_on_error=False,
    )

    text = failure_text(failed)
    assert "Column spend" in text and ref in text and "STRING" in text
    assert bigquery_emulator.rows(f"SELECT campaign_id FROM `{ref}`") == [("old",)]


def test_table_with_other_partitioning_is_refused_naming_it(bigquery_emulator, warehouse, instance):
    io_manager, resource = warehouse
    ref = _create(bigquery_emulator, resource, _campaign_schema("NUMERIC"), None)

    failed = run(
        [daily_asset(Plan())],
        io_manager,
        instance,
        key=partition_key("1", D1),
        raise_on_error=False,
    )

    text = failure_text(failed)
    assert f"Table {ref} is partitioned by nothing" in text
    assert "DAY on report_date" in text
    assert bigquery_emulator.rows(f"SELECT campaign_id FROM `{ref}`") == [("old",)]


def test_dataset_in_another_location_is_refused(bigquery_emulator, warehouse, instance):
    io_manager, resource = warehouse
    dataset = bigquery.Dataset(f"{bigquery_emulator.project}.{resource.dataset}")
    dataset.location = "US"
    bigquery_emulator.client.create_dataset(dataset)
    in_eu = bq.BigQueryWarehouseIOManager(
        **warehouse_config(bigquery_emulator, resource.dataset, location="EU")
    )

    failed = run(
        [daily_asset(Plan())], in_eu, instance, key=partition_key("1", D1), raise_on_error=False
    )

    text = failure_text(failed)
    assert f"Dataset {bigquery_emulator.project}.{resource.dataset} is in US" in text
    assert "FBADS_BIGQUERY_LOCATION is EU" in text
    assert not resource.table_exists(CAMPAIGN_DAILY.name)


def test_credential_without_roles_gets_the_roles_to_grant(warehouse, instance, monkeypatch):
    io_manager, _ = warehouse

    def forbidden(*args, **kwargs):
        raise Forbidden("Access Denied: Permission bigquery.datasets.get denied")

    monkeypatch.setattr(bigquery.Client, "get_dataset", forbidden)
    failed = run(
        [daily_asset(Plan())],
        io_manager,
        instance,
        key=partition_key("1", D1),
        raise_on_error=False,
    )

    text = failure_text(failed)
    assert "BigQuery Data Editor on the dataset and BigQuery Job User on the project" in text
    assert "Permission bigquery.datasets.get denied" in text


# ---- the warehouse resource ----------------------------------------------------------------


def test_warehouse_resource_queries_with_parameters_and_knows_its_tables(warehouse, instance):
    io_manager, resource = warehouse
    run([daily_asset(Plan())], io_manager, instance, key=partition_key("1", D1))

    frame = resource.query(
        "SELECT COUNT(*) AS n FROM facebook_ads_campaign_daily WHERE account_id = ?", ["1"]
    )
    named = resource.query(
        f"SELECT COUNT(*) AS n FROM {resource.table_ref(CAMPAIGN_DAILY.name)} "
        "WHERE report_date = @day",
        {"day": D1},
    )

    assert frame.n.tolist() == [2]
    assert named.n.tolist() == [2]
    assert resource.table_ref("ads") == f"`{resource.project}.{resource.dataset}.ads`"
    assert resource.table_exists(CAMPAIGN_DAILY.name)
    assert not resource.table_exists("ads")


# ---- selection by settings ------------------------------------------------------------------


def test_prod_settings_choose_the_bigquery_warehouse(bigquery_emulator, monkeypatch):
    from fbads_assets.definitions import build_definitions
    from fbads_assets.settings import SettingsError, load_settings

    for name, value in bigquery_emulator.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("FACEBOOK_ACCESS_TOKEN", "sbx-test-token")

    resources = build_definitions(load_settings()).resources

    assert isinstance(resources["io_manager"], bq.BigQueryWarehouseIOManager)
    assert isinstance(resources["warehouse"], bq.BigQueryWarehouse)
    assert resources["io_manager"].project == bigquery_emulator.project
    monkeypatch.delenv("FBADS_BIGQUERY_PROJECT")
    with pytest.raises(SettingsError, match="FBADS_BIGQUERY_PROJECT"):
        load_settings()

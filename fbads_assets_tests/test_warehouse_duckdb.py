"""The DuckDB warehouse through real Dagster materializations: slices replaced atomically.

Each test writes a temporary DuckDB file through DuckDBWarehouseIOManager with small assets
named after the project's tables, partitioned like the real ones (date × account, account,
none), and reads the file back through DuckDBWarehouse.
"""

import datetime as dt
import logging
from typing import Any

import dagster as dg
import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from fbads_assets.partitions import ACCOUNT_DIMENSION, DATE_DIMENSION, account_partitions
from fbads_assets.warehouse import duckdb as warehouse_duckdb
from fbads_assets.warehouse.duckdb import DuckDBWarehouse, DuckDBWarehouseIOManager
from fbads_assets.warehouse.frames import PANDAS_DTYPES
from fbads_assets.warehouse.tables import AD_ACCOUNTS, AD_INSIGHTS_DAILY, CAMPAIGNS, Table
from fbads_assets_tests.graph_support import failure_text

# Fixed dates, unlike the project's definition (which starts FBADS_START_DATE days back), so
# partition keys in these tests never move.
DATES = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_date="2026-02-01")
DATE_ACCOUNT = dg.MultiPartitionsDefinition(
    {DATE_DIMENSION: DATES, ACCOUNT_DIMENSION: account_partitions}
)
ACCOUNTS = ("111", "222")
FETCHED_AT = pd.Timestamp("2026-01-20T08:30:00Z")


# ---- frames as the transforms produce them --------------------------------------------------


def typed(rows: list[dict], table: Table) -> pd.DataFrame:
    """A frame with the table's columns in the transforms' pandas dtypes."""
    frame = pd.DataFrame(rows, columns=table.column_names)
    for column in table.columns:
        dtype = PANDAS_DTYPES[column.type]
        if column.type == "string":
            values = frame[column.name].astype(object)
            frame[column.name] = values.where(values.notna(), None)
        elif column.type == "date":
            frame[column.name] = pd.to_datetime(frame[column.name])
        else:
            frame[column.name] = frame[column.name].astype(dtype)
    return frame


def insights_rows(account: str, days: list[dt.date], impressions: int = 10) -> pd.DataFrame:
    rows = [
        {
            "ad_id": f"{account}0{ad}",
            "date_start": day,
            "account_id": account,
            "campaign_id": f"{account}9",
            "ad_name": f"Ad {ad}",
            "account_currency": "EUR",
            "impressions": impressions,
            "clicks": ad,
            "spend": 1.25 * ad,
            "ctr": 0.5,
            "fetched_at": FETCHED_AT,
        }
        for day in days
        for ad in (1, 2)
    ]
    return typed(rows, AD_INSIGHTS_DAILY)


def days_of(context: dg.AssetExecutionContext) -> list[dt.date]:
    window = context.partition_time_window
    count = (window.end - window.start).days
    return [window.start.date() + dt.timedelta(days=i) for i in range(count)]


def account_of(context: dg.AssetExecutionContext) -> str:
    return context.partition_keys[0].keys_by_dimension[ACCOUNT_DIMENSION]


# The frame each test asset returns; a test sets it before materializing.
BUILD: dict[str, Any] = {}


@dg.asset(name="ad_insights_daily", partitions_def=DATE_ACCOUNT)
def insights_asset(context: dg.AssetExecutionContext) -> pd.DataFrame:
    build = BUILD.get("ad_insights_daily")
    if callable(build):
        return build(context)
    return insights_rows(account_of(context), days_of(context))


@dg.asset(partitions_def=DATE_ACCOUNT)
def insights_reader(context: dg.AssetExecutionContext, ad_insights_daily: pd.DataFrame) -> None:
    BUILD["loaded"] = ad_insights_daily


@dg.asset(
    partitions_def=DATES,
    ins={
        "ad_insights_daily": dg.AssetIn(
            partition_mapping=dg.MultiToSingleDimensionPartitionMapping(DATE_DIMENSION)
        )
    },
)
def daily_rollup(context: dg.AssetExecutionContext, ad_insights_daily: pd.DataFrame) -> None:
    BUILD["loaded"] = ad_insights_daily


@dg.asset(name="campaigns", partitions_def=account_partitions)
def campaigns_asset(context: dg.AssetExecutionContext) -> pd.DataFrame:
    account = context.partition_key
    rows = [
        {"campaign_id": f"{account}9{n}", "account_id": account, "name": f"C{n}"} for n in (1, 2)
    ]
    return typed(rows, CAMPAIGNS)


@dg.asset(name="ad_accounts")
def accounts_asset() -> pd.DataFrame:
    rows = [{"account_id": a, "name": f"Account {a}", "currency": "EUR"} for a in BUILD["accounts"]]
    return typed(rows, AD_ACCOUNTS)


# ---- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def instance():
    # In-memory storage: about four times cheaper per run than instance_for_test's sqlite.
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(str(account_partitions.name), list(ACCOUNTS))
        yield instance


@pytest.fixture
def database(tmp_path) -> str:
    return str(tmp_path / "warehouse" / "fbads.duckdb")


@pytest.fixture(autouse=True)
def reset_build():
    BUILD.clear()
    yield
    BUILD.clear()


def key(account: str, day: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({ACCOUNT_DIMENSION: account, DATE_DIMENSION: day})


def range_tags(account: str, first: str, last: str) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": str(key(account, first)),
        "dagster/asset_partition_range_end": str(key(account, last)),
    }


def write(instance, database, assets=(insights_asset,), raise_on_error=True, **kwargs):
    return dg.materialize(
        list(assets),
        instance=instance,
        resources={"io_manager": DuckDBWarehouseIOManager(database=database)},
        raise_on_error=raise_on_error,
        **kwargs,
    )


def rows(database: str, table: str = "ad_insights_daily") -> pd.DataFrame:
    warehouse = DuckDBWarehouse(database=database)
    order = "account_id, date_start, ad_id" if table == "ad_insights_daily" else "1"
    return warehouse.query(f"SELECT * FROM {warehouse.table_ref(table)} ORDER BY {order}")


def per_day(database: str) -> dict[tuple[str, str], int]:
    frame = rows(database)
    grouped = frame.groupby(["account_id", frame["date_start"].dt.strftime("%Y-%m-%d")])
    return {k: int(v) for k, v in grouped["impressions"].sum().items()}


# ---- writing partitions and ranges -----------------------------------------------------------


def test_single_partition_lands_its_rows_with_table_metadata(instance, database):
    result = write(instance, database, partition_key=str(key("111", "2026-01-05")))

    stored = rows(database)
    assert list(stored.columns) == AD_INSIGHTS_DAILY.column_names
    assert stored[["ad_id", "account_id"]].values.tolist() == [["11101", "111"], ["11102", "111"]]
    assert stored["date_start"].dt.date.unique().tolist() == [dt.date(2026, 1, 5)]
    assert stored["spend"].tolist() == [1.25, 2.5]
    assert stored["fetched_at"].tolist() == [FETCHED_AT, FETCHED_AT]

    (materialization,) = result.asset_materializations_for_node("ad_insights_daily")
    metadata = materialization.metadata
    assert metadata["dagster/partition_row_count"].value == 2
    assert metadata["dagster/table_name"].value == "facebook_ads.ad_insights_daily"
    assert metadata["dagster/storage_kind"].value == "duckdb"
    schema = metadata["dagster/column_schema"].value
    assert [c.name for c in schema.columns] == AD_INSIGHTS_DAILY.column_names


def test_ranged_run_lands_one_materialization_per_day_and_replaces_only_its_slice(
    instance, database
):
    for account in ACCOUNTS:
        write(instance, database, tags=range_tags(account, "2026-01-01", "2026-01-05"))

    BUILD["ad_insights_daily"] = lambda c: insights_rows(account_of(c), days_of(c), 99)
    result = write(instance, database, tags=range_tags("111", "2026-01-02", "2026-01-04"))

    materialized = result.asset_materializations_for_node("ad_insights_daily")
    assert sorted(str(m.partition) for m in materialized) == [
        str(key("111", f"2026-01-0{d}")) for d in (2, 3, 4)
    ]
    expected = {(a, f"2026-01-0{d}"): 20 for a in ACCOUNTS for d in range(1, 6)}
    expected.update({("111", f"2026-01-0{d}"): 198 for d in (2, 3, 4)})
    assert per_day(database) == expected


def test_rerunning_the_same_partitions_leaves_identical_rows(instance, database):
    tags = range_tags("222", "2026-01-10", "2026-01-12")
    write(instance, database, tags=tags)
    first = rows(database)

    write(instance, database, tags=tags)

    pd.testing.assert_frame_equal(rows(database), first)
    assert len(first) == 6


def test_account_partition_replaces_one_account_and_unpartitioned_replaces_the_table(
    instance, database
):
    for account in ACCOUNTS:
        write(instance, database, assets=[campaigns_asset], partition_key=account)
    write(instance, database, assets=[campaigns_asset], partition_key="111")
    assert rows(database, "campaigns")["campaign_id"].tolist() == [
        "11191",
        "11192",
        "22291",
        "22292",
    ]

    BUILD["accounts"] = ["111", "222"]
    write(instance, database, assets=[accounts_asset])
    BUILD["accounts"] = ["222"]
    result = write(instance, database, assets=[accounts_asset])

    assert rows(database, "ad_accounts")["account_id"].tolist() == ["222"]
    (materialization,) = result.asset_materializations_for_node("ad_accounts")
    assert materialization.metadata["dagster/row_count"].value == 1


# ---- empty partitions and loads --------------------------------------------------------------


def test_empty_first_partition_creates_the_empty_table(instance, database):
    BUILD["ad_insights_daily"] = lambda c: insights_rows(account_of(c), [])

    result = write(instance, database, partition_key=str(key("111", "2026-01-07")))

    assert DuckDBWarehouse(database=database).table_exists("ad_insights_daily")
    stored = rows(database)
    assert stored.empty and list(stored.columns) == AD_INSIGHTS_DAILY.column_names
    (materialization,) = result.asset_materializations_for_node("ad_insights_daily")
    assert materialization.metadata["dagster/partition_row_count"].value == 0
    run_logs = instance.all_logs(result.run_id)
    assert [e.user_message for e in run_logs if e.level >= logging.WARNING] == []


def test_empty_frame_replaces_a_day_that_had_rows(instance, database):
    write(instance, database, tags=range_tags("111", "2026-01-01", "2026-01-02"))

    BUILD["ad_insights_daily"] = lambda c: insights_rows(account_of(c), [])
    write(instance, database, partition_key=str(key("111", "2026-01-02")))

    assert per_day(database) == {("111", "2026-01-01"): 20}


def test_load_reads_the_range_with_the_transform_dtypes(instance, database):
    write(instance, database, tags=range_tags("111", "2026-01-01", "2026-01-06"))
    write(instance, database, tags=range_tags("222", "2026-01-01", "2026-01-06"))

    write(
        instance,
        database,
        assets=[insights_asset, insights_reader],
        selection=[insights_reader],
        tags=range_tags("111", "2026-01-02", "2026-01-03"),
    )

    loaded = BUILD["loaded"]
    expected = insights_rows("111", [dt.date(2026, 1, 2), dt.date(2026, 1, 3)])
    expected = expected.sort_values(["ad_id", "date_start"], ignore_index=True)
    pd.testing.assert_frame_equal(loaded.reset_index(drop=True), expected)


def test_load_across_accounts_reads_every_account_of_the_day(instance, database):
    for account in ACCOUNTS:
        write(instance, database, tags=range_tags(account, "2026-01-01", "2026-01-03"))

    write(
        instance,
        database,
        assets=[insights_asset, daily_rollup],
        selection=[daily_rollup],
        partition_key="2026-01-02",
    )

    loaded = BUILD["loaded"]
    assert sorted(set(loaded["account_id"])) == list(ACCOUNTS)
    assert loaded["date_start"].dt.date.unique().tolist() == [dt.date(2026, 1, 2)]
    assert len(loaded) == 4


def test_load_of_a_table_never_written_is_an_empty_frame_with_the_columns(instance, database):
    write(
        instance,
        database,
        assets=[insights_asset, insights_reader],
        selection=[insights_reader],
        partition_key=str(key("111", "2026-01-03")),
    )

    loaded = BUILD["loaded"]
    assert loaded.empty
    assert list(loaded.columns) == AD_INSIGHTS_DAILY.column_names
    assert str(loaded["impressions"].dtype) == "Int64"


# ---- atomicity: a failed write keeps the old rows --------------------------------------------


def bad_impressions(context):
    frame = insights_rows(account_of(context), days_of(context))
    frame["impressions"] = frame["impressions"].astype(object)
    frame.loc[1, "impressions"] = "many"
    return frame


def test_value_that_fails_the_cast_after_the_delete_keeps_the_old_rows(instance, database):
    write(instance, database, tags=range_tags("111", "2026-01-01", "2026-01-03"))
    before = rows(database)

    BUILD["ad_insights_daily"] = bad_impressions
    result = write(
        instance, database, raise_on_error=False, tags=range_tags("111", "2026-01-02", "2026-01-03")
    )

    assert not result.success
    assert "many" in failure_text(result)
    pd.testing.assert_frame_equal(rows(database), before)


def test_insert_that_raises_keeps_the_old_rows(instance, database, monkeypatch):
    write(instance, database, partition_key=str(key("222", "2026-01-04")))
    before = rows(database)

    def broken_insert(*args, **kwargs):
        raise OSError("disk full (injected)")

    monkeypatch.setattr(warehouse_duckdb, "insert_frame", broken_insert)
    result = write(
        instance, database, raise_on_error=False, partition_key=str(key("222", "2026-01-04"))
    )

    assert "disk full (injected)" in failure_text(result)
    pd.testing.assert_frame_equal(rows(database), before)


# ---- the insert's memory -----------------------------------------------------------------------


def memory_limit_as_duckdb_shows_it(limit: str) -> str:
    with duckdb.connect(":memory:", config={"memory_limit": limit}) as connection:
        return connection.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]


@pytest.mark.parametrize(
    ("connection_config", "limit"),
    [({}, warehouse_duckdb.WRITE_MEMORY_LIMIT), ({"memory_limit": "512MB"}, "512MB")],
)
def test_writes_cap_duckdbs_memory_unless_the_user_set_a_limit(
    instance, database, monkeypatch, connection_config, limit
):
    limits_seen = []
    real_insert = warehouse_duckdb.insert_frame

    def recording_insert(connection, *args):
        limits_seen.append(connection.execute("SELECT current_setting('memory_limit')").fetchall())
        return real_insert(connection, *args)

    monkeypatch.setattr(warehouse_duckdb, "insert_frame", recording_insert)
    io_manager = DuckDBWarehouseIOManager(database=database, connection_config=connection_config)
    dg.materialize(
        [insights_asset],
        instance=instance,
        resources={"io_manager": io_manager},
        partition_key=str(key("111", "2026-01-04")),
    )

    assert limits_seen == [[(memory_limit_as_duckdb_shows_it(limit),)]]
    assert len(rows(database)) == 2


# ---- frames refused before the file is touched -----------------------------------------------


def test_wrong_columns_are_refused_naming_table_missing_and_extra(instance, database):
    write(instance, database, partition_key=str(key("111", "2026-01-04")))
    before = rows(database)

    def wrong_columns(context):
        frame = insights_rows(account_of(context), days_of(context))
        return frame.drop(columns=["spend", "reach"]).assign(amount_spent=1.0)

    BUILD["ad_insights_daily"] = wrong_columns
    result = write(
        instance, database, raise_on_error=False, partition_key=str(key("111", "2026-01-04"))
    )

    text = failure_text(result)
    assert "ad_insights_daily" in text
    assert "missing reach, spend" in text
    assert "unexpected amount_spent" in text
    pd.testing.assert_frame_equal(rows(database), before)


@pytest.mark.parametrize(
    ("account", "day", "named"),
    [("222", dt.date(2026, 1, 4), "rows for 222"), ("111", dt.date(2026, 1, 9), "2026-01-09")],
    ids=["another account", "a date outside the range"],
)
def test_rows_outside_the_slice_are_refused(instance, database, account, day, named):
    BUILD["ad_insights_daily"] = lambda c: pd.concat(
        [insights_rows(account_of(c), days_of(c)), insights_rows(account, [day])],
        ignore_index=True,
    )

    result = write(
        instance, database, raise_on_error=False, tags=range_tags("111", "2026-01-04", "2026-01-05")
    )

    text = failure_text(result)
    assert named in text and "outside the partition" in text
    assert not DuckDBWarehouse(database=database).table_exists("ad_insights_daily")


def test_duplicate_primary_keys_are_refused(instance, database):
    BUILD["ad_insights_daily"] = lambda c: pd.concat(
        [insights_rows(account_of(c), days_of(c))] * 2, ignore_index=True
    )

    result = write(
        instance, database, raise_on_error=False, partition_key=str(key("111", "2026-01-04"))
    )

    assert "share a primary key (ad_id, date_start)" in failure_text(result)


def test_table_with_other_columns_in_the_file_is_a_clear_error(instance, database):
    write(instance, database, partition_key=str(key("111", "2026-01-04")))
    with warehouse_duckdb.locked_connection(database) as connection:
        connection.execute("ALTER TABLE facebook_ads.ad_insights_daily DROP COLUMN reach")

    result = write(
        instance, database, raise_on_error=False, partition_key=str(key("111", "2026-01-05"))
    )

    text = failure_text(result)
    assert "missing: reach" in text and "DROP TABLE facebook_ads.ad_insights_daily" in text


# ---- the resource for checks and analyses ----------------------------------------------------


def test_warehouse_resource_queries_with_parameters(instance, database):
    warehouse = DuckDBWarehouse(database=database)
    assert not warehouse.table_exists("ad_insights_daily")

    write(instance, database, tags=range_tags("111", "2026-01-01", "2026-01-03"))

    assert warehouse.table_ref("ad_insights_daily") == "facebook_ads.ad_insights_daily"
    assert warehouse.table_exists("ad_insights_daily")
    totals = warehouse.query(
        f"SELECT count(*) AS n, sum(spend) AS spend FROM {warehouse.table_ref('ad_insights_daily')}"
        " WHERE account_id = ? AND date_start >= ?",
        ["111", "2026-01-02"],
    )
    assert totals.to_dict("records") == [{"n": 4, "spend": 7.5}]


# ---- Arrow tables, as the insights transforms hand them over ---------------------------------


def as_arrow(frame: pd.DataFrame, dictionary: tuple[str, ...] = ("ad_id", "account_id")):
    """``frame`` as an Arrow table whose ``dictionary`` columns are dictionary-encoded."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for name in dictionary:
        index = table.column_names.index(name)
        table = table.set_column(index, name, pc.dictionary_encode(table[name]))
    return table


@dg.asset(name="ad_insights_daily", partitions_def=DATE_ACCOUNT)
def arrow_insights_asset(context: dg.AssetExecutionContext) -> pa.Table:
    build = BUILD.get("ad_insights_daily")
    if callable(build):
        return build(context)
    return as_arrow(insights_rows(account_of(context), days_of(context)))


@dg.asset(partitions_def=DATE_ACCOUNT)
def arrow_reader(context: dg.AssetExecutionContext, ad_insights_daily: pa.Table) -> None:
    BUILD["loaded"] = ad_insights_daily


@dg.asset(
    partitions_def=DATE_ACCOUNT,
    ins={
        "ad_insights_daily": dg.AssetIn(
            metadata={"columns": ["ad_id", "date_start", "spend"], "rows_where": {"ad_id": "11101"}}
        )
    },
)
def selective_reader(context: dg.AssetExecutionContext, ad_insights_daily: pa.Table) -> None:
    BUILD["loaded"] = ad_insights_daily


def read_through(reader, instance, database, first: str, last: str):
    """What ``reader`` loads of account 111's ``first..last`` through the IO manager."""
    write(
        instance,
        database,
        assets=[insights_asset, reader],
        selection=[reader],
        tags=range_tags("111", first, last),
    )
    return BUILD["loaded"]


def test_an_arrow_table_with_dictionary_columns_lands_like_the_frame(instance, database):
    tags = range_tags("111", "2026-01-01", "2026-01-03")
    write(instance, database, assets=[arrow_insights_asset], tags=tags)
    from_arrow = rows(database)

    write(instance, database, tags=tags)

    assert len(from_arrow) == 6
    pd.testing.assert_frame_equal(from_arrow, rows(database))


def test_an_input_annotated_as_arrow_loads_the_range_in_arrow_types(instance, database):
    write(instance, database, tags=range_tags("111", "2026-01-01", "2026-01-06"))

    loaded = read_through(arrow_reader, instance, database, "2026-01-02", "2026-01-03")

    assert isinstance(loaded, pa.Table)
    assert loaded.column_names == AD_INSIGHTS_DAILY.column_names
    assert loaded.schema.field("date_start").type == pa.date32()
    assert loaded.schema.field("spend").type == pa.float64()  # DECIMAL(18, 2) in the file
    assert sorted(set(loaded["date_start"].to_pylist())) == [
        dt.date(2026, 1, 2),
        dt.date(2026, 1, 3),
    ]
    assert sorted(loaded["spend"].to_pylist()) == [1.25, 1.25, 2.5, 2.5]


def test_an_input_reads_only_the_columns_and_rows_its_metadata_names(instance, database):
    write(instance, database, tags=range_tags("111", "2026-01-01", "2026-01-03"))

    loaded = read_through(selective_reader, instance, database, "2026-01-01", "2026-01-03")

    assert loaded.column_names == ["ad_id", "date_start", "spend"]
    assert loaded["ad_id"].to_pylist() == ["11101"] * 3


def test_an_input_asking_for_a_column_the_table_lacks_names_it(instance, database):
    @dg.asset(
        name="selective_reader",
        partitions_def=DATE_ACCOUNT,
        ins={"ad_insights_daily": dg.AssetIn(metadata={"columns": ["ad_id", "purchases"]})},
    )
    def misnamed_reader(context: dg.AssetExecutionContext, ad_insights_daily: pa.Table) -> None:
        BUILD["loaded"] = ad_insights_daily

    write(instance, database, partition_key=str(key("111", "2026-01-04")))
    result = write(
        instance,
        database,
        assets=[insights_asset, misnamed_reader],
        selection=[misnamed_reader],
        raise_on_error=False,
        partition_key=str(key("111", "2026-01-04")),
    )

    assert "asks for purchases, which ad_insights_daily does not have" in failure_text(result)


def test_duplicate_keys_in_an_arrow_table_are_refused(instance, database):
    # Two dictionary entries with the same text: the rows share a key although their
    # dictionary indices differ.
    def doubled(c: dg.AssetExecutionContext) -> pa.Table:
        frame = insights_rows(account_of(c), days_of(c)).iloc[:1]
        table = pa.Table.from_pandas(pd.concat([frame, frame]), preserve_index=False)
        ad_ids = pa.DictionaryArray.from_arrays(pa.array([0, 1], pa.int32()), ["1111", "1111"])
        return table.set_column(table.column_names.index("ad_id"), "ad_id", ad_ids)

    BUILD["ad_insights_daily"] = doubled
    result = write(
        instance,
        database,
        assets=[arrow_insights_asset],
        raise_on_error=False,
        partition_key=str(key("111", "2026-01-04")),
    )

    text = failure_text(result)
    assert "2 rows that share a primary key (ad_id, date_start)" in text
    assert "ad_id=1111" in text and "date_start=2026-01-04" in text
    assert not DuckDBWarehouse(database=database).table_exists("ad_insights_daily")


def test_arrow_rows_outside_the_slice_are_refused(instance, database):
    BUILD["ad_insights_daily"] = lambda c: as_arrow(
        insights_rows(account_of(c), [dt.date(2026, 1, 9)])
    )

    result = write(
        instance,
        database,
        assets=[arrow_insights_asset],
        raise_on_error=False,
        partition_key=str(key("111", "2026-01-04")),
    )

    assert "2026-01-09, outside the partition range" in failure_text(result)

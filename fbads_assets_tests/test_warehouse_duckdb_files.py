"""The DuckDB file itself: parallel writers queue, and unusable files fail with clear errors.

Errors name the file and FBADS_DUCKDB_PATH and say what to do; nothing is half-written.
"""

import multiprocessing
import os
import subprocess
import sys
import textwrap
import threading

import dagster as dg
import duckdb
import pandas as pd
import pytest

from fbads_assets.partitions import account_partitions
from fbads_assets.warehouse import duckdb as warehouse_duckdb
from fbads_assets.warehouse.duckdb import DuckDBWarehouse, DuckDBWarehouseIOManager
from fbads_assets.warehouse.frames import PANDAS_DTYPES
from fbads_assets.warehouse.tables import CAMPAIGNS
from fbads_assets_tests.graph_support import failure_text

ACCOUNTS = ("111", "222")
CAMPAIGNS_PER_ACCOUNT = 2_000


@dg.asset(name="campaigns", partitions_def=account_partitions)
def campaigns_asset(context: dg.AssetExecutionContext) -> pd.DataFrame:
    account = context.partition_key
    frame = pd.DataFrame(
        {
            "campaign_id": [f"{account}{n:06d}" for n in range(CAMPAIGNS_PER_ACCOUNT)],
            "account_id": account,
            "name": "Campaign",
            "daily_budget": 12.5,
        },
        columns=CAMPAIGNS.column_names,
    )
    for column in CAMPAIGNS.columns:
        if column.type != "string":
            frame[column.name] = frame[column.name].astype(PANDAS_DTYPES[column.type])
    return frame


def materialize(instance, database: str, account: str, raise_on_error=True):
    return dg.materialize(
        [campaigns_asset],
        instance=instance,
        partition_key=account,
        resources={"io_manager": DuckDBWarehouseIOManager(database=database)},
        raise_on_error=raise_on_error,
    )


def campaign_count(database: str) -> int:
    with duckdb.connect(database, read_only=True) as connection:
        found = connection.execute("SELECT count(*) FROM facebook_ads.campaigns").fetchone()
    assert found is not None
    return found[0]


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(str(account_partitions.name), list(ACCOUNTS))
        yield instance


@pytest.fixture
def database(tmp_path) -> str:
    return str(tmp_path / "fbads.duckdb")


# ---- parallel runs ---------------------------------------------------------------------------


def write_account_repeatedly(database: str, account: str, start, rounds: int) -> None:
    """One "run" process: writes its account's partition several times, starting on a barrier."""
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(str(account_partitions.name), list(ACCOUNTS))
        start.wait(timeout=120)
        for _ in range(rounds):
            materialize(instance, database, account)


def test_two_processes_writing_at_once_both_succeed(database):
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(len(ACCOUNTS))
    writers = [
        context.Process(target=write_account_repeatedly, args=(database, account, start, 2))
        for account in ACCOUNTS
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=180)

    assert [w.exitcode for w in writers] == [0, 0]
    assert campaign_count(database) == len(ACCOUNTS) * CAMPAIGNS_PER_ACCOUNT


# ---- files that cannot be used ---------------------------------------------------------------


@pytest.fixture
def read_only_database(instance, database):
    """A warehouse file with rows that nobody may write, not even root."""
    materialize(instance, database, "111")
    os.chmod(database, 0o444)
    immutable = False
    if os.geteuid() == 0:
        # Root ignores file modes; the immutable attribute stops root too.
        immutable = subprocess.run(["chattr", "+i", database], capture_output=True).returncode == 0
        if not immutable:
            pytest.skip("running as root on a filesystem without chattr +i: no read-only file")
    yield database
    if immutable:
        subprocess.run(["chattr", "-i", database], check=True)
    os.chmod(database, 0o644)


def test_read_only_file_is_refused_naming_the_setting(instance, read_only_database):
    result = materialize(instance, read_only_database, "222", raise_on_error=False)

    assert (
        f"The DuckDB file {read_only_database} (FBADS_DUCKDB_PATH) is read-only; point "
        "FBADS_DUCKDB_PATH at a writable file." in failure_text(result)
    )
    assert campaign_count(read_only_database) == CAMPAIGNS_PER_ACCOUNT


def test_directory_that_cannot_be_created_is_refused_naming_the_setting(instance, tmp_path):
    (tmp_path / "data").write_text("a file where the directory should be")
    database = str(tmp_path / "data" / "warehouse" / "fbads.duckdb")

    result = materialize(instance, database, "111", raise_on_error=False)

    text = failure_text(result)
    assert f"Cannot create the directory {tmp_path / 'data' / 'warehouse'}" in text
    assert "Point FBADS_DUCKDB_PATH at a file in a writable directory" in text


HOLDER = textwrap.dedent(
    """
    import sys, duckdb
    connection = duckdb.connect(sys.argv[1])
    print("holding", flush=True)
    sys.stdin.read()
    """
)


def test_file_held_by_another_program_names_the_file_and_what_to_close(instance, database):
    materialize(instance, database, "111")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, database],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"

        result = materialize(instance, database, "222", raise_on_error=False)
        with pytest.raises(warehouse_duckdb.WarehouseFileError, match="is open in another program"):
            DuckDBWarehouse(database=database).query("SELECT 1")
    finally:
        holder.communicate(input="", timeout=60)

    text = failure_text(result)
    assert f"The DuckDB file {database} (FBADS_DUCKDB_PATH) is open in another program" in text
    assert "close that program (a DuckDB CLI, a notebook or the DuckDB UI)" in text
    assert campaign_count(database) == CAMPAIGNS_PER_ACCOUNT


def test_threads_take_turns_on_the_file(database):
    inside, most_inside = 0, 0
    counter = threading.Lock()

    def write_rows() -> None:
        nonlocal inside, most_inside
        for _ in range(10):
            with warehouse_duckdb.locked_connection(database) as connection:
                with counter:
                    inside += 1
                    most_inside = max(most_inside, inside)
                connection.execute("CREATE TABLE IF NOT EXISTS probe (n INTEGER)")
                connection.execute("INSERT INTO probe SELECT * FROM range(1000)")
                with counter:
                    inside -= 1

    threads = [threading.Thread(target=write_rows) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert most_inside == 1
    assert (
        DuckDBWarehouse(database=database).query("SELECT count(*) AS n FROM probe")["n"][0]
        == 40_000
    )

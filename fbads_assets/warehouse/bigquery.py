"""The production warehouse: BigQuery, written with atomic partition replace (FBADS_ENV=prod).

Typed frames from ``transform/`` land here through ``BigQueryWarehouseIOManager``; checks and
analyses read through ``BigQueryWarehouse``. The stock dagster-gcp IO manager runs a DELETE job
and then a separate load job, so a failure in between leaves the partition empty, and it never
creates partitioned tables. Here one write is:

1. check the dataset's location and the table's partitioning and column types, create the
   table (day-partitioned on the report date, clustered by account_id) or add new columns;
   nothing is deleted if any of this fails;
2. load the frame into a staging table with a unique name (it expires after a day, so even a
   killed process leaves no litter for long);
3. replace the slice in ONE multi-statement transaction: DELETE the slice, INSERT ... SELECT
   from staging, COMMIT. BigQuery rolls the transaction back on any error, so the old rows stay;
4. drop the staging table, whatever happened.

A retry after a failure anywhere before the COMMIT finds the old rows and converges.

The slice predicate compares DATE columns with DATE literals and account ids with STRING
literals. dagster-gcp's own time-window clause compares a column with a timestamp-shaped string,
which BigQuery rejects on DATE columns (dagster-io/dagster#13147) and which the local emulators
accept; ``slice_conditions`` is public so a test can check every expression's type.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import dagster as dg
import google.auth
import pandas as pd
import pyarrow as pa
from dagster._core.storage.db_io_manager import DbIOManager, DbTypeHandler
from dagster_gcp.bigquery.io_manager import BigQueryClient, BigQueryIOManager
from dagster_gcp_pandas import BigQueryPandasTypeHandler
from google.api_core.exceptions import Forbidden, NotFound
from google.cloud import bigquery
from pydantic import Field

from fbads_assets.settings import DEFAULT_DATASET
from fbads_assets.warehouse.frames import (
    InputSelection,
    arrow_schema,
    check_columns,
    check_primary_key,
    check_rows_in_slice,
    conform_dtypes,
    empty_frame,
    frame_from_arrow,
    input_selection,
    output_metadata,
    wants_arrow,
)
from fbads_assets.warehouse.slices import TableSlice, read_slice_for, slice_for, table_for
from fbads_assets.warehouse.tables import BIGQUERY_TYPES, TABLES, Table

ROLES_NEEDED = "needs BigQuery Data Editor on the dataset and BigQuery Job User on the project"
STAGING_PREFIX = "_fbads_staging_"
DEFAULT_LOCATION = "US"
# Staging tables are dropped after every write; the expiry only cleans up after a process that
# was killed between the load and the drop.
STAGING_EXPIRY = dt.timedelta(days=1)
# The API reports legacy type names (INTEGER, FLOAT, BOOLEAN); DDL and tables.py use GoogleSQL.
_TYPE_ALIASES = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL", "DECIMAL": "NUMERIC"}
# Existing column types a tables.py type may land in: money was FLOAT64 in older layouts, and
# BIGNUMERIC holds every NUMERIC. Anything else is a changed type and refused.
_ACCEPTED_TYPES = {"NUMERIC": {"NUMERIC", "BIGNUMERIC", "FLOAT64"}}
# Frames carry money as float64; the staging table keeps it FLOAT64 and the INSERT casts.
_STAGING_TYPES = {"NUMERIC": "FLOAT64", "BIGNUMERIC": "FLOAT64"}


class BigQueryWarehouseError(RuntimeError):
    """BigQuery cannot take this write; the message names the table or role and the fix."""


# ---- the slice predicate -------------------------------------------------------------------


@dataclass(frozen=True)
class SliceCondition:
    """One comparison of a slice predicate: ``column`` against SQL ``literals``.

    Both sides must have ``expected_type`` in BigQuery; ``test_warehouse_bigquery_guard``
    runs each side through the emulator and compares the types it reports.
    """

    column: str
    operator: str  # "BETWEEN" (two literals) or "IN"
    literals: tuple[str, ...]
    expected_type: str

    def sql(self) -> str:
        if self.operator == "BETWEEN":
            return f"{self.column} BETWEEN {self.literals[0]} AND {self.literals[1]}"
        return f"{self.column} IN ({', '.join(self.literals)})"


def string_literal(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def date_literal(value: dt.date) -> str:
    # A typed DATE literal: compared with a DATE column it prunes partitions, and BigQuery
    # never has to cast a timestamp-shaped string to DATE (which it refuses).
    return f"DATE '{value.isoformat()}'"


def slice_conditions(table_slice: TableSlice) -> list[SliceCondition]:
    """The comparisons that select exactly the slice's rows; none for a whole table."""
    table = table_slice.table
    conditions = []
    if table_slice.account_ids is not None and table.account_column is not None:
        conditions.append(
            SliceCondition(
                column=table.account_column,
                operator="IN",
                literals=tuple(string_literal(a) for a in table_slice.account_ids),
                expected_type="STRING",
            )
        )
    if table_slice.first_date is not None and table.date_column is not None:
        assert table_slice.last_date is not None
        conditions.append(
            SliceCondition(
                column=table.date_column,
                operator="BETWEEN",
                literals=(
                    date_literal(table_slice.first_date),
                    date_literal(table_slice.last_date),
                ),
                expected_type="DATE",
            )
        )
    return conditions


def slice_predicate(table_slice: TableSlice) -> str:
    conditions = slice_conditions(table_slice)
    return " AND ".join(c.sql() for c in conditions) if conditions else "TRUE"


# ---- table layout --------------------------------------------------------------------------


def normalized_type(field_type: str) -> str:
    return _TYPE_ALIASES.get(field_type.upper(), field_type.upper())


def table_schema(table: Table) -> list[bigquery.SchemaField]:
    return [
        bigquery.SchemaField(
            c.name,
            BIGQUERY_TYPES[c.type],
            mode="NULLABLE" if c.nullable else "REQUIRED",
            description=c.description,
        )
        for c in table.columns
    ]


def new_table(ref: str, table: Table) -> bigquery.Table:
    """The table as fbads_assets creates it: day partitions on the report date, clustered."""
    created = bigquery.Table(ref, schema=table_schema(table))
    created.description = table.description
    if table.date_column:
        created.time_partitioning = bigquery.TimePartitioning(
            type_=bigquery.TimePartitioningType.DAY, field=table.date_column
        )
    if table.account_column:
        created.clustering_fields = [table.account_column]
    return created


def _partitioning(found: bigquery.Table) -> str:
    if found.range_partitioning is not None:
        return f"integer range on {found.range_partitioning.field}"
    if found.time_partitioning is None:
        return "nothing (not partitioned)"
    field = found.time_partitioning.field or "_PARTITIONTIME (ingestion time)"
    return f"{found.time_partitioning.type_} on {field}"


def check_partitioning(ref: str, table: Table, found: bigquery.Table) -> None:
    """Refuse a table that someone created with another partitioning before we write to it."""
    expected = f"DAY on {table.date_column}" if table.date_column else "nothing (not partitioned)"
    actual = _partitioning(found)
    if actual != expected:
        raise BigQueryWarehouseError(
            f"Table {ref} is partitioned by {actual}, but fbads_assets writes it partitioned by "
            f"{expected}. Nothing was written. Partitioning cannot be changed in place: copy "
            f"the table aside (CREATE TABLE ... AS SELECT), drop {ref}, and re-materialize; "
            "the next write creates it with the right layout."
        )


def check_column_types(ref: str, table: Table, found: bigquery.Table) -> list[str]:
    """Names of tables.py columns the table lacks; raises on a column whose type changed."""
    existing = {f.name.lower(): normalized_type(f.field_type) for f in found.schema}
    missing = []
    for column in table.columns:
        wanted = BIGQUERY_TYPES[column.type]
        actual = existing.get(column.name)
        if actual is None:
            missing.append(column.name)
        elif actual not in _ACCEPTED_TYPES.get(wanted, {wanted}):
            raise BigQueryWarehouseError(
                f"Column {column.name} of {ref} is {actual} in BigQuery, but "
                f"warehouse/tables.py makes it {wanted} ({column.type}). Nothing was written. "
                "BigQuery cannot change a column's type in place: migrate the column (e.g. "
                f"CREATE OR REPLACE TABLE `{ref}` ... AS SELECT * REPLACE (CAST({column.name} AS "
                f"{wanted}) AS {column.name}) ...), or keep its type in tables.py."
            )
    return missing


def add_columns(client: bigquery.Client, ref: str, table: Table, names: list[str]) -> None:
    """Schema drift: a column tables.py gained since the table was created, as NULLABLE."""
    additions = ",\n".join(
        f"ADD COLUMN IF NOT EXISTS {name} {BIGQUERY_TYPES[table.column(name).type]} "
        f"OPTIONS (description = {string_literal(table.column(name).description)})"
        for name in names
    )
    client.query(f"ALTER TABLE `{ref}`\n{additions}").result()


def ensure_dataset(client: bigquery.Client, project: str, dataset: str, location: str | None):
    try:
        found = client.get_dataset(f"{project}.{dataset}")
    except NotFound:
        created = bigquery.Dataset(f"{project}.{dataset}")
        # US is what BigQuery picks when no location is sent; saying it keeps bqemulator,
        # which refuses a dataset without one, on the same path.
        created.location = location or DEFAULT_LOCATION
        found = client.create_dataset(created, exists_ok=True)
    if location and found.location and found.location.lower() != location.lower():
        raise BigQueryWarehouseError(
            f"Dataset {project}.{dataset} is in {found.location}, but FBADS_BIGQUERY_LOCATION "
            f"is {location}. BigQuery runs each job in one location, so nothing was written. "
            f"Set FBADS_BIGQUERY_LOCATION={found.location}, or point FBADS_BIGQUERY_DATASET at "
            f"a dataset in {location}."
        )


def ensure_table(client: bigquery.Client, ref: str, table: Table, log) -> dict[str, str]:
    """Create the table or check it; returns each column's type as the table has it."""
    try:
        found = client.get_table(ref)
    except NotFound:
        found = client.create_table(new_table(ref, table), exists_ok=True)
        log.info(f"Created {ref}: {_partitioning(found)}, clustered by {found.clustering_fields}.")
    check_partitioning(ref, table, found)
    missing = check_column_types(ref, table, found)
    if missing:
        add_columns(client, ref, table, missing)
        log.warning(
            f"Added {', '.join(missing)} to {ref} as NULLABLE columns (new in tables.py); "
            "older rows hold NULL there until their partitions are re-materialized."
        )
    existing = {f.name.lower(): normalized_type(f.field_type) for f in found.schema}
    return {c.name: existing.get(c.name, BIGQUERY_TYPES[c.type]) for c in table.columns}


# ---- loading a frame and replacing the slice -----------------------------------------------


def frame_for_load(frame: pd.DataFrame, table: Table) -> pd.DataFrame:
    """The frame in the shapes pyarrow needs for the staging table's types."""
    columns = {}
    for column in table.columns:
        values = frame[column.name]
        if column.type == "string":
            columns[column.name] = values.astype(object).where(values.notna(), None)
        elif column.type == "int":
            columns[column.name] = pd.array(values, dtype="Int64")
        elif column.type in ("float", "money"):
            columns[column.name] = pd.to_numeric(values).astype("float64")
        elif column.type == "date":
            dates = pd.to_datetime(values)
            columns[column.name] = dates.dt.date.astype(object).where(dates.notna(), None)
        elif column.type == "timestamp":
            columns[column.name] = pd.to_datetime(values, utc=True)
        else:
            columns[column.name] = values.astype("boolean")
    return pd.DataFrame(columns, index=frame.index).reset_index(drop=True)


def staging_ref(project: str, dataset: str, table: Table, run_id: str) -> str:
    # Unique per run and per attempt: two steps writing the same table never share one.
    return f"{project}.{dataset}.{STAGING_PREFIX}{table.name}_{run_id[:8]}_{uuid.uuid4().hex[:8]}"


def load_staging(
    client: bigquery.Client, ref: str, frame: pd.DataFrame, types: dict[str, str], timeout
) -> None:
    schema = [bigquery.SchemaField(n, _STAGING_TYPES.get(t, t)) for n, t in types.items()]
    staging = bigquery.Table(ref, schema=schema)
    staging.expires = dt.datetime.now(dt.UTC) + STAGING_EXPIRY
    client.create_table(staging)
    job_config = bigquery.LoadJobConfig(
        schema=schema, write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE
    )
    client.load_table_from_dataframe(frame, ref, job_config=job_config, timeout=timeout).result(
        timeout=timeout
    )


def replace_sql(ref: str, staging: str, predicate: str, types: dict[str, str]) -> str:
    names = ", ".join(types)
    casts = ", ".join(f"CAST({n} AS {t}) AS {n}" for n, t in types.items())
    return (
        "BEGIN TRANSACTION;\n"
        f"DELETE FROM `{ref}` WHERE {predicate};\n"
        f"INSERT INTO `{ref}` ({names})\nSELECT {casts} FROM `{staging}`;\n"
        "COMMIT TRANSACTION;"
    )


def replace_slice(client: bigquery.Client, sql: str, timeout) -> None:
    """Runs the transaction; a separate function so a test can fail it on purpose."""
    # A job and result(), not query_and_wait(): bqemulator's jobs.query endpoint reports a
    # failed script as a success (rolled back, no error), which would hide lost writes.
    client.query(sql).result(timeout=timeout)


def drop_staging(client: bigquery.Client, ref: str, log) -> None:
    try:
        client.delete_table(ref, not_found_ok=True)
    except Exception as error:  # the write's own outcome matters more than the clean-up
        log.warning(f"Could not drop staging table {ref} ({error}); it expires within a day.")


@contextmanager
def explain_forbidden(what: str, project: str, dataset: str) -> Iterator[None]:
    """Turn BigQuery's 403 into the roles to grant; any earlier step left the data as it was."""
    try:
        yield
    except Forbidden as error:
        raise BigQueryWarehouseError(
            f"BigQuery refused {what} (403: {error.message}). The credential {ROLES_NEEDED} "
            f"(dataset {project}.{dataset}, project {project}). Grant both roles to the "
            "service account, or point FBADS_BIGQUERY_CREDENTIALS_B64 / application default "
            "credentials at one that has them."
        ) from error


# ---- the IO manager ------------------------------------------------------------------------


class _AtomicBigQueryDbIOManager(DbIOManager):
    """dagster-gcp's DbIOManager; tables of ``tables.py`` take the atomic path below."""

    def __init__(self, *, settings: BigQueryWarehouseIOManager, **kwargs):
        super().__init__(**kwargs)
        self._settings = settings

    def _ours(self, context) -> bool:
        return context.has_asset_key and context.asset_key.path[-1] in TABLES

    def _dataset(self) -> str:
        return self._settings.dataset or DEFAULT_DATASET

    def _client(self) -> bigquery.Client:
        return bigquery.Client(project=self._settings.project, location=self._settings.location)

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        if not (self._ours(context) and isinstance(obj, pd.DataFrame | pa.Table)):
            super().handle_output(context, obj)
            return
        table_slice = slice_for(context)
        check_columns(obj, table_slice.table)
        check_rows_in_slice(obj, table_slice)
        check_primary_key(obj, table_slice.table)
        # The load job takes a frame (frame_for_load). Known cost: a large Arrow table (the
        # conversions long form) becomes Python objects here, which DuckDB's writer avoids.
        frame = frame_from_arrow(obj, table_slice.table) if isinstance(obj, pa.Table) else obj
        project, dataset = self._settings.project, self._dataset()
        ref = f"{project}.{dataset}.{table_slice.table.name}"
        with explain_forbidden(f"writing {ref}", project, dataset):
            self._write(context, table_slice, ref, frame)
        context.add_output_metadata(
            output_metadata(context, ref, table_slice.table, len(frame), "bigquery")
        )

    def _write(self, context, table_slice: TableSlice, ref: str, frame: pd.DataFrame) -> None:
        client, timeout = self._client(), self._settings.timeout
        started = time.monotonic()
        ensure_dataset(client, self._settings.project, self._dataset(), self._settings.location)
        types = ensure_table(client, ref, table_slice.table, context.log)
        predicate = slice_predicate(table_slice)
        if frame.empty:
            # One DML statement is atomic on its own; the table now exists with an empty slice.
            replace_slice(client, f"DELETE FROM `{ref}` WHERE {predicate}", timeout)
        else:
            staging = staging_ref(
                self._settings.project, self._dataset(), table_slice.table, context.run_id
            )
            try:
                load_staging(
                    client, staging, frame_for_load(frame, table_slice.table), types, timeout
                )
                replace_slice(client, replace_sql(ref, staging, predicate, types), timeout)
            finally:
                drop_staging(client, staging, context.log)
        context.log.info(
            f"Replaced {table_slice.describe()} in {ref} with {len(frame)} rows in one "
            f"transaction ({time.monotonic() - started:.1f} s)."
        )

    def load_input(self, context: dg.InputContext) -> object:
        if not self._ours(context):
            return super().load_input(context)
        table = table_for(context.asset_key)
        wanted = input_selection(context, table)
        frame = self._load_frame(context, table, wanted)
        if wants_arrow(context):
            return pa.Table.from_pandas(frame, preserve_index=False).cast(
                arrow_schema(table, wanted.columns)
            )
        return frame

    def _load_frame(
        self, context: dg.InputContext, table: Table, wanted: InputSelection
    ) -> pd.DataFrame:
        empty = empty_frame(table)[wanted.columns]
        if context.has_asset_partitions and not context.asset_partition_keys:
            return empty
        table_slice = read_slice_for(context)
        project, dataset = self._settings.project, self._dataset()
        ref = f"{project}.{dataset}.{table.name}"
        conditions = [slice_predicate(table_slice)] + [
            f"{column} = {string_literal(str(value))}"
            for column, value in wanted.rows_where.items()
        ]
        sql = (
            f"SELECT {', '.join(wanted.columns)} FROM `{ref}`\n"
            f"WHERE {' AND '.join(conditions)}\nORDER BY {', '.join(table.primary_key)}"
        )
        with explain_forbidden(f"reading {ref}", project, dataset):
            try:
                frame = self._client().query(sql).result().to_dataframe()
            except NotFound:
                # Downstream of a partition that was never written: nothing to read yet.
                return empty
        return conform_loaded(frame, table, wanted.columns)


def conform_loaded(
    frame: pd.DataFrame, table: Table, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """BigQuery's dtypes (dbdate, Decimal objects) → the frames the transforms use."""
    frame = frame.rename(columns=str.lower)
    names = list(columns or table.column_names)
    for column in (table.column(name) for name in names):
        if column.type == "money":
            frame[column.name] = frame[column.name].map(
                lambda v: float(v) if isinstance(v, Decimal) else v
            )
        elif column.type == "date":
            frame[column.name] = pd.to_datetime(frame[column.name].astype(object))
    return conform_dtypes(frame, table, names)


class BigQueryWarehouseIOManager(BigQueryIOManager):
    """Stores the project's tables in BigQuery, replacing each output's slice atomically.

    Built on dagster-gcp's BigQuery IO manager: its config (project, dataset, location,
    gcp_credentials as a base64 key, timeout), its credential handling, and its stock path for
    any asset outside ``tables.py``. Tables of ``tables.py`` are created partitioned and
    clustered, and written through a staging table and one transaction.
    """

    @staticmethod
    def type_handlers() -> Sequence[DbTypeHandler]:
        return [BigQueryPandasTypeHandler()]

    @staticmethod
    def default_load_type() -> type | None:
        return pd.DataFrame

    def create_io_manager(self, context) -> DbIOManager:
        return _AtomicBigQueryDbIOManager(
            settings=self,
            db_client=BigQueryClient(write_mode=self.write_mode, gcp_credentials=None),
            io_manager_name="BigQueryWarehouseIOManager",
            database=self.project,
            schema=self.dataset,
            type_handlers=self.type_handlers(),
            default_load_type=pd.DataFrame,
        )


# ---- the resource checks and analyses read through -----------------------------------------


def _query_parameter(name: str | None, value: Any) -> bigquery.ScalarQueryParameter:
    if isinstance(value, bool):
        kind = "BOOL"
    elif isinstance(value, int):
        kind = "INT64"
    elif isinstance(value, float):
        kind = "FLOAT64"
    elif isinstance(value, Decimal):
        kind = "NUMERIC"
    elif isinstance(value, dt.datetime):
        kind = "TIMESTAMP"
    elif isinstance(value, dt.date):
        kind = "DATE"
    else:
        kind, value = "STRING", str(value)
    return bigquery.ScalarQueryParameter(name, kind, value)


class BigQueryWarehouse(dg.ConfigurableResource):
    """Read the warehouse with SQL; unqualified table names resolve in the dataset."""

    project: str = Field(description="GCP project that holds the dataset and runs the jobs.")
    dataset: str = Field(default=DEFAULT_DATASET, description="Dataset with the tables.")
    location: str | None = Field(default=None, description="Dataset location, e.g. EU.")
    gcp_credentials: str | None = Field(
        default=None,
        description="Base64 service-account key; application default credentials if unset.",
    )
    timeout: float | None = Field(default=None, description="Seconds to wait for a query.")

    def _client(self) -> bigquery.Client:
        credentials = None
        key = self.gcp_credentials
        if isinstance(key, dg.EnvVar):
            # Dagster resolves EnvVar fields when it runs the resource; code that uses the
            # resource directly (scripts, tests) holds the variable itself.
            key = key.get_value()
        if key:
            info = json.loads(base64.b64decode(key))
            credentials, _ = google.auth.load_credentials_from_dict(info)
        return bigquery.Client(
            project=self.project, location=self.location, credentials=credentials
        )

    def query(self, sql: str, params: list | dict | None = None) -> pd.DataFrame:
        """Runs SQL; ``params`` fill ``?`` (a list) or ``@name`` (a dict) placeholders."""
        if isinstance(params, dict):
            parameters = [_query_parameter(k, v) for k, v in params.items()]
        else:
            parameters = [_query_parameter(None, v) for v in params or []]
        job_config = bigquery.QueryJobConfig(
            default_dataset=f"{self.project}.{self.dataset}", query_parameters=parameters
        )
        with explain_forbidden("a query", self.project, self.dataset):
            job = self._client().query(sql, job_config=job_config)
            frame = job.result(timeout=self.timeout).to_dataframe()
        return frame.rename(columns=str.lower)

    def table_ref(self, name: str) -> str:
        """``ad_insights_daily`` → ```project.dataset.ad_insights_daily```, for use in SQL."""
        return f"`{self.project}.{self.dataset}.{name}`"

    def table_exists(self, name: str) -> bool:
        try:
            self._client().get_table(f"{self.project}.{self.dataset}.{name}")
        except NotFound:
            return False
        return True

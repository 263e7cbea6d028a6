"""Guard: every slice expression the BigQuery writer sends has the type real BigQuery requires.

The emulators accept ``DATE_column >= '2026-01-01 00:00:00'`` (what dagster-gcp generates for a
bare DATE ``partition_expr``), which BigQuery rejects with "Could not cast literal ... to type
DATE" (dagster-io/dagster#13147). They do report result types correctly, so instead of trusting
that a query ran, this asks the emulator for the type of each side of each comparison.
"""

import datetime as dt

import pytest
from google.cloud import bigquery

from fbads_assets.warehouse import bigquery as bq
from fbads_assets.warehouse.slices import TableSlice
from fbads_assets.warehouse.tables import CAMPAIGN_DAILY, TABLES

pytestmark = pytest.mark.bigquery

FIRST, LAST = dt.date(2026, 1, 1), dt.date(2026, 1, 3)


def mismatched_sides(client: bigquery.Client, ref: str, condition: bq.SliceCondition) -> list:
    """Each side of the comparison whose type differs from the one BigQuery needs."""
    sides = [condition.column, *condition.literals]
    select = ", ".join(f"{expr} AS side_{i}" for i, expr in enumerate(sides))
    schema = client.query(f"SELECT {select} FROM `{ref}` LIMIT 0").result().schema
    types = [bq.normalized_type(field.field_type) for field in schema]
    return [
        f"{expr} is {type_}, needs {condition.expected_type}"
        for expr, type_ in zip(sides, types, strict=True)
        if type_ != condition.expected_type
    ]


@pytest.fixture(scope="module")
def guard_tables(bigquery_emulator) -> dict[str, str]:
    """Every table of tables.py, created empty as the writer creates it."""
    client, dataset = bigquery_emulator.client, bigquery_emulator.new_dataset()
    client.create_dataset(f"{bigquery_emulator.project}.{dataset}")
    refs = {}
    for table in TABLES.values():
        refs[table.name] = f"{bigquery_emulator.project}.{dataset}.{table.name}"
        client.create_table(bq.new_table(refs[table.name], table))
    return refs


def test_every_slice_expression_has_the_type_bigquery_requires(bigquery_emulator, guard_tables):
    problems, checked = [], 0
    for table in TABLES.values():
        table_slice = TableSlice(table, ("1234567890",), FIRST, LAST)
        ref = guard_tables[table.name]
        for condition in bq.slice_conditions(table_slice):
            problems += [
                f"{table.name}: {p}"
                for p in mismatched_sides(bigquery_emulator.client, ref, condition)
            ]
            checked += 1
        # The whole predicate, as the writer sends it, runs too.
        bigquery_emulator.client.query(
            f"DELETE FROM `{ref}` WHERE {bq.slice_predicate(table_slice)}"
        ).result()

    assert problems == []
    # One comparison per account column and one per report-date column: none was skipped.
    expected = sum(t.account_column is not None for t in TABLES.values()) + sum(
        t.date_column is not None for t in TABLES.values()
    )
    assert checked == expected == 12


def test_guard_catches_the_timestamp_shaped_literal_bigquery_rejects(
    bigquery_emulator, guard_tables
):
    stock = bq.SliceCondition(
        column="report_date",
        operator="BETWEEN",
        literals=("'2026-01-01 00:00:00'", "'2026-01-02 00:00:00'"),
        expected_type="DATE",
    )

    problems = mismatched_sides(bigquery_emulator.client, guard_tables[CAMPAIGN_DAILY.name], stock)

    assert problems == [
        "'2026-01-01 00:00:00' is STRING, needs DATE",
        "'2026-01-02 00:00:00' is STRING, needs DATE",
    ]

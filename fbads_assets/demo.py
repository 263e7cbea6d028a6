"""`fbads demo`: the whole graph, for recent days, against the built-in sandbox, in DuckDB.

It runs what a user would click in the UI, in this process: the accounts (which registers the
account partitions), each account's objects, then one insights run per account over the days
asked for, and prints the campaign mart.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
from pathlib import Path

DEMO_DUCKDB_PATH = "data/demo.duckdb"


def add_demo_command(groups) -> None:
    parser = groups.add_parser(
        "demo", help="materialize recent days of sandbox data into DuckDB and print the mart"
    )
    parser.add_argument("--days", type=int, default=7, help="days of insights (default 7)")
    parser.add_argument(
        "--duckdb-path",
        default=DEMO_DUCKDB_PATH,
        help=f"DuckDB file to write (default {DEMO_DUCKDB_PATH}; never your FBADS_DUCKDB_PATH)",
    )
    parser.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    if args.days < 1:
        print("--days must be at least 1.")
        return 2
    # The demo always reads the sandbox and writes its own file, whatever the shell holds.
    os.environ.pop("FACEBOOK_ACCESS_TOKEN", None)
    os.environ["FBADS_ENV"] = "local"
    os.environ["FBADS_DUCKDB_PATH"] = args.duckdb_path
    Path(args.duckdb_path).parent.mkdir(parents=True, exist_ok=True)

    import dagster as dg

    from fbads_assets.definitions import defs
    from fbads_assets.defs.schedules import resync_run_requests
    from fbads_assets.settings import load_settings

    settings = load_settings()
    started = dt.datetime.now(dt.UTC)
    with tempfile.TemporaryDirectory() as home, dg.instance_for_test(temp_dir=home) as instance:
        _run(defs.resolve_job_def("ad_accounts_job"), instance, {})
        accounts = sorted(instance.get_dynamic_partitions("ad_account"))
        objects_job = defs.resolve_job_def("account_objects_job")
        for account_id in accounts:
            _run(objects_job, instance, {"dagster/partition": account_id})

        from fbads_assets.defs.accounts import account_metadata_from_instance

        requests = resync_run_requests(
            account_metadata_from_instance(instance),
            accounts,
            started,
            args.days,
            settings.start_date,
        )
        insights_job = defs.resolve_job_def("insights_job")
        for request in requests:
            _run(insights_job, instance, dict(request.tags))

    _print_mart(args.duckdb_path, dt.datetime.now(dt.UTC) - started)
    return 0


def _run(job, instance, tags: dict) -> None:
    result = job.execute_in_process(instance=instance, tags=tags, raise_on_error=True)
    if not result.success:
        raise SystemExit(f"{job.name} failed; see the log above.")


def _print_mart(database: str, elapsed: dt.timedelta) -> None:
    import duckdb

    with duckdb.connect(database, read_only=True) as connection:
        head = connection.sql(
            "SELECT report_date, account_id, campaign_name, currency, impressions, clicks, "
            "spend, conversions, round(roas, 2) AS roas "
            "FROM facebook_ads.facebook_ads_campaign_daily "
            "ORDER BY report_date DESC, spend DESC LIMIT 10"
        ).df()
        totals = connection.sql(
            # sum() of BIGINT is HUGEINT in DuckDB, which pandas would show as a float.
            "SELECT account_id, currency, count(*) AS campaign_days, "
            "sum(impressions)::BIGINT AS impressions, sum(clicks)::BIGINT AS clicks, "
            "sum(spend) AS spend, sum(conversions) AS conversions, "
            "sum(conversion_value) AS conversion_value "
            "FROM facebook_ads.facebook_ads_campaign_daily GROUP BY ALL ORDER BY account_id"
        ).df()
    print("\nfacebook_ads.facebook_ads_campaign_daily — latest rows")
    print(head.to_string(index=False))
    print("\nTotals per account (each in its own currency)")
    print(totals.to_string(index=False))
    print(
        f"\nDone in {elapsed.total_seconds():.0f} s. "
        "The data is the built-in sandbox's, not Meta's."
    )
    print(f"Query it: duckdb {database}  (schema facebook_ads), or run `make dev` for the UI.")

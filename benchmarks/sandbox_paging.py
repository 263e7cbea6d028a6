"""How fast the sandbox pages ad-level daily insights out through the facebook-business SDK.

10 accounts x 1,000 ads x 90 days, one async report per account (``time_increment=1``), read
with the SDK's ``Cursor``. The target is >= 20,000 rows/s on one core. Three figures:

- ``in-process``: sandbox thread and SDK client in one process pinned to one core; rows per
  CPU-second of that process is what one core does for both ends.
- ``sandbox-process``: ``fbads sandbox serve`` in its own process pinned to one core, the SDK
  client on another; rows per CPU-second of the *sandbox* process is the sandbox's own speed.
- ``sdk-objects``: like in-process, but the Cursor builds an ``AdsInsights`` object per row
  (the SDK's default). Its type checking costs 40-180 us a row by itself (measured), so this is
  reported, not held to the target.

The other modes hand the row dicts back (an ObjectParser with a custom parse method), which is
how the project's API client reads insights. Wall-clock figures are printed too, with the load
average: on a shared machine they say more about the neighbours than about the sandbox.

Run: ``.venv/bin/python -m benchmarks.sandbox_paging [--accounts 10] [--ads 1000] [--days 90]``
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import psutil
import requests
from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.adobjects.adsinsights import AdsInsights
from facebook_business.adobjects.objectparser import ObjectParser
from facebook_business.api import Cursor, FacebookAdsApi

from fbads_assets.sandbox import DEMO_TOKEN, SandboxConfig, run_sandbox
from fbads_assets.sandbox.sdk import make_api

FIELDS = [
    "account_id", "campaign_id", "adset_id", "ad_id", "impressions", "reach", "frequency",
    "clicks", "inline_link_clicks", "spend", "ctr", "cpc", "cpm", "actions", "action_values",
]  # fmt: skip
NOW = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)
MODES = ("in-process", "sandbox-process", "sdk-objects")


def read_account(api: FacebookAdsApi, account_id: str, days: int, limit: int, objects: bool) -> int:
    until = NOW.date() - dt.timedelta(days=1)
    since = until - dt.timedelta(days=days - 1)
    params = {"level": "ad", "time_increment": 1,
              "time_range": {"since": since.isoformat(), "until": until.isoformat()}}  # fmt: skip
    job = AdAccount(f"act_{account_id}", api=api).get_insights(
        fields=FIELDS, params=params, is_async=True
    )
    while job.api_get()["async_status"] != "Job Completed":
        time.sleep(0.05)
    parser = None if objects else ObjectParser(api=api, custom_parse_method=lambda r, _api: r)
    cursor = Cursor(job, AdsInsights, params={"limit": limit}, include_summary=False, api=api,
                    object_parser=parser)  # fmt: skip
    return sum(1 for _row in cursor)


def config_for(args: argparse.Namespace) -> SandboxConfig:
    return SandboxConfig(
        seed=7, accounts=args.accounts, campaigns_per_account=10, adsets_per_campaign=10,
        ads_per_adset=max(1, args.ads // 100), history_days=args.days + 30,
        max_page_size=max(500, args.limit), now=NOW,
    )  # fmt: skip


@contextlib.contextmanager
def sandbox_in_process(args: argparse.Namespace) -> Iterator[tuple[str, psutil.Process]]:
    with run_sandbox(config_for(args)) as sandbox:
        yield sandbox.base_url, psutil.Process()


@contextlib.contextmanager
def sandbox_process(args: argparse.Namespace, core: int) -> Iterator[tuple[str, psutil.Process]]:
    config = config_for(args)
    command = [
        sys.executable, "-c", "from fbads_assets.sandbox.cli import serve_main; serve_main()",
        "--port", "0", "--seed", str(config.seed), "--accounts", str(config.accounts),
        "--campaigns-per-account", "10", "--adsets-per-campaign", "10",
        "--ads-per-adset", str(config.ads_per_adset), "--history-days", str(config.history_days),
        "--max-page-size", str(config.max_page_size), "--now", NOW.isoformat(),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        base_url = (process.stdout.readline().split() or [""])[4]  # type: ignore[union-attr]
        server = psutil.Process(process.pid)
        server.cpu_affinity([core])
        yield base_url, server
    finally:
        process.terminate()
        process.wait(timeout=10)


def measure(
    base_url: str, server: psutil.Process, args: argparse.Namespace, objects: bool
) -> dict[str, float]:
    api = make_api(base_url, DEMO_TOKEN, timeout=300)
    accounts = requests.get(
        f"{base_url}/v26.0/me/adaccounts",
        timeout=30,
        params={"access_token": DEMO_TOKEN, "limit": 100},
    ).json()["data"]
    requests.post(f"{base_url}/__sandbox/counters/reset", timeout=30)
    started, cpu_started = time.perf_counter(), server.cpu_times()
    rows = sum(read_account(api, a["account_id"], args.days, args.limit, objects)
               for a in accounts)  # fmt: skip
    seconds = time.perf_counter() - started
    cpu_ended = server.cpu_times()
    cpu = (cpu_ended.user + cpu_ended.system) - (cpu_started.user + cpu_started.system)
    calls = requests.get(f"{base_url}/__sandbox/counters", timeout=30).json()["total"]
    return {"rows": rows, "wall_seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2),
            "rows_per_wall_second": round(rows / seconds),
            "rows_per_cpu_second": round(rows / cpu), "api_calls": calls}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--ads", type=int, default=1000, help="ads per account (a multiple of 100)")
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--limit", type=int, default=500)
    parser.add_argument("--mode", choices=[*MODES, "all"], default="all")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    results = {}
    for mode in MODES if args.mode == "all" else [args.mode]:
        # In-process modes share one core; the sandbox process gets its own core.
        os.sched_setaffinity(0, {cores[-1]} if mode == "sandbox-process" else {cores[0]})
        source = (
            sandbox_process(args, cores[0])
            if mode == "sandbox-process"
            else (sandbox_in_process(args))
        )
        with source as (base_url, server):
            result = measure(base_url, server, args, objects=mode == "sdk-objects")
        results[mode] = result
        whose = "sandbox process" if mode == "sandbox-process" else "sandbox + client"
        print(f"{mode:16s} {result['rows']:>9,d} rows; wall {result['wall_seconds']:6.1f} s ="
              f" {result['rows_per_wall_second']:>7,d} rows/s; {whose} CPU"
              f" {result['cpu_seconds']:6.1f} s = {result['rows_per_cpu_second']:>7,d} rows/CPU-s"
              f" ({result['api_calls']} calls)", flush=True)  # fmt: skip
    os.sched_setaffinity(0, set(cores))
    load = os.getloadavg()[0]
    print(f"load average {load:.1f} on {os.cpu_count()} CPUs at the end")
    if args.json:
        with open(args.json, "w") as handle:
            # The output path itself stays out: results are committed, machine paths are not.
            knobs = {k: v for k, v in vars(args).items() if k != "json"}
            json.dump({"benchmark": "sandbox_paging", **knobs, "load_average": load,
                       "results": results}, handle, indent=2)  # fmt: skip


if __name__ == "__main__":
    main()

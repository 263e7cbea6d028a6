"""How fast the sandbox pages ad-level daily insights out through the facebook-business SDK.

10 accounts x 1,000 ads x 90 days, one async report per account (``time_increment=1``), read
with the SDK's ``Cursor``. Sandbox and client share one process pinned to one core, so the
figure is what a single core does for both ends. The target is >= 20,000 rows/s.

Two client modes are timed:
- ``dict``: the Cursor hands back the row dicts (an ObjectParser with a custom parse method),
  which is how the project's API client reads insights;
- ``sdk-objects``: the Cursor builds an ``AdsInsights`` object per row, the SDK's default.
  Its type checking costs 40-180 us a row on its own (measured), so this mode is reported, not
  held to the target.

Run: ``.venv/bin/python -m benchmarks.sandbox_paging [--accounts 10] [--ads 1000] [--days 90]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import time

from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.adobjects.adsinsights import AdsInsights
from facebook_business.adobjects.objectparser import ObjectParser
from facebook_business.api import Cursor, FacebookAdsApi

from fbads_assets.sandbox import SandboxConfig, run_sandbox
from fbads_assets.sandbox.sdk import make_api

FIELDS = [
    "account_id", "campaign_id", "adset_id", "ad_id", "impressions", "reach", "frequency",
    "clicks", "inline_link_clicks", "spend", "ctr", "cpc", "cpm", "actions", "action_values",
]  # fmt: skip
NOW = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)


def read_account(api: FacebookAdsApi, account_id: str, days: int, limit: int, mode: str) -> int:
    until = NOW.date() - dt.timedelta(days=1)
    since = until - dt.timedelta(days=days - 1)
    params = {
        "level": "ad",
        "time_increment": 1,
        "time_range": {"since": since.isoformat(), "until": until.isoformat()},
    }
    job = AdAccount(f"act_{account_id}", api=api).get_insights(
        fields=FIELDS, params=params, is_async=True
    )
    while job.api_get()["async_status"] != "Job Completed":
        time.sleep(0.05)
    parser = None
    if mode == "dict":
        parser = ObjectParser(api=api, custom_parse_method=lambda row, _api: row)
    cursor = Cursor(
        job,
        AdsInsights,
        params={"limit": limit},
        include_summary=False,
        api=api,
        object_parser=parser,
    )
    return sum(1 for _row in cursor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--ads", type=int, default=1000, help="ads per account (a multiple of 100)")
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--limit", type=int, default=500)
    parser.add_argument("--mode", choices=["dict", "sdk-objects", "both"], default="both")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    config = SandboxConfig(
        seed=7,
        accounts=args.accounts,
        campaigns_per_account=10,
        adsets_per_campaign=10,
        ads_per_adset=max(1, args.ads // 100),
        history_days=args.days + 30,
        max_page_size=max(500, args.limit),
        now=NOW,
    )
    results = {}
    with run_sandbox(config) as sandbox:
        api = make_api(sandbox.base_url, sandbox.demo_token)
        modes = ["dict", "sdk-objects"] if args.mode == "both" else [args.mode]
        for mode in modes:
            sandbox.counters.reset()
            started, cpu_started = time.perf_counter(), time.process_time()
            rows = sum(
                read_account(api, a.id, args.days, args.limit, mode) for a in sandbox.world.accounts
            )
            seconds = time.perf_counter() - started
            # CPU seconds of this process (sandbox thread + SDK client): the one-core figure
            # that other work on the machine does not distort, unlike wall time.
            cpu = time.process_time() - cpu_started
            calls = sandbox.counters.snapshot()["total"]
            results[mode] = {
                "rows": rows, "wall_seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2),
                "rows_per_wall_second": round(rows / seconds),
                "rows_per_cpu_second": round(rows / cpu), "api_calls": calls,
            }  # fmt: skip
            print(
                f"{mode:12s} {rows:>9,d} rows; wall {seconds:6.1f} s = {rows / seconds:>8,.0f}"
                f" rows/s; CPU {cpu:6.1f} s = {rows / cpu:>8,.0f} rows/CPU-s ({calls} calls)"
            )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average {load:.1f} on {os.cpu_count()} CPUs while measuring")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(
                {"benchmark": "sandbox_paging", **vars(args), "results": results}, handle, indent=2
            )


if __name__ == "__main__":
    main()

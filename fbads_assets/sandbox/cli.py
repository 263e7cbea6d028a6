"""``fbads sandbox serve``: the Marketing API sandbox as a standalone server."""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import sys
from typing import Any

from fbads_assets.sandbox.config import DEFAULT_APP_ID, SandboxConfig
from fbads_assets.sandbox.faults import FAULT_KINDS, FaultRule
from fbads_assets.sandbox.server import Sandbox

DEFAULT_PORT = 8765


def add_sandbox_commands(subparsers: Any) -> None:
    sandbox = subparsers.add_parser("sandbox", help="the local Marketing API sandbox")
    commands = sandbox.add_subparsers(dest="sandbox_command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="serve the sandbox on loopback until Ctrl-C",
        description="Serve a local Marketing API that the facebook-business SDK can use. "
        "Set FBADS_GRAPH_URL (or FacebookSession.GRAPH) to the printed base URL.",
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to bind (default 127.0.0.1; other hosts expose the sandbox)",
    )
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    defaults = SandboxConfig()
    knobs = serve.add_argument_group("data and behaviour")
    for name, kind, text in (
        ("seed", int, "seed of the generated world"),
        ("accounts", int, "ad accounts"),
        ("campaigns-per-account", int, "campaigns per ad account"),
        ("adsets-per-campaign", int, "ad sets per campaign"),
        ("ads-per-adset", int, "ads per ad set"),
        ("history-days", int, "days of delivery before the clock's today"),
        ("max-page-size", int, "cap on limit (Graph caps silently)"),
        ("reduce-data-rows", int, "pages above this many rows fail with code 1"),
        ("async-job-seconds", float, "seconds a report run takes to complete"),
        ("latency-ms", int, "latency added to every request"),
        ("insights-calls-per-hour", int, "ads_insights budget per account and hour"),
    ):
        attr = name.replace("-", "_")
        knobs.add_argument(
            f"--{name}",
            type=kind,
            default=getattr(defaults, attr),
            help=f"{text} (default {getattr(defaults, attr)})",
        )
    knobs.add_argument("--app-id", default=DEFAULT_APP_ID)
    knobs.add_argument(
        "--app-secret", default=None, help="enforce appsecret_proof with this (sandbox-only) secret"
    )
    knobs.add_argument(
        "--now",
        default=None,
        help="freeze the sandbox clock at this ISO time, e.g. 2026-11-30T12:00Z",
    )
    faults = serve.add_argument_group("faults")
    faults.add_argument("--fault-plan", help="a JSON fault plan file (see docs/sandbox.md)")
    faults.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KIND[:PATH[:TIMES]]",
        help=f"add one fault rule; KIND is one of {', '.join(sorted(FAULT_KINDS))}; "
        "TIMES 0 means every matching request",
    )
    serve.set_defaults(handler=serve_command)


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    now = dt.datetime.fromisoformat(args.now.replace("Z", "+00:00")) if args.now else None
    if now is not None and now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    return SandboxConfig(
        seed=args.seed, accounts=args.accounts, campaigns_per_account=args.campaigns_per_account,
        adsets_per_campaign=args.adsets_per_campaign, ads_per_adset=args.ads_per_adset,
        history_days=args.history_days, max_page_size=args.max_page_size,
        reduce_data_rows=args.reduce_data_rows, async_job_seconds=args.async_job_seconds,
        latency_ms=args.latency_ms, app_id=args.app_id, app_secret=args.app_secret,
        insights_calls_per_hour=args.insights_calls_per_hour, now=now, host=args.host,
        port=args.port,
    )  # fmt: skip


def parse_fault(text: str) -> FaultRule:
    kind, _, rest = text.partition(":")
    path, _, times = rest.rpartition(":") if rest.count(":") else (rest, "", "")
    count = int(times) if times else 1
    return FaultRule(kind=kind, path=path or None, times=count or None)


def serve_command(args: argparse.Namespace) -> int:
    sandbox = Sandbox(config_from_args(args))
    if args.fault_plan:
        sandbox.faults.load_plan(args.fault_plan)
    for text in args.fault:
        sandbox.faults.add(parse_fault(text))
    if not _is_loopback(args.host):
        _say(f"Warning: serving on {args.host}, not loopback; other machines can reach it.")
    sandbox.start()
    _say(f"Marketing API sandbox at {sandbox.base_url}  (Graph API {sandbox.graph_version})")
    _say(f"Demo token: {sandbox.demo_token}")
    _say(f"Control: {sandbox.base_url}/__sandbox/counters  ·  Ctrl-C stops.")
    try:
        sandbox.wait()
    except KeyboardInterrupt:
        _say("Stopping the sandbox.")
    finally:
        sandbox.stop()
    return 0


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _say(line: str) -> None:
    # Flushed at once: scripts that start the server read the base URL from the first line.
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def serve_main(argv: list[str] | None = None) -> int:
    """``fbads sandbox serve`` alone, without importing the rest of ``fbads`` (faster to start)."""
    parser = argparse.ArgumentParser(prog="fbads")
    add_sandbox_commands(parser.add_subparsers(dest="group", required=True))
    args = parser.parse_args(["sandbox", "serve", *(sys.argv[1:] if argv is None else argv)])
    return int(args.handler(args) or 0)

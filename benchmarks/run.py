"""``python -m benchmarks.run``: API calls, time and memory per scenario, against the minimum.

``make bench`` runs every scenario at full scale (a few minutes); ``--scale tiny`` runs each one
in seconds with no latency, for the smoke test. The table and the targets go to stdout, the
figures to ``benchmarks/results/<date>-<commit>.json`` and ``latest.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import report

# Report dates go back a year and a bit; the date partitions must reach that far. Within
# Meta's 37-month look-back (settings.py), so the setting is accepted.
START_DAYS_BACK = 450
PAGING_BENCHMARK = Path(__file__).resolve().parent / "sandbox_paging.py"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--scale", choices=("tiny", "full"), default="full")
    parser.add_argument(
        "--only",
        action="append",
        metavar="SCENARIO",
        help="run only this scenario (repeatable): daily, resync, backfill, transform_load",
    )
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=report.RESULTS_DIR,
        help="where the JSON goes (default benchmarks/results)",
    )
    parser.add_argument(
        "--workdir", type=Path, help="keep DuckDB files and sandbox logs here (default: a temp dir)"
    )
    parser.add_argument(
        "--skip-paging",
        action="store_true",
        help="do not run benchmarks/sandbox_paging.py after the scenarios (full scale only)",
    )
    return parser.parse_args(argv)


def prepare_environment() -> None:
    """Settings the graph reads at import time; set before any fbads_assets import."""
    start = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=START_DAYS_BACK)
    os.environ["FBADS_START_DATE"] = start.isoformat()
    os.environ["FBADS_ENV"] = "local"
    # The benchmark lists every account of its sandbox; a user's account list would not match.
    os.environ.pop("FACEBOOK_AD_ACCOUNT_IDS", None)


def run_scenarios(scale: str, only: Sequence[str] | None, workdir: Path) -> list[dict[str, Any]]:
    from benchmarks import scenarios

    selected = [s for s in scenarios.SCALES[scale] if not only or s.name in only]
    unknown = sorted(set(only or ()) - {s.name for s in scenarios.SCALES[scale]})
    if unknown:
        raise SystemExit(
            f"Unknown scenario {', '.join(unknown)}; choose from "
            f"{', '.join(scenarios.SCENARIO_NAMES)}."
        )
    workers = scenarios.pool_limit()
    results = []
    for scenario in selected:
        print(f"… {scenario.name} ({scale})", flush=True)
        started = time.monotonic()
        # Other work on the machine slows every figure but the call counts; keep the load.
        load = round(os.getloadavg()[0], 2)
        try:
            if isinstance(scenario, scenarios.TransformScenario):
                result = scenarios.run_transform_scenario(scenario, workdir)
            else:
                result = scenarios.run_api_scenario(scenario, workdir, workers)
        except Exception as error:
            # One broken scenario must not hide the others' figures: record it and go on.
            message = f"{type(error).__name__}: {error}".splitlines()[0][:300]
            print(f"  FAILED: {message}", flush=True)
            result = scenarios.failed_result(scenario, message)
        print(f"  done in {time.monotonic() - started:.0f} s", flush=True)
        results.append({**result, "scale": scale, "load_avg_1m_at_start": load})
    return results


def run_paging_benchmark(results_dir: Path) -> None:
    """The sandbox's own paging benchmark (10 accounts x 1,000 ads x 90 days through the SDK)."""
    if not PAGING_BENCHMARK.exists():
        print("benchmarks/sandbox_paging.py is not there; skipped.")
        return
    print("\n… sandbox paging (benchmarks/sandbox_paging.py)", flush=True)
    output = results_dir / "sandbox_paging-latest.json"
    subprocess.run(
        [sys.executable, "-m", "benchmarks.sandbox_paging", "--json", str(output)], check=False
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    prepare_environment()
    with tempfile.TemporaryDirectory(prefix="fbads-bench-") as scratch:
        workdir = args.workdir or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        results = run_scenarios(args.scale, args.only, workdir)
    stamp = {"commit": report.commit(), "machine": report.machine()}
    results = [{**r, **stamp} for r in results]

    print()
    print(report.table(results))
    print()
    for target in report.targets(results):
        print(target.line())
    for path in report.write(results, args.results_dir):
        print(f"wrote {path}")
    if args.scale == "full" and not args.only and not args.skip_paging:
        run_paging_benchmark(args.results_dir)
    # Targets are reported, not enforced: a miss is a finding, not a failed command.
    return 0


if __name__ == "__main__":
    sys.exit(main())

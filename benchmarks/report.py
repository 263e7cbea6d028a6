"""What a benchmark run prints and keeps: the table, the targets, the machine and the JSON files.

The JSON is a list with one object per scenario. The keys the issue fixes (scenario, accounts,
days, ads, api_calls, min_api_calls, wall_s, rows, rows_per_s, peak_rss_mb, commit, machine)
are always present, so runs at different commits can be compared with a few lines of code;
the other keys explain the figures and may grow.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from tabulate import tabulate

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REQUIRED_KEYS = (
    "scenario",
    "accounts",
    "days",
    "ads",
    "api_calls",
    "min_api_calls",
    "wall_s",
    "rows",
    "rows_per_s",
    "peak_rss_mb",
    "commit",
    "machine",
)
# The targets.
MAX_CALL_RATIO = 1.25
MIN_TRANSFORM_ROWS_PER_S = 300_000
MAX_MEMORY_TO_FRAME = 2.0


def machine() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(terse=True),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def commit() -> str:
    """The checked-out commit, with ``-dirty`` when tracked files differ from it."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = _git(root, "rev-parse", "--short=12", "HEAD")
        dirty = _git(root, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}-dirty" if dirty else head


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, check=True, capture_output=True, text=True
    ).stdout.strip()


@dataclass(frozen=True)
class Target:
    name: str
    passed: bool
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.passed else 'MISS'}  {self.name}: {self.detail}"


def targets(results: Sequence[dict[str, Any]]) -> list[Target]:
    """Each of the issue's targets, judged on every scenario it applies to."""
    out: list[Target] = []
    for r in results:
        if r.get("error"):
            out.append(Target(f"{r['scenario']}: finished", False, r["error"]))
            continue
        if r["min_api_calls"]:
            ratio = r["api_calls"] / r["min_api_calls"]
            extraction = r["extraction_calls"] / r["min_api_calls"]
            out.append(
                Target(
                    f"{r['scenario']}: API calls <= {MAX_CALL_RATIO}x minimum",
                    ratio <= MAX_CALL_RATIO,
                    f"{r['api_calls']} / {r['min_api_calls']} = {ratio:.3f}x "
                    f"(extraction alone {extraction:.3f}x; overhead {r['overhead_calls']})",
                )
            )
            waits, errors = r["throttle_waits"], r["sandbox_throttle_errors"]
            out.append(
                Target(
                    f"{r['scenario']}: throttle waits only when the budget is spent",
                    waits == 0 or errors > 0,
                    f"{waits} waits ({r['throttle_wait_s']:.1f} s); "
                    f"sandbox throttle errors {errors}",
                )
            )
        if r["scenario"] == "transform_load":
            out.append(
                Target(
                    f"transform_load: >= {MIN_TRANSFORM_ROWS_PER_S:,} rows/s into DuckDB",
                    r["rows_per_s"] >= MIN_TRANSFORM_ROWS_PER_S,
                    f"{r['rows_per_s']:,.0f} rows/s",
                )
            )
        if r.get("final_frame_mb"):
            grown = r["peak_rss_mb"] - r["baseline_rss_mb"]
            out.append(
                Target(
                    f"{r['scenario']}: peak memory < {MAX_MEMORY_TO_FRAME:g}x final frame",
                    grown < MAX_MEMORY_TO_FRAME * r["final_frame_mb"],
                    f"{grown:.0f} MB above the idle process ({r['baseline_rss_mb']:.0f} MB) "
                    f"vs final frame {r['final_frame_mb']:.1f} MB "
                    f"({grown / r['final_frame_mb']:.1f}x)",
                )
            )
        if r["accounts"] > 1 and r.get("pool_limit"):
            wanted = min(r["pool_limit"], r["accounts"])
            out.append(
                Target(
                    f"{r['scenario']}: accounts concurrently up to the pool limit",
                    r["max_concurrent_accounts"] == wanted,
                    f"at most {r['max_concurrent_accounts']} at once; pool limit "
                    f"{r['pool_limit']}, {r['accounts']} accounts",
                )
            )
    return out


def table(results: Sequence[dict[str, Any]]) -> str:
    rows = [
        [
            r["scenario"],
            r["accounts"],
            r["days"],
            r["ads"],
            f"{r['api_calls']} ({r['extraction_calls']}+{r['overhead_calls']})",
            r["min_api_calls"],
            f"{r['api_calls'] / r['min_api_calls']:.2f}" if r["min_api_calls"] else "-",
            f"{r['wall_s']:.1f}",
            f"{r['rows']:,}",
            f"{r['rows_per_s']:,.0f}",
            f"{r['peak_rss_mb']:.0f}",
        ]
        for r in results
    ]
    headers = [
        "scenario",
        "accounts",
        "days",
        "ads",
        "API calls (extr.+overhead)",
        "min calls",
        "ratio",
        "wall s",
        "rows",
        "rows/s",
        "peak RSS MB",
    ]
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def write(results: Sequence[dict[str, Any]], directory: Path = RESULTS_DIR) -> list[Path]:
    """``<date>-<commit>.json`` and ``latest.json``, the same content."""
    missing = [k for r in results for k in REQUIRED_KEYS if k not in r]
    if missing:
        raise ValueError(f"Benchmark results lack the keys {sorted(set(missing))}.")
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(list(results), indent=2, sort_keys=False) + "\n"
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    named = directory / f"{stamp}-{results[0]['commit'] if results else 'none'}.json"
    latest = directory / "latest.json"
    for path in (named, latest):
        partial = path.with_suffix(".json.tmp")
        partial.write_text(text)
        partial.replace(path)
    return [named, latest]

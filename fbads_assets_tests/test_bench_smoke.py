"""The benchmarks at tiny scale: every scenario runs and reports figures of the right shape.

No timing is asserted here (speed belongs to ``make bench``); only that the command works, the
JSON keeps its shape, and the calls counted at the sandbox are never below the API's minimum.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import minimum
from benchmarks.report import REQUIRED_KEYS
from benchmarks.scenarios import SCENARIO_NAMES, count_calls, max_overlap, pool_limit

ROOT = Path(__file__).resolve().parent.parent


def test_the_minimum_reads_at_least_one_page_and_one_page_per_page_size_items():
    assert minimum.pages(0, 500) == 1
    assert minimum.pages(500, 500) == 1
    assert minimum.pages(501, 500) == 2
    with pytest.raises(ValueError, match="page_size"):
        minimum.pages(10, 0)


def test_the_minimum_of_an_async_report_is_one_post_one_status_read_and_its_pages():
    least = minimum.async_report(rows=1001, page_size=500)

    assert least.as_dict() == {
        "report_posts": 1,
        "status_reads": 1,
        "result_pages": 3,
        "object_pages": 0,
        "total": 5,
    }


def test_the_minimum_never_lets_one_page_span_two_accounts_reports():
    # 300 + 300 rows fit on two pages of 500 only per account, not on one shared page.
    assert minimum.async_reports([300, 300], page_size=500).result_pages == 2
    assert minimum.object_lists({"campaigns": 0, "ads": 1200}, 500).object_pages == 4


def _request(method: str, endpoint: str, account: str | None = "1", code=None, **extra):
    return {"method": method, "endpoint": endpoint, "account": account, "code": code, **extra}


def test_calls_are_split_into_extraction_and_overhead_and_batch_envelopes_are_not_calls():
    before = {"requests": [_request("GET", "/me/adaccounts", None)], "rows": 3}
    after = {
        "requests": [
            *before["requests"],
            _request("POST", "/act/insights"),
            _request("POST", "/batch", None),
            _request("GET", "/report_run"),
            _request("GET", "/report_run/insights", rows=40),
            _request("GET", "/act/insights"),  # the sync totals for reconciliation
            _request("GET", "/debug_token", None, code=17),
        ],
        "rows": 50,
    }

    calls = count_calls(before, after)

    assert (calls.extraction, calls.overhead, calls.batch_envelopes) == (3, 2, 1)
    assert calls.throttle_errors == 1
    assert calls.report_rows_by_account == {"1": 40}
    assert calls.rows_served == 47


def test_overlap_counts_the_runs_in_progress_at_one_moment():
    class Run:
        def __init__(self, started: float, finished: float):
            self.started, self.finished = started, finished

    runs = [Run(0, 10), Run(1, 5), Run(2, 3), Run(6, 9), Run(10, 11)]

    assert max_overlap(runs) == 3  # type: ignore[arg-type]


def test_the_pool_limit_comes_from_the_projects_dagster_yaml(tmp_path):
    config = tmp_path / "dagster.yaml"
    config.write_text("concurrency:\n  pools:\n    default_limit: 5\n")

    assert pool_limit(config) == 5
    assert pool_limit() >= 1


@pytest.mark.timeout(600)
def test_every_scenario_runs_at_tiny_scale_and_writes_the_results_json(tmp_path):
    environment = {**os.environ, "PYTHONWARNINGS": "ignore"}
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--scale", "tiny", "--skip-paging"]
        + ["--results-dir", str(tmp_path / "results"), "--workdir", str(tmp_path / "work")],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=540,
    )

    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "PASS" in completed.stdout or "MISS" in completed.stdout
    results = json.loads((tmp_path / "results" / "latest.json").read_text())
    assert [r["scenario"] for r in results] == SCENARIO_NAMES
    for result in results:
        assert not result.get("error"), result
        assert set(REQUIRED_KEYS) <= set(result), result["scenario"]
        assert result["rows"] > 0, result["scenario"]
        assert set(result["machine"]) >= {"cpu_count", "cpu_model", "python", "memory_gb"}
    for result in results:
        if result["scenario"] != "transform_load":
            assert result["api_calls"] >= result["min_api_calls"] > 0, result
    dated = [p for p in (tmp_path / "results").glob("*.json") if p.name != "latest.json"]
    assert len(dated) == 1 and json.loads(dated[0].read_text()) == results

"""The last async report's run time, recorded on ad_insights_raw and read back for the next run."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from fbads_assets.api.insights import (
    FIRST_READ_SECONDS,
    InsightsRequest,
    InsightsResult,
    first_status_wait,
)
from fbads_assets.defs.report_timing import RAW_ASSET, previous_report, report_timing_metadata
from fbads_assets.partitions import partition_key

DAY = dt.date(2026, 11, 20)
FINGERPRINT = "0123456789abcdef"


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


def record_raw(instance, account_id: str, day: dt.date, days: int, seconds: float | None) -> None:
    """One ad_insights_raw partition's materialization, with the run metadata it carries."""
    metadata: dict = {"days": days, "request_fingerprint": FINGERPRINT}
    if seconds is not None:
        result = InsightsResult([], FINGERPRINT, "v26.0", jobs=1, job_seconds=seconds)
        metadata |= report_timing_metadata(result)
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            RAW_ASSET, partition=str(partition_key(account_id, day)), metadata=metadata
        )
    )


def test_the_accounts_own_last_report_comes_first(instance):
    record_raw(instance, "111", DAY - dt.timedelta(days=1), days=1, seconds=5.0)
    record_raw(instance, "222", DAY, days=1, seconds=9.0)  # later, but another account

    timing = previous_report(instance, "111", [DAY])

    assert timing is not None
    assert (timing.seconds, timing.fingerprint, timing.days) == (5.0, FINGERPRINT, 1)


def test_without_its_own_history_an_account_takes_the_last_report_of_any(instance):
    record_raw(instance, "222", DAY, days=1, seconds=9.0)

    timing = previous_report(instance, "333", [DAY])

    assert timing is not None and timing.seconds == 9.0


def test_a_report_over_another_number_of_days_is_no_guide(instance):
    record_raw(instance, "111", DAY, days=28, seconds=40.0)
    record_raw(instance, "222", DAY, days=1, seconds=9.0)

    assert previous_report(instance, "111", [DAY]).seconds == 9.0  # type: ignore[union-attr]
    week = [DAY - dt.timedelta(days=i) for i in range(6, -1, -1)]
    assert previous_report(instance, "111", week) is None


def test_runs_that_recorded_no_job_time_give_no_history(instance):
    record_raw(instance, "111", DAY, days=1, seconds=None)  # as runs did before job times

    assert previous_report(instance, "111", [DAY]) is None


def test_no_history_at_all_gives_none(instance):
    assert previous_report(instance, "111", [DAY]) is None


def test_the_metadata_rounds_the_job_time_and_is_empty_for_a_sync_read():
    async_result = InsightsResult([], FINGERPRINT, "v26.0", jobs=1, job_seconds=2.04)
    sync_result = InsightsResult([], FINGERPRINT, "v26.0", jobs=0)

    assert report_timing_metadata(async_result) == {"async_job_seconds": 2.0}
    assert report_timing_metadata(sync_result) == {}


def test_the_recorded_time_sets_the_next_reports_first_status_read(instance):
    request = InsightsRequest("act_111", DAY, DAY, fields=("ad_id", "spend"))
    record = InsightsResult([], request.fingerprint, "v26.0", jobs=1, job_seconds=4.0)
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            RAW_ASSET,
            partition=str(partition_key("111", DAY)),
            metadata={
                "days": 1,
                "request_fingerprint": request.fingerprint,
                **report_timing_metadata(record),
            },
        )
    )

    previous = previous_report(instance, "111", [DAY])
    hinted = InsightsRequest("act_111", DAY, DAY, fields=("ad_id", "spend"), previous=previous)

    assert first_status_wait(request) == FIRST_READ_SECONDS
    assert first_status_wait(hinted) == pytest.approx(4.0 * 1.2 + 1.0)

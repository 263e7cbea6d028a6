"""How long the last async insights report took, kept in and read back from the Dagster instance.

``ad_insights_raw`` records its async job's run time (``async_job_seconds``) beside the
request fingerprint and the number of days it already records. The next run hands that back
to the client as ``ReportTiming``, so the first status read comes when the report is likely
done rather than after a fixed second: one status read per report instead of two or three.
A deployment has one instance shared by all runs, so yesterday's run is there to read.
"""

import datetime as dt
from collections.abc import Sequence

import dagster as dg

from fbads_assets.api.insights import InsightsResult, ReportTiming
from fbads_assets.partitions import partition_key

RAW_ASSET = dg.AssetKey("ad_insights_raw")
JOB_SECONDS_KEY = "async_job_seconds"
# Written by ad_insights_raw with every run.
FINGERPRINT_KEY = "request_fingerprint"
DAYS_KEY = "days"


def report_timing_metadata(report: InsightsResult) -> dict[str, float]:
    """The run's async job time, for ad_insights_raw's materialization metadata."""
    if report.job_seconds is None:
        return {}
    return {JOB_SECONDS_KEY: round(report.job_seconds, 1)}


def previous_report(
    instance: dg.DagsterInstance, account_id: str, dates: Sequence[dt.date]
) -> ReportTiming | None:
    """The timing of the last report over as many days: this account's own, else any account's.

    The account's own last run is looked for among the partitions this range covers and the
    day before it (yesterday's re-sync window, or an earlier try of this one).
    """
    covered = [dates[0] - dt.timedelta(days=1), *dates]
    own = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=RAW_ASSET,
            asset_partitions=[str(partition_key(account_id, day)) for day in covered],
        ),
        limit=1,
    ).records
    timing = _timing(own[0].asset_materialization if own else None)
    if timing is None or timing.days != len(dates):
        latest = instance.get_latest_materialization_event(RAW_ASSET)
        timing = _timing(latest.asset_materialization if latest is not None else None)
    return timing if timing is not None and timing.days == len(dates) else None


def _timing(materialization: dg.AssetMaterialization | None) -> ReportTiming | None:
    if materialization is None:
        return None
    values = {
        key: getattr(entry, "value", entry)
        for key, entry in materialization.metadata.items()
        if key in (JOB_SECONDS_KEY, FINGERPRINT_KEY, DAYS_KEY)
    }
    seconds, fingerprint, days = (
        values.get(key) for key in (JOB_SECONDS_KEY, FINGERPRINT_KEY, DAYS_KEY)
    )
    if not isinstance(seconds, int | float) or not isinstance(days, int) or not fingerprint:
        return None
    return ReportTiming(seconds=float(seconds), fingerprint=str(fingerprint), days=days)

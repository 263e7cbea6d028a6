"""Jobs and the daily schedules: accounts, then objects, then the insights re-sync.

Times are UTC. At 13:00 UTC every time zone from UTC-11 to UTC+10 is on the same calendar date,
so "yesterday" is one date for nearly every account when the re-sync runs. Metadata refreshes
earlier the same day; insights rows carry their own ids and names, so they never wait for it,
and the foreign-key checks warn if a brand-new ad appeared in between.
"""

import datetime as dt

import dagster as dg

from fbads_assets.defs.accounts import (
    account_metadata_from_instance,
    ad_accounts,
    facebook_token_health,
    token_usable_for_this_run,
)
from fbads_assets.defs.checks import expected_latest_date, latest_date_present
from fbads_assets.defs.insights import INSIGHTS_ASSETS
from fbads_assets.defs.mart import facebook_ads_campaign_daily
from fbads_assets.defs.objects import OBJECT_ASSETS
from fbads_assets.partitions import ACCOUNT_PARTITIONS_NAME, partition_key
from fbads_assets.settings import load_settings

ACCOUNT_TAG = "fbads/ad_account"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def range_tags(account_id: str, first: dt.date, last: dt.date) -> dict[str, str]:
    """The tags that make a run cover one account's days first..last as one ranged run."""
    return {
        RANGE_START_TAG: str(partition_key(account_id, first)),
        RANGE_END_TAG: str(partition_key(account_id, last)),
    }


accounts_job = dg.define_asset_job(
    "ad_accounts_job",
    selection=dg.AssetSelection.assets(ad_accounts, facebook_token_health),
    description="Lists the ad accounts and checks the token's health.",
)
account_objects_job = dg.define_asset_job(
    "account_objects_job",
    selection=dg.AssetSelection.assets(*OBJECT_ASSETS)
    | dg.AssetSelection.checks(token_usable_for_this_run),
    description="Refreshes campaigns, ad sets, ads and creatives of one account.",
)
insights_job = dg.define_asset_job(
    "insights_job",
    selection=dg.AssetSelection.assets(*INSIGHTS_ASSETS, facebook_ads_campaign_daily)
    | dg.AssetSelection.checks(token_usable_for_this_run),
    description="Pulls one account's insights for a date range and rebuilds its typed tables "
    "and mart rows.",
)
freshness_check_job = dg.define_asset_job(
    "freshness_check_job",
    selection=dg.AssetSelection.checks(latest_date_present),
    description="Checks that every active account has its latest day.",
)


@dg.schedule(
    job=accounts_job,
    cron_schedule="0 11 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def daily_ad_accounts(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Refreshes the account list and token health every morning (UTC)."""
    day = context.scheduled_execution_time.date().isoformat()
    return dg.RunRequest(run_key=f"ad_accounts:{day}")


def registered_accounts(instance: dg.DagsterInstance) -> list[str]:
    return sorted(instance.get_dynamic_partitions(ACCOUNT_PARTITIONS_NAME))


@dg.schedule(
    job=account_objects_job,
    cron_schedule="30 11 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def daily_account_objects(context: dg.ScheduleEvaluationContext):
    """One run per account for its campaigns, ad sets, ads and creatives."""
    day = context.scheduled_execution_time.date().isoformat()
    accounts = registered_accounts(context.instance)
    if not accounts:
        return dg.SkipReason("No account partitions yet: materialize ad_accounts first.")
    return [
        dg.RunRequest(
            run_key=f"objects:{account_id}:{day}",
            partition_key=account_id,
            tags={ACCOUNT_TAG: account_id},
        )
        for account_id in accounts
    ]


def resync_run_requests(
    accounts: dict[str, dict[str, str]],
    registered: list[str],
    now: dt.datetime,
    resync_days: int,
    start_date: dt.date,
) -> list[dg.RunRequest]:
    """Per active account: one ranged run over the trailing days ending on its yesterday."""
    requests = []
    for account_id in registered:
        info = accounts.get(account_id, {"timezone": "UTC", "status": "ACTIVE"})
        if info["status"] != "ACTIVE":
            continue
        last = expected_latest_date(info["timezone"], now)
        first = max(last - dt.timedelta(days=resync_days - 1), start_date)
        if first > last:
            continue
        requests.append(
            dg.RunRequest(
                # The same window for the same account runs once, however often a tick fires.
                run_key=f"resync:{account_id}:{first}:{last}",
                tags={ACCOUNT_TAG: account_id, **range_tags(account_id, first, last)},
            )
        )
    return requests


@dg.schedule(
    job=insights_job,
    cron_schedule="0 13 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def daily_insights_resync(context: dg.ScheduleEvaluationContext):
    """Re-pulls the trailing FBADS_RESYNC_DAYS days per account: attribution settles late."""
    settings = load_settings()
    requests = resync_run_requests(
        account_metadata_from_instance(context.instance),
        registered_accounts(context.instance),
        context.scheduled_execution_time,
        settings.resync_days,
        settings.start_date,
    )
    return requests or dg.SkipReason("No active account partitions: materialize ad_accounts.")


@dg.schedule(
    job=freshness_check_job,
    cron_schedule="0 15 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def daily_freshness_check(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Two hours after the re-sync: is every active account's yesterday there?"""
    return dg.RunRequest(run_key=f"freshness:{context.scheduled_execution_time.date()}")


JOBS = [accounts_job, account_objects_job, insights_job, freshness_check_job]
SCHEDULES = [daily_ad_accounts, daily_account_objects, daily_insights_resync, daily_freshness_check]

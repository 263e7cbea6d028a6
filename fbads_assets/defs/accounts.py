"""Ad accounts and the token that reads them: the root of the graph."""

import datetime as dt

import dagster as dg
import pandas as pd

from fbads_assets.api.errors import MarketingApiError
from fbads_assets.api.tokens import TokenInfo, token_health_metadata
from fbads_assets.defs.common import (
    ACCOUNTS_GROUP,
    API_KINDS,
    API_POOL,
    DAILY_FRESHNESS,
    table_metadata,
    utc_now,
)
from fbads_assets.defs.fields import AD_ACCOUNT_FIELDS
from fbads_assets.defs.metadata import cost_metadata, preview
from fbads_assets.defs.token_verdict import (
    VERDICT_MAX_AGE,
    fingerprint_metadata,
    reusable_verdict,
)
from fbads_assets.partitions import ACCOUNT_PARTITIONS_NAME
from fbads_assets.resources import FacebookAdsResource
from fbads_assets.settings import load_settings
from fbads_assets.transform.objects import ad_accounts_frame


def _read_accounts(client, account_ids: tuple[str, ...]) -> list[dict]:
    if not account_ids:
        return client.list_ad_accounts(AD_ACCOUNT_FIELDS)
    try:
        return client.get_ad_accounts(list(account_ids), AD_ACCOUNT_FIELDS)
    except MarketingApiError as error:
        raise dg.Failure(
            description=(
                f"FACEBOOK_AD_ACCOUNT_IDS lists an account this token cannot read: {error} "
                "Remove it from FACEBOOK_AD_ACCOUNT_IDS, or give the token's user or system "
                "user a role on it in Business Settings."
            ),
            allow_retries=False,
        ) from None


@dg.asset(
    group_name=ACCOUNTS_GROUP,
    kinds=API_KINDS,
    pool=API_POOL,
    freshness_policy=DAILY_FRESHNESS,
    metadata=table_metadata("ad_accounts"),
)
def ad_accounts(context: dg.AssetExecutionContext, facebook: FacebookAdsResource) -> pd.DataFrame:
    """Ad accounts the token reads (or FACEBOOK_AD_ACCOUNT_IDS); registers account partitions."""
    client = facebook.get_client()
    rows = _read_accounts(client, load_settings().account_ids)
    frame = ad_accounts_frame(rows, fetched_at=utc_now())

    account_ids = frame["account_id"].tolist()
    known = set(context.instance.get_dynamic_partitions(ACCOUNT_PARTITIONS_NAME))
    new_ids = [a for a in account_ids if a not in known]
    if new_ids:
        context.instance.add_dynamic_partitions(ACCOUNT_PARTITIONS_NAME, new_ids)
    context.log.info(
        f"{len(account_ids)} ad accounts; {len(new_ids)} new account partitions "
        f"({', '.join(new_ids) or 'none'}); {client.stats.total_calls} API calls."
    )

    context.add_output_metadata(
        {
            "accounts": len(account_ids),
            "new_account_partitions": len(new_ids),
            # The schedules read time zones and statuses from here rather than the warehouse,
            # so a daemon tick never waits for a DuckDB writer.
            "account_timezones": dg.MetadataValue.json(
                dict(zip(frame["account_id"], frame["timezone_name"], strict=True))
            ),
            "account_statuses": dg.MetadataValue.json(
                dict(zip(frame["account_id"], frame["status"], strict=True))
            ),
            "preview": preview(frame),
            **cost_metadata(client),
        }
    )
    return frame


TOKEN_EXPIRY_CHECK = "token_not_expiring_soon"


def token_expiry_result(
    info: TokenInfo,
    warning_days: int,
    check_name: str | None = None,
    verdict: str | None = None,
    inspected_at: dt.datetime | None = None,
) -> dg.AssetCheckResult:
    """Passes unless the token or its data access expires within ``warning_days``.

    The metadata is the token's health (type, scopes, days to expiry as numbers), so each
    evaluation adds a point to the UI's countdown plot. ``verdict`` says where ``info`` came
    from and ``inspected_at`` when debug_token gave it; both go into the metadata.
    """
    now = utc_now()
    days = [
        d for d in (info.days_to_expiry(now), info.days_to_data_access_expiry(now)) if d is not None
    ]
    soonest = min(days) if days else None
    expiring = soonest is not None and soonest < warning_days
    description = (
        f"The token or its data access expires in {soonest} days: create a system user "
        "token in Business Settings and set FACEBOOK_ACCESS_TOKEN."
        if expiring
        else "The token is valid, reads ads and is not close to expiry."
    )
    metadata = token_health_metadata(info, now)
    if verdict is not None:
        description += f" Verdict {verdict}."
        metadata["verdict"] = dg.MetadataValue.text(verdict)
    if inspected_at is not None:
        metadata["verdict_inspected_at"] = dg.MetadataValue.timestamp(inspected_at)
    return dg.AssetCheckResult(
        check_name=check_name,
        passed=not expiring,
        severity=dg.AssetCheckSeverity.WARN,
        description=description,
        metadata=metadata,
    )


@dg.asset(
    group_name=ACCOUNTS_GROUP,
    kinds={"facebook"},
    pool=API_POOL,
    freshness_policy=DAILY_FRESHNESS,
    check_specs=[
        dg.AssetCheckSpec(
            TOKEN_EXPIRY_CHECK,
            asset="facebook_token_health",
            description=(
                "Warns when FACEBOOK_ACCESS_TOKEN or its data access expires within the "
                "warning window (default 7 days), so it is replaced before runs fail."
            ),
        )
    ],
)
def facebook_token_health(
    context: dg.AssetExecutionContext, facebook: FacebookAdsResource
) -> dg.MaterializeResult:
    """Type, scopes and days to expiry of the access token (debug_token); never the token."""
    info = facebook.inspect_token()
    days_left = info.days_to_expiry(utc_now())
    context.log.info(
        f"Token: {info.type}, valid={info.is_valid}, scopes={','.join(info.scopes)}, "
        f"days to expiry={'never' if days_left is None else days_left}."
    )
    return dg.MaterializeResult(
        # The fingerprint lets the day's runs reuse this verdict (token_usable_for_this_run).
        metadata={
            **token_health_metadata(info),
            **fingerprint_metadata(facebook.token_fingerprint()),
        },
        check_results=[token_expiry_result(info, facebook.expiry_warning_days, TOKEN_EXPIRY_CHECK)],
    )


@dg.asset_check(
    asset="facebook_token_health",
    name="token_usable_for_this_run",
    description=(
        "Runs with every objects and insights run: the token is valid and reads ads (the run "
        "fails here, with what to do, if not), and warns when it or its data access expires "
        "within the warning window. It may reuse the daily facebook_token_health verdict "
        f"(same token, under {VERDICT_MAX_AGE.total_seconds() / 3600:.0f} hours old, not "
        "expired since); otherwise it asks debug_token. The result says which."
    ),
)
def token_usable_for_this_run(
    context: dg.AssetCheckExecutionContext, facebook: FacebookAdsResource
) -> dg.AssetCheckResult:
    now = utc_now()
    daily = reusable_verdict(context.instance, facebook.token_fingerprint(), now)
    if daily is None:
        info = facebook.inspect_token()  # raises, with what to do, when the token cannot run
        return token_expiry_result(
            info,
            facebook.expiry_warning_days,
            verdict="fresh from debug_token in this run",
            inspected_at=now,
        )

    # Reusing costs little safety: a token revoked since the morning (password change, role
    # removed) fails this run's first Marketing API call with code 190, and the client raises
    # that at once, without retries, with what to do. Expiry is re-judged against now.
    hours = (now - daily.inspected_at).total_seconds() / 3600
    context.log.info(
        f"Token check: reused facebook_token_health's verdict of "
        f"{daily.inspected_at:%Y-%m-%d %H:%M} UTC ({hours:.1f} h old, same token); "
        "no debug_token call."
    )
    return token_expiry_result(
        daily.info,
        facebook.expiry_warning_days,
        verdict=(
            f"reused from facebook_token_health at {daily.inspected_at:%Y-%m-%d %H:%M:%S} UTC"
        ),
        inspected_at=daily.inspected_at,
    )


def account_metadata_from_instance(instance: dg.DagsterInstance) -> dict[str, dict[str, str]]:
    """{account_id: {"timezone": ..., "status": ...}} from the last ad_accounts run."""
    event = instance.get_latest_materialization_event(dg.AssetKey("ad_accounts"))
    if event is None or event.asset_materialization is None:
        return {}
    metadata = event.asset_materialization.metadata
    zones = _json_mapping(metadata.get("account_timezones"))
    statuses = _json_mapping(metadata.get("account_statuses"))
    return {
        account: {"timezone": zone, "status": statuses.get(account, "UNKNOWN")}
        for account, zone in zones.items()
    }


def _json_mapping(entry: dg.MetadataValue | None) -> dict[str, str]:
    value = entry.value if entry is not None else None
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}

"""The morning's token verdict, reused by the objects and insights runs that follow it.

``facebook_token_health`` asks debug_token about the token once a day (11:00 UTC, before the
objects and insights schedules) and records the answer with a fingerprint of the token, never
the token. ``token_usable_for_this_run`` reads that record back from the Dagster instance and
reuses it when it is recent and about the same token, so a day of runs costs one debug_token
call instead of one per run.
"""

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg

from fbads_assets.api.tokens import TokenInfo

TOKEN_HEALTH_ASSET = dg.AssetKey("facebook_token_health")
FINGERPRINT_KEY = "token_fingerprint"
# A verdict is reused for 12 hours. That covers every run the schedules launch from the 11:00
# inspection (objects at 11:30, insights at 13:00) and the day's retries and backfills, and it
# is well under the 24 hours between two inspections: when a morning's inspection fails (no
# materialization), the day before's verdict is already too old, so each run asks debug_token
# itself and fails with the reason.
VERDICT_MAX_AGE = dt.timedelta(hours=12)
_APP = re.compile(r"^(?P<application>.*) \((?P<app_id>\d+)\)$")


@dataclass(frozen=True)
class DailyVerdict:
    info: TokenInfo
    inspected_at: dt.datetime


def fingerprint_metadata(fingerprint: str) -> dict[str, dg.MetadataValue]:
    """What facebook_token_health records so later runs can recognise the token."""
    return {FINGERPRINT_KEY: dg.MetadataValue.text(fingerprint)}


def reusable_verdict(
    instance: dg.DagsterInstance, fingerprint: str, now: dt.datetime
) -> DailyVerdict | None:
    """The last facebook_token_health verdict, if it is about this token and still good.

    None (ask debug_token) when there is none, when it is older than ``VERDICT_MAX_AGE`` or
    from the future, when it was made for another token, or when the token or its data access
    has expired since.
    """
    event = instance.get_latest_materialization_event(TOKEN_HEALTH_ASSET)
    if event is None or event.asset_materialization is None:
        return None
    metadata = event.asset_materialization.metadata
    if _value(metadata, FINGERPRINT_KEY) != fingerprint:
        return None
    inspected_at = dt.datetime.fromtimestamp(event.timestamp, dt.UTC)
    if not dt.timedelta(0) <= now - inspected_at <= VERDICT_MAX_AGE:
        return None
    info = token_info_from_metadata(metadata)
    expired = any(
        moment is not None and moment <= now
        for moment in (info.expires_at, info.data_access_expires_at)
    )
    if not info.is_valid or expired:
        return None
    return DailyVerdict(info, inspected_at)


def token_info_from_metadata(metadata: Mapping[str, Any]) -> TokenInfo:
    """The TokenInfo that ``token_health_metadata`` described (the ids it shows, no token)."""
    app = _APP.match(str(_value(metadata, "app") or ""))
    scopes = str(_value(metadata, "scopes") or "none")
    token_type = _value(metadata, "type")
    return TokenInfo(
        type=None if token_type in (None, "unknown") else str(token_type),
        app_id=app["app_id"] if app else None,
        application=app["application"] if app and app["application"] != "?" else None,
        user_id=None,
        profile_id=None,
        issued_at=None,
        expires_at=_moment(_value(metadata, "expires_at")),
        data_access_expires_at=_moment(_value(metadata, "data_access_expires_at")),
        scopes=() if scopes == "none" else tuple(scopes.split(", ")),
        is_valid=_value(metadata, "is_valid") is True,
    )


def _value(metadata: Mapping[str, Any], key: str) -> Any:
    entry = metadata.get(key)
    return getattr(entry, "value", entry)


def _moment(seconds: Any) -> dt.datetime | None:
    if not isinstance(seconds, int | float):
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC)

"""Ad accounts, campaigns, ad sets, ads and creatives: API objects → typed frames.

The API sends ids and money as strings, money on objects in minor units, datetimes with a
``-0700`` style offset, and nested objects (``business``, ``creative``, ``attribution_spec``).
Each function here maps one object type onto its table in ``warehouse/tables.py``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence

import pandas as pd

from fbads_assets.transform.frames import conform
from fbads_assets.transform.money import minor_to_major
from fbads_assets.warehouse.tables import (
    AD_ACCOUNTS,
    AD_CREATIVES,
    AD_SETS,
    ADS,
    CAMPAIGNS,
    Table,
)

# Meta's numeric account_status (ad-account reference). 201 and 202 are filter values that the
# API documents alongside the states; they are named here so no code shows up as unknown.
ACCOUNT_STATUS_NAMES = {
    1: "ACTIVE",
    2: "DISABLED",
    3: "UNSETTLED",
    7: "PENDING_RISK_REVIEW",
    8: "PENDING_SETTLEMENT",
    9: "IN_GRACE_PERIOD",
    100: "PENDING_CLOSURE",
    101: "CLOSED",
    201: "ANY_ACTIVE",
    202: "ANY_CLOSED",
}

# Where a column's value comes from when the API names it differently, first match wins;
# "a.b" reads a nested object. Columns not listed here come from the key of the same name.
COLUMN_SOURCES: dict[str, dict[str, tuple[str, ...]]] = {
    "campaigns": {"campaign_id": ("id",), "status": ("status", "configured_status")},
    "ad_sets": {"adset_id": ("id",), "status": ("status", "configured_status")},
    "ads": {
        "ad_id": ("id",),
        "status": ("status", "configured_status"),
        "creative_id": ("creative.id",),
    },
    "ad_creatives": {
        "creative_id": ("id",),
        # The effective id is the post the ad really runs as; object_story_id is only set
        # when the creative was built from an existing post.
        "object_story_id": ("effective_object_story_id", "object_story_id"),
    },
}


def account_id_digits(account_id: object) -> str:
    """``"act_123"`` or ``"123"`` → ``"123"``, the form every table stores."""
    text = str(account_id)
    return text.removeprefix("act_")


def ad_accounts_frame(rows: Sequence[Mapping], fetched_at: dt.datetime) -> pd.DataFrame:
    """AD_ACCOUNTS from ``/act_X/`` or ``/me/adaccounts`` items."""
    records = [_ad_account_record(row, fetched_at) for row in rows]
    return conform(
        pd.DataFrame.from_records(records, columns=AD_ACCOUNTS.column_names), AD_ACCOUNTS
    )


def _ad_account_record(row: Mapping, fetched_at: dt.datetime) -> dict:
    currency = row.get("currency")
    status = row.get("account_status")
    status_code = int(status) if status not in (None, "") else None
    business = row.get("business") or {}
    return {
        "account_id": account_id_digits(row.get("account_id") or row["id"]),
        "name": row.get("name"),
        "currency": currency,
        "timezone_name": row.get("timezone_name"),
        "timezone_offset_hours_utc": row.get("timezone_offset_hours_utc"),
        "account_status": status_code,
        "status": _account_status_name(status_code),
        "business_id": business.get("id"),
        "business_name": business.get("name"),
        "amount_spent": minor_to_major(row.get("amount_spent"), currency),
        "created_time": row.get("created_time"),
        "fetched_at": fetched_at,
    }


def _account_status_name(code: int | None) -> str | None:
    if code is None:
        return None
    return ACCOUNT_STATUS_NAMES.get(code, f"UNKNOWN_{code}")


def campaigns_frame(
    rows: Sequence[Mapping], account_id: str, currency: str | None, fetched_at: dt.datetime
) -> pd.DataFrame:
    """CAMPAIGNS from ``/act_X/campaigns`` items; budgets to major units."""
    return _objects_frame(rows, CAMPAIGNS, account_id, currency, fetched_at)


def ad_sets_frame(
    rows: Sequence[Mapping], account_id: str, currency: str | None, fetched_at: dt.datetime
) -> pd.DataFrame:
    """AD_SETS from ``/act_X/adsets`` items; attribution_spec as JSON text."""
    return _objects_frame(rows, AD_SETS, account_id, currency, fetched_at)


def ads_frame(
    rows: Sequence[Mapping], account_id: str, currency: str | None, fetched_at: dt.datetime
) -> pd.DataFrame:
    """ADS from ``/act_X/ads`` items; ``creative {"id"}`` becomes creative_id."""
    return _objects_frame(rows, ADS, account_id, currency, fetched_at)


def ad_creatives_frame(
    rows: Sequence[Mapping], account_id: str, currency: str | None, fetched_at: dt.datetime
) -> pd.DataFrame:
    """AD_CREATIVES from ``/act_X/adcreatives`` items."""
    return _objects_frame(rows, AD_CREATIVES, account_id, currency, fetched_at)


def _objects_frame(
    rows: Sequence[Mapping],
    table: Table,
    account_id: str,
    currency: str | None,
    fetched_at: dt.datetime,
) -> pd.DataFrame:
    sources = COLUMN_SOURCES.get(table.name, {})
    money = [c.name for c in table.columns if c.type == "money"]
    strings = [c.name for c in table.columns if c.type == "string"]
    records = []
    for row in rows:
        record = {name: _pick(row, sources.get(name, (name,))) for name in table.column_names}
        # The partition's account, not the row's: both are the same account, but rows of a
        # deleted object may omit account_id.
        record["account_id"] = account_id_digits(account_id)
        record["fetched_at"] = fetched_at
        for name in money:
            record[name] = minor_to_major(record[name], currency)
        for name in strings:
            record[name] = _as_text(record[name])
        records.append(record)
    frame = pd.DataFrame.from_records(records, columns=table.column_names)
    return conform(frame, table, currency=currency)


def _pick(row: Mapping, paths: tuple[str, ...]) -> object:
    for path in paths:
        value: object = row
        for key in path.split("."):
            value = value.get(key) if isinstance(value, Mapping) else None
        if value is not None:
            return value
    return None


def _as_text(value: object) -> str | None:
    """Nested objects and lists (attribution_spec, special_ad_categories) as JSON text."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, sort_keys=True)
    return str(value)

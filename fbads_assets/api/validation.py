"""Checks that turn bad input into a configuration error before the first request.

A malformed account id, a misspelt field or a removed attribution window would otherwise cost a
round trip each and come back as a terse code 100. The field lists come from the SDK's
generated object classes, which track the API version the SDK is pinned to.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cache
from typing import Any

from facebook_business.adobjects.ad import Ad
from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.adobjects.adcreative import AdCreative
from facebook_business.adobjects.adset import AdSet
from facebook_business.adobjects.adsinsights import AdsInsights
from facebook_business.adobjects.campaign import Campaign

from fbads_assets.api.errors import MarketingApiError

# The SDK's own check is re.search(r'v[0-9]+\.[0-9]+'), which lets "xv26.0/" through and fails
# only at call time; a full match fails at construction.
API_VERSION_PATTERN = re.compile(r"v\d{1,3}\.\d{1,2}")
ACCOUNT_ID_PATTERN = re.compile(r"(?:act_)?(\d{1,20})")
LEVELS = ("account", "campaign", "adset", "ad")
OBJECT_EDGES = {
    "campaigns": Campaign,
    "adsets": AdSet,
    "ads": Ad,
    "adcreatives": AdCreative,
}
# Meta stopped returning these on 2026-01-12; asking for them yields silently missing columns.
REMOVED_WINDOWS = frozenset({"7d_view", "28d_view"})
MAX_TIME_INCREMENT_DAYS = 90


def _enum_values(enum_class: type) -> frozenset[str]:
    return frozenset(v for k, v in vars(enum_class).items() if not k.startswith("_"))


@cache
def _known_fields(object_class: Any) -> frozenset[str]:
    return _enum_values(object_class.Field)


def account_node(account_id: str) -> str:
    """``"123"`` or ``"act_123"`` → ``"act_123"``, the node the Graph API reads."""
    match = ACCOUNT_ID_PATTERN.fullmatch(str(account_id).strip())
    if not match:
        raise MarketingApiError.config(
            f"{account_id!r} is not an ad account id. Use the digits or 'act_<digits>' as shown "
            "in Ads Manager (Account Overview), e.g. act_1234567890"
        )
    return f"act_{match.group(1)}"


def check_api_version(api_version: str) -> str:
    if not API_VERSION_PATTERN.fullmatch(api_version or ""):
        raise MarketingApiError.config(
            f"API version {api_version!r} is not of the form vNN.N. Use e.g. 'v26.0', the "
            "version the pinned facebook-business SDK speaks"
        )
    return api_version


def check_fields(fields: list[str] | tuple[str, ...], object_class: type, what: str) -> list[str]:
    """Rejects unknown fields; ``creative{id,name}`` and ``insights.limit(5)`` check their root."""
    fields = list(fields)
    if not fields:
        raise MarketingApiError.config(f"No fields requested for {what}. Name at least one field")
    known = _known_fields(object_class)
    unknown = [f for f in fields if re.split(r"[{.]", f, maxsplit=1)[0] not in known]
    if unknown:
        raise MarketingApiError.config(
            f"Unknown field(s) for {what}: {', '.join(sorted(unknown))}. Check the spelling "
            f"against the Marketing API reference for {object_class.__name__}"
        )
    return fields


def check_edge(edge: str) -> type:
    if edge not in OBJECT_EDGES:
        raise MarketingApiError.config(
            f"Unknown object edge {edge!r}. Use one of: {', '.join(OBJECT_EDGES)}"
        )
    return OBJECT_EDGES[edge]


def check_account_fields(fields: list[str] | tuple[str, ...]) -> list[str]:
    return check_fields(fields, AdAccount, "ad accounts")


def check_insights_request(
    since: dt.date,
    until: dt.date,
    level: str,
    fields: list[str] | tuple[str, ...],
    windows: list[str] | tuple[str, ...] | None,
    breakdowns: list[str] | tuple[str, ...] | None,
    time_increment: int | str,
) -> None:
    """Everything about an insights request that can be wrong before it is sent."""
    if since > until:
        raise MarketingApiError.config(f"Insights range {since}..{until} ends before it starts")
    if level not in LEVELS:
        raise MarketingApiError.config(
            f"Unknown insights level {level!r}. Use one of: {', '.join(LEVELS)}"
        )
    check_fields(fields, AdsInsights, "insights")
    for window in windows or ():
        if window in REMOVED_WINDOWS:
            raise MarketingApiError.config(
                f"Attribution window {window!r} is no longer returned by Meta (since "
                "2026-01-12). Use 1d_click, 7d_click, 28d_click, 1d_view or 1d_ev"
            )
        if window not in _enum_values(AdsInsights.ActionAttributionWindows):
            raise MarketingApiError.config(f"Unknown attribution window {window!r}")
    unknown = [b for b in breakdowns or () if b not in _enum_values(AdsInsights.Breakdowns)]
    if unknown:
        raise MarketingApiError.config(f"Unknown breakdown(s): {', '.join(unknown)}")
    if isinstance(time_increment, str):
        if time_increment not in ("monthly", "all_days"):
            raise MarketingApiError.config(
                f"time_increment {time_increment!r}: use 1-90, 'monthly' or 'all_days'"
            )
    elif not 1 <= time_increment <= MAX_TIME_INCREMENT_DAYS:
        raise MarketingApiError.config(
            f"time_increment {time_increment} is out of range: use 1-{MAX_TIME_INCREMENT_DAYS}"
        )

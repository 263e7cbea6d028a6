"""Rate-limit headers and the decisions taken from them: pause, back off, cap async jobs.

Meta reports usage on every response (all values are JSON strings, percentages 0-100):

- ``x-app-usage``: call_count / total_time / total_cputime of the app;
- ``x-ad-account-usage``: acc_id_util_pct and reset_time_duration (seconds);
- ``x-business-use-case-usage``: per business or account, per use case, the same three numbers
  plus estimated_time_to_regain_access (**minutes**);
- ``x-fb-ads-insights-throttle``: app_id_util_pct and acc_id_util_pct of the insights load.

Throttling starts when any of them reaches 100, and calling on while throttled extends the
block, so the client slows down from 75 % on and stops at 95 % until the window resets.
The thresholds are this project's judgement, not Meta's numbers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Below this share of any quota the client runs at full speed.
SLOW_FROM_PCT = 75.0
# From here on it waits for the quota window to reset before the next call.
STOP_FROM_PCT = 95.0
MAX_SLOWDOWN_SECONDS = 30.0
# When Meta gives no reset time: the quota windows roll, a minute frees a useful share.
DEFAULT_RESET_SECONDS = 60.0
# Meta's advice for throttles without an estimate is "wait a bit": 1 to 5 minutes.
THROTTLE_FALLBACK_SECONDS = (60.0, 120.0, 300.0)
TRANSIENT_BACKOFF_SECONDS = (2.0, 4.0, 8.0, 16.0, 32.0)
# Async report runs in flight per ad account when the insights load is low. Meta publishes no
# number; more jobs per account only queue on Meta's side and count against the same quota.
MAX_JOBS_PER_ACCOUNT = 4


@dataclass(frozen=True)
class Usage:
    """The usage one response reported; every field 0 when its header was absent."""

    app_pct: float = 0.0
    account_pct: float = 0.0
    business_pct: float = 0.0
    insights_app_pct: float = 0.0
    insights_account_pct: float = 0.0
    reset_seconds: float = 0.0
    regain_access_seconds: float = 0.0
    has_insights_throttle: bool = False

    @property
    def max_pct(self) -> float:
        return max(
            self.app_pct,
            self.account_pct,
            self.business_pct,
            self.insights_app_pct,
            self.insights_account_pct,
        )


def _header_json(headers: Mapping[str, str], name: str) -> object:
    # requests gives a case-insensitive dict; batch sub-responses give plain lower/any-case names.
    raw = headers.get(name)
    if raw is None:
        raw = next((v for k, v in headers.items() if k.lower() == name), None)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return None


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _pct_of(entry: object, *keys: str) -> float:
    if not isinstance(entry, dict):
        return 0.0
    return max((_num(entry.get(k)) for k in keys), default=0.0)


def parse_usage(headers: Mapping[str, str] | None) -> Usage:
    """Reads the four usage headers; malformed or missing headers count as zero usage."""
    if not headers:
        return Usage()
    app = _header_json(headers, "x-app-usage")
    account = _header_json(headers, "x-ad-account-usage")
    buc = _header_json(headers, "x-business-use-case-usage")
    insights = _header_json(headers, "x-fb-ads-insights-throttle")

    business_pct = 0.0
    regain_minutes = 0.0
    if isinstance(buc, dict):
        for entries in buc.values():
            for entry in entries if isinstance(entries, list) else []:
                business_pct = max(
                    business_pct, _pct_of(entry, "call_count", "total_time", "total_cputime")
                )
                if isinstance(entry, dict):
                    regain_minutes = max(
                        regain_minutes, _num(entry.get("estimated_time_to_regain_access"))
                    )
    return Usage(
        app_pct=_pct_of(app, "call_count", "total_time", "total_cputime"),
        account_pct=_pct_of(account, "acc_id_util_pct"),
        business_pct=business_pct,
        insights_app_pct=_pct_of(insights, "app_id_util_pct"),
        insights_account_pct=_pct_of(insights, "acc_id_util_pct"),
        reset_seconds=_num(account.get("reset_time_duration")) if isinstance(account, dict) else 0,
        regain_access_seconds=regain_minutes * 60.0,
        has_insights_throttle=isinstance(insights, dict),
    )


def pause_before_next_call(usage: Usage) -> float:
    """Seconds to wait before the next call, so the client slows down before the limit."""
    if usage.regain_access_seconds > 0:
        return usage.regain_access_seconds
    pct = usage.max_pct
    if pct >= STOP_FROM_PCT:
        return usage.reset_seconds or DEFAULT_RESET_SECONDS
    if pct >= SLOW_FROM_PCT:
        share = (pct - SLOW_FROM_PCT) / (STOP_FROM_PCT - SLOW_FROM_PCT)
        return round(1.0 + share * (MAX_SLOWDOWN_SECONDS - 1.0), 3)
    return 0.0


def throttle_backoff(usage: Usage, attempt: int) -> float:
    """Seconds to wait after a throttle error: Meta's estimate when it gives one."""
    if usage.regain_access_seconds > 0:
        return usage.regain_access_seconds
    if usage.reset_seconds > 0 and usage.max_pct >= STOP_FROM_PCT:
        return usage.reset_seconds
    return THROTTLE_FALLBACK_SECONDS[min(attempt, len(THROTTLE_FALLBACK_SECONDS) - 1)]


def transient_backoff(attempt: int) -> float:
    return TRANSIENT_BACKOFF_SECONDS[min(attempt, len(TRANSIENT_BACKOFF_SECONDS) - 1)]


def jobs_in_flight_cap(usage: Usage | None) -> int:
    """How many async report runs one ad account may have running, from the insights load."""
    if usage is None or not usage.has_insights_throttle:
        return MAX_JOBS_PER_ACCOUNT
    load = max(usage.insights_app_pct, usage.insights_account_pct)
    if load >= SLOW_FROM_PCT:
        return 1
    if load >= 50.0:
        return 2
    return MAX_JOBS_PER_ACCOUNT

"""Rate-limit headers and the per-account business-use-case (BUC) quota engine.

Each ad account has a rolling one-hour budget per use case, from Meta's development-tier
formulas (ads_insights: 600 + 400 x active ads; ads_management: 300 + 40 x active ads) unless the
config sets the insights budget. Past the budget, calls fail with 80000/80004 (subcode 2446079)
until the oldest call of the hour ages out; ``estimated_time_to_regain_access`` is in minutes, as
Meta's is. The hour runs on the sandbox clock, so a test can advance past a block.
"""

from __future__ import annotations

import json
import math
import threading
from collections import deque

from fbads_assets.sandbox.errors import RATE_LIMIT_DOC, GraphError

WINDOW_SECONDS = 3600
ACCESS_TIER = "development_access"
APP_CALLS_PER_HOUR = 20000  # the app-wide denominator behind x-app-usage (sandbox's choice)
INSIGHTS = "ads_insights"
MANAGEMENT = "ads_management"

THROTTLE_MESSAGES = {
    4: "(#4) Application request limit reached",
    17: "(#17) User request limit reached",
    32: "(#32) Page request limit reached",
    613: "(#613) Calls to this api have exceeded the rate limit.",
    80000: "(#80000) There have been too many calls from this ad-account. Wait a bit and try "
    f"again. For more info, please refer to {RATE_LIMIT_DOC}.",
    80004: "(#80004) There have been too many calls to this ad-account. Wait a bit and try "
    f"again. For more info, please refer to {RATE_LIMIT_DOC}.",
}


class QuotaEngine:
    def __init__(self, insights_budgets: dict[str, int], management_budgets: dict[str, int]):
        self._budgets = {INSIGHTS: insights_budgets, MANAGEMENT: management_budgets}
        self._lock = threading.Lock()
        self._calls: dict[tuple[str, str], deque[float]] = {}
        self._app_calls: deque[float] = deque()

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._app_calls.clear()

    def charge(self, account: str | None, use_case: str, now: float) -> dict[str, str]:
        """Count one call; the usage headers, or a GraphError with them once over budget."""
        with self._lock:
            _prune(self._app_calls, now)
            self._app_calls.append(now)
            app_pct = min(100, len(self._app_calls) * 100 // APP_CALLS_PER_HOUR)
            if account is None:
                return {"x-app-usage": _app_usage(app_pct)}
            calls = self._calls.setdefault((account, use_case), deque())
            _prune(calls, now)
            budget = self._budgets[use_case].get(account, 600)
            if len(calls) >= budget:
                minutes = max(1, math.ceil((calls[0] + WINDOW_SECONDS - now) / 60))
                headers = self._headers(account, use_case, 100, minutes, app_pct)
                code = 80000 if use_case == INSIGHTS else 80004
                raise throttle(code, 2446079, headers)
            calls.append(now)
            pct = len(calls) * 100 // budget
            return self._headers(account, use_case, pct, 0, app_pct)

    @staticmethod
    def _headers(
        account: str, use_case: str, pct: int, minutes: int, app_pct: int
    ) -> dict[str, str]:
        return usage_headers(account, use_case, pct, minutes, app_pct)


def usage_headers(
    account: str, use_case: str, pct: int, minutes: int, app_pct: int
) -> dict[str, str]:
    buc = {account: [{
        "type": use_case, "call_count": pct, "total_cputime": pct // 2,
        "total_time": pct // 2, "estimated_time_to_regain_access": minutes,
        "ads_api_access_tier": ACCESS_TIER,
    }]}  # fmt: skip
    headers = {
        "x-app-usage": _app_usage(app_pct),
        "x-business-use-case-usage": json.dumps(buc, separators=(",", ":")),
        "x-ad-account-usage": json.dumps(
            {
                "acc_id_util_pct": float(pct),
                "reset_time_duration": minutes * 60,
                "ads_api_access_tier": ACCESS_TIER,
            },
            separators=(",", ":"),
        ),
    }
    if use_case == INSIGHTS:
        headers["x-fb-ads-insights-throttle"] = json.dumps(
            {
                "app_id_util_pct": app_pct,
                "acc_id_util_pct": pct,
                "ads_api_access_tier": ACCESS_TIER,
            },
            separators=(",", ":"),
        )
    return headers


def throttle(code: int, subcode: int | None, headers: dict[str, str]) -> GraphError:
    """One of Meta's throttle errors: HTTP 400 (Meta does not use 429), is_transient true."""
    title = msg = None
    if subcode == 2446079:
        title = "Ad Account Has Too Many API Calls"
        msg = (
            "There have been too many calls from this ad-account. Please wait a bit and try again."
        )
    return GraphError(
        400,
        code,
        THROTTLE_MESSAGES[code],
        subcode=subcode,
        is_transient=True,
        user_title=title,
        user_msg=msg,
        headers=headers,
    )


def _prune(calls: deque[float], now: float) -> None:
    while calls and calls[0] <= now - WINDOW_SECONDS:
        calls.popleft()


def _app_usage(pct: int) -> str:
    return json.dumps(
        {"call_count": pct, "total_cputime": pct // 2, "total_time": pct // 2},
        separators=(",", ":"),
    )

"""The sandbox's knobs: how big its world is, how it pages, and how slow or strict it is."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

# The Graph API version the facebook-business 26.0.3 SDK speaks by default.
API_VERSION = "v26.0"
# The oldest version the sandbox still serves; older ones get Meta's 2635 "deprecated version".
OLDEST_API_VERSION = (23, 0)
# A public, documented token: a never-expiring SYSTEM_USER token with ads_read. It only opens
# the sandbox, so it may appear in docs and the README. It never starts with "EAA" so that no
# redaction rule or reader takes it for a real Meta token.
DEMO_TOKEN = "sbx-demo-token-public"
DEFAULT_APP_ID = "900000000000007"


@dataclass(frozen=True)
class SandboxConfig:
    """Everything that shapes one sandbox; the same config and clock give the same answers."""

    seed: int = 7
    accounts: int = 3
    campaigns_per_account: int = 3
    adsets_per_campaign: int = 2
    ads_per_adset: int = 2
    # Days of delivery history before the clock's today.
    history_days: int = 120
    # Graph caps `limit` silently at this; larger asks get this many.
    max_page_size: int = 500
    # If set: an edge page that would hold more rows than this fails with code 1
    # "Please reduce the amount of data..." (HTTP 500), as Meta does for oversized pages.
    reduce_data_rows: int | None = None
    # Time for a report run to go Job Not Started -> Job Completed (real seconds).
    async_job_seconds: float = 0.0
    # Added to every request.
    latency_ms: int = 0
    app_id: str = DEFAULT_APP_ID
    # With a secret, appsecret_proof is enforced on every call.
    app_secret: str | None = None
    # Per-account ads_insights budget per rolling hour; None: Meta's development-tier formula
    # 600 + 400 x active ads.
    insights_calls_per_hour: int | None = None
    # Initial sandbox clock (aware datetime); None: real time, ticking.
    now: dt.datetime | None = None
    host: str = "127.0.0.1"
    port: int = 0

    def __post_init__(self) -> None:
        if self.now is not None and self.now.tzinfo is None:
            raise ValueError(
                "SandboxConfig.now must be timezone-aware, e.g. "
                "datetime(2026, 11, 30, 12, tzinfo=timezone.utc)."
            )
        for name in ("accounts", "campaigns_per_account", "adsets_per_campaign", "ads_per_adset"):
            if getattr(self, name) < 1:
                raise ValueError(f"SandboxConfig.{name} must be at least 1.")
        if self.max_page_size < 1:
            raise ValueError("SandboxConfig.max_page_size must be at least 1.")

    @property
    def ads_per_account(self) -> int:
        return self.campaigns_per_account * self.adsets_per_campaign * self.ads_per_adset

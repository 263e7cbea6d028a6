"""The generated ad world: accounts, campaigns, ad sets, ads and creatives, fixed by the seed.

Objects are plain dicts in the shape the Graph API returns them (ids as numeric strings, money
in minor-unit strings, datetimes as ``%Y-%m-%dT%H:%M:%S%z``). Each ad also gets an
``AdProfile``: the handful of integers from which its daily delivery is computed in
``metrics.py``. Delivery only depends on (seed, ad, day), so the world never stores a row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from fbads_assets.sandbox.config import SandboxConfig
from fbads_assets.sandbox.prng import hash_of

# (currency, minor units per major unit, time zone, Meta-style timezone id, base CPM in minor
# units). The first three are the ones the rest of the product relies on: one account west of
# UTC, one east, one zero-decimal currency (JPY, where the "minor unit" is the yen itself).
ACCOUNT_PROFILES: tuple[tuple[str, int, str, int, int], ...] = (
    ("USD", 100, "America/Los_Angeles", 1, 900),
    ("EUR", 100, "Europe/Berlin", 98, 700),
    ("JPY", 1, "Asia/Tokyo", 86, 1100),
    ("GBP", 100, "Europe/London", 79, 650),
    ("BRL", 100, "America/Sao_Paulo", 20, 2400),
    ("AUD", 100, "Australia/Sydney", 11, 1200),
    ("USD", 100, "America/New_York", 7, 1000),
    ("INR", 100, "Asia/Kolkata", 113, 14000),
)
OBJECTIVES = ("OUTCOME_SALES", "OUTCOME_TRAFFIC", "OUTCOME_LEADS", "OUTCOME_AWARENESS")
OPTIMIZATION_GOALS = {
    "OUTCOME_SALES": "OFFSITE_CONVERSIONS",
    "OUTCOME_TRAFFIC": "LINK_CLICKS",
    "OUTCOME_LEADS": "LEAD_GENERATION",
    "OUTCOME_AWARENESS": "REACH",
}
HIDDEN_BY_DEFAULT = frozenset({"ARCHIVED", "DELETED"})


@dataclass(frozen=True)
class AdProfile:
    """The integers one ad's daily delivery is drawn from (see metrics.ad_day)."""

    key: int  # per-ad hash key
    account_index: int
    imp_base: int  # typical daily impressions
    ctr_ppm: int  # clicks per million impressions
    link_pct: int  # share of clicks that are link clicks
    cpm_minor: int  # cost per 1000 impressions, minor units
    reach_pct: int
    lpv_pct: int  # landing page views per 100 link clicks
    atc_ppm: int  # add-to-cart per million link clicks (28d click)
    purchase_ppm: int
    lead_ppm: int
    atc_value_minor: int
    purchase_value_minor: int
    first_day: int  # date ordinal of the first day with delivery
    last_day: int | None  # last day with delivery; None while the ad still runs


@dataclass
class Account:
    index: int
    id: str  # digits only; "act_" + id on the wire
    currency: str
    offset: int  # minor units per major unit
    timezone_name: str
    tz: ZoneInfo
    node: dict[str, Any]
    campaigns: list[dict[str, Any]] = field(default_factory=list)
    adsets: list[dict[str, Any]] = field(default_factory=list)
    ads: list[dict[str, Any]] = field(default_factory=list)
    creatives: list[dict[str, Any]] = field(default_factory=list)

    def today(self, now: dt.datetime) -> dt.date:
        """The account's report date for the sandbox clock's instant."""
        return now.astimezone(self.tz).date()


class World:
    """All generated objects, indexed by id."""

    def __init__(self, config: SandboxConfig, anchor: dt.datetime) -> None:
        self.config = config
        self.seed = config.seed
        # Delivery history starts this many days before the clock's date at start-up.
        self.anchor_day = anchor.astimezone(dt.UTC).date().toordinal()
        self.history_start = self.anchor_day - config.history_days
        self.accounts: list[Account] = []
        self.by_id: dict[str, tuple[str, dict[str, Any]]] = {}
        self.account_of: dict[str, Account] = {}
        self.profiles: dict[str, AdProfile] = {}
        self.user = {
            "id": str(100000000000000 + hash_of(self.seed, "user") % 10**14),
            "name": "Sandbox Analyst",
        }
        self.business = {
            "id": str(200000000000000 + hash_of(self.seed, "biz") % 10**14),
            "name": "Sandbox Business",
        }
        for index in range(config.accounts):
            self._add_account(index)

    # --- ids -------------------------------------------------------------------------------

    def _object_id(self, kind: int, index: int) -> str:
        base = 120200000000000000 + kind * 10**13 + (hash_of(self.seed, kind) % 10**5) * 10**8
        return str(base + index)

    def account_by_id(self, account_id: str) -> Account | None:
        digits = account_id.removeprefix("act_")
        for account in self.accounts:
            if account.id == digits:
                return account
        return None

    # --- generation ------------------------------------------------------------------------

    def _add_account(self, index: int) -> None:
        currency, offset, tz_name, tz_id, _cpm = ACCOUNT_PROFILES[index % len(ACCOUNT_PROFILES)]
        base = 100000000000000 + hash_of(self.seed, "account") % 800000000000000
        account_id = str(base + index * 1009)
        tz = ZoneInfo(tz_name)
        created = dt.datetime.combine(
            dt.date.fromordinal(self.history_start - 30 - index), dt.time(9, 30), tz
        )
        offset_hours = created.utcoffset() or dt.timedelta()
        node: dict[str, Any] = {
            "id": f"act_{account_id}",
            "account_id": account_id,
            "name": f"Sandbox {currency} {tz_name.split('/')[-1].replace('_', ' ')} #{index + 1}",
            "currency": currency,
            "timezone_name": tz_name,
            "timezone_offset_hours_utc": offset_hours.total_seconds() / 3600,
            "timezone_id": tz_id,
            "account_status": 1,
            "disable_reason": 0,
            "business": dict(self.business),
            "created_time": _fmt_time(created),
            "spend_cap": "0",
            "balance": "0",
        }
        account = Account(index, account_id, currency, offset, tz_name, tz, node)
        self.accounts.append(account)
        self._register("adaccount", node, account)
        for c in range(self.config.campaigns_per_account):
            self._add_campaign(account, c)

    def _add_campaign(self, account: Account, c: int) -> None:
        cfg = self.config
        global_index = account.index * cfg.campaigns_per_account + c
        objective = OBJECTIVES[(hash_of(self.seed, "objective", global_index) >> 3) % 3]
        # Campaign 1 of each account is paused, so every account has a paused branch.
        status = "PAUSED" if c == 1 else "ACTIVE"
        created = self._local_time(account, self.history_start - 3 - c, 10)
        campaign = {
            "id": self._object_id(1, global_index),
            "account_id": account.id,
            "name": f"{objective.split('_')[1].title()} campaign {c + 1}",
            "objective": objective,
            "status": status,
            "configured_status": status,
            "effective_status": status,
            "buying_type": "AUCTION",
            "bid_strategy": "LOWEST_COST_WITHOUT_CAP",
            "daily_budget": str(5000 * account.offset // 100 * (c + 1) * 10),
            "lifetime_budget": "0",
            "budget_remaining": str(5000 * account.offset // 100 * (c + 1) * 10),
            "special_ad_categories": [],
            "created_time": created,
            "updated_time": created,
            "start_time": created,
        }
        account.campaigns.append(campaign)
        self._register("campaign", campaign, account)
        for s in range(cfg.adsets_per_campaign):
            self._add_adset(account, campaign, global_index * cfg.adsets_per_campaign + s)

    def _add_adset(self, account: Account, campaign: dict[str, Any], global_index: int) -> None:
        cfg = self.config
        local = global_index - account.index * cfg.campaigns_per_account * cfg.adsets_per_campaign
        # Every seventh ad set (local index 5, 12, ...) is archived: it delivered in the past.
        status = "ARCHIVED" if local % 7 == 5 else "ACTIVE"
        effective = status
        if campaign["status"] == "PAUSED" and status == "ACTIVE":
            effective = "CAMPAIGN_PAUSED"
        adset = {
            "id": self._object_id(2, global_index),
            "campaign_id": campaign["id"],
            "account_id": account.id,
            "name": f"Ad set {local + 1}",
            "status": status,
            "configured_status": status,
            "effective_status": effective,
            "daily_budget": str(2000 * account.offset // 100 * 10),
            "lifetime_budget": "0",
            "optimization_goal": OPTIMIZATION_GOALS[campaign["objective"]],
            "billing_event": "IMPRESSIONS",
            "bid_amount": 0,
            "targeting": {
                "geo_locations": {"countries": ["US", "DE", "JP"]},
                "age_min": 18,
                "age_max": 65,
            },
            "attribution_spec": [
                {"event_type": "CLICK_THROUGH", "window_days": 7},
                {"event_type": "VIEW_THROUGH", "window_days": 1},
            ],
            "created_time": campaign["created_time"],
            "updated_time": campaign["updated_time"],
            "start_time": campaign["start_time"],
        }
        account.adsets.append(adset)
        self._register("adset", adset, account)
        for a in range(cfg.ads_per_adset):
            self._add_ad(account, campaign, adset, global_index * cfg.ads_per_adset + a)

    def _add_ad(
        self, account: Account, campaign: dict[str, Any], adset: dict[str, Any], global_index: int
    ) -> None:
        local = global_index - account.index * self.config.ads_per_account
        status = {4: "PAUSED", 7: "ARCHIVED", 9: "DELETED"}.get(local % 10, "ACTIVE")
        effective = status
        if status == "ACTIVE" and adset["status"] == "ARCHIVED":
            effective = "ARCHIVED"
        elif status == "ACTIVE" and campaign["status"] == "PAUSED":
            effective = "CAMPAIGN_PAUSED"
        profile = self._profile(account, global_index, effective)
        first = dt.date.fromordinal(profile.first_day)
        created = self._local_time(account, profile.first_day - 2, 11)
        updated = self._local_time(account, profile.last_day or profile.first_day, 18)
        creative = {
            "id": self._object_id(4, global_index),
            "account_id": account.id,
            "name": f"Creative for ad {local + 1}",
            "status": "ACTIVE",
            "title": f"Offer {local + 1}",
            "body": f"Sandbox creative first shown {first.isoformat()}.",
            "image_url": f"https://sandbox.invalid/img/{global_index}.jpg",
            "thumbnail_url": f"https://sandbox.invalid/thumb/{global_index}.jpg",
            "call_to_action_type": "SHOP_NOW",
            "object_story_spec": {
                "page_id": "300000000000001",
                "link_data": {"link": "https://sandbox.invalid/shop"},
            },
            "effective_object_story_id": f"300000000000001_{global_index}",
        }
        ad = {
            "id": self._object_id(3, global_index),
            "adset_id": adset["id"],
            "campaign_id": campaign["id"],
            "account_id": account.id,
            "name": f"Ad {local + 1}",
            "status": status,
            "configured_status": status,
            "effective_status": effective,
            "creative": {"id": creative["id"]},
            "tracking_specs": [{"action.type": ["offsite_conversion"], "fb_pixel": ["400001"]}],
            "created_time": created,
            "updated_time": updated,
        }
        account.creatives.append(creative)
        account.ads.append(ad)
        self._register("adcreative", creative, account)
        self._register("ad", ad, account)
        self.profiles[ad["id"]] = profile

    def _profile(self, account: Account, global_index: int, effective: str) -> AdProfile:
        h = hash_of(self.seed, "ad", global_index)
        history = self.config.history_days
        # Archived and deleted ads ran in the first half of the history only, so they have
        # delivery in the past that default-filtered edges hide but insights still report.
        first = self.history_start + (
            0 if effective in HIDDEN_BY_DEFAULT else h % max(1, history // 4)
        )
        last: int | None = None
        if effective in HIDDEN_BY_DEFAULT:
            last = self.history_start + history // 2 - (h >> 40) % 5
        elif effective in ("PAUSED", "CAMPAIGN_PAUSED"):
            last = self.anchor_day - 5 - (h >> 44) % 10
        cpm = ACCOUNT_PROFILES[account.index % len(ACCOUNT_PROFILES)][4]
        return AdProfile(
            key=h,
            account_index=account.index,
            imp_base=400 + (h >> 8) % 4000,
            ctr_ppm=6000 + (h >> 20) % 18000,
            link_pct=55 + (h >> 30) % 35,
            cpm_minor=cpm * (60 + (h >> 36) % 100) // 100,
            reach_pct=62 + (h >> 42) % 30,
            lpv_pct=60 + (h >> 48) % 30,
            atc_ppm=100000 + (h >> 50) % 150000,
            purchase_ppm=30000 + (h >> 52) % 50000,
            lead_ppm=10000 + (h >> 54) % 30000,
            atc_value_minor=max(
                1, 2500 * account.offset // 100 * (ACCOUNT_SCALE.get(account.currency, 1))
            ),
            purchase_value_minor=max(
                1,
                (4000 + (h >> 56) % 6000)
                * account.offset
                // 100
                * ACCOUNT_SCALE.get(account.currency, 1),
            ),
            first_day=first,
            last_day=last,
        )

    def _register(self, kind: str, node: dict[str, Any], account: Account) -> None:
        self.by_id[node["id"]] = (kind, node)
        self.account_of[node["id"]] = account

    def _local_time(self, account: Account, day: int, hour: int) -> str:
        return _fmt_time(dt.datetime.combine(dt.date.fromordinal(day), dt.time(hour), account.tz))


# Money values are drawn in USD-like amounts; these scale them into currencies whose unit is
# worth much less (so a JPY purchase is thousands of yen, not tens).
ACCOUNT_SCALE = {"JPY": 150, "INR": 80, "BRL": 5}


def _fmt_time(value: dt.datetime) -> str:
    """Graph's object datetime format: ``2023-03-21T22:33:56-0700`` (offset without colon)."""
    return value.strftime("%Y-%m-%dT%H:%M:%S%z")

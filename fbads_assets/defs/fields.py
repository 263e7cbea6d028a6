"""The fields each asset asks the Marketing API for.

Kept in one place so a reviewer can see the whole request surface at once. Asking for exactly
these fields (never the SDK's defaults) keeps responses small and the raw table stable.
"""

AD_ACCOUNT_FIELDS = [
    "id",
    "account_id",
    "name",
    "currency",
    "timezone_name",
    "timezone_offset_hours_utc",
    "account_status",
    "business",
    "amount_spent",
    "created_time",
]

OBJECT_FIELDS = {
    "campaigns": [
        "id",
        "account_id",
        "name",
        "objective",
        "status",
        "effective_status",
        "buying_type",
        "bid_strategy",
        "daily_budget",
        "lifetime_budget",
        "budget_remaining",
        "start_time",
        "stop_time",
        "created_time",
        "updated_time",
    ],
    "adsets": [
        "id",
        "campaign_id",
        "account_id",
        "name",
        "status",
        "effective_status",
        "optimization_goal",
        "billing_event",
        "bid_strategy",
        "bid_amount",
        "daily_budget",
        "lifetime_budget",
        "attribution_spec",
        "start_time",
        "end_time",
        "created_time",
        "updated_time",
    ],
    "ads": [
        "id",
        "adset_id",
        "campaign_id",
        "account_id",
        "name",
        "status",
        "effective_status",
        "creative",
        "created_time",
        "updated_time",
    ],
    "adcreatives": [
        "id",
        "account_id",
        "name",
        "status",
        "title",
        "body",
        "image_url",
        "thumbnail_url",
        "call_to_action_type",
        "effective_object_story_id",
    ],
}

INSIGHTS_FIELDS = [
    "account_id",
    "account_currency",
    "campaign_id",
    "campaign_name",
    "adset_id",
    "adset_name",
    "ad_id",
    "ad_name",
    "impressions",
    "reach",
    "frequency",
    "clicks",
    "inline_link_clicks",
    "spend",
    "ctr",
    "cpc",
    "cpm",
    "actions",
    "action_values",
    "conversions",
    "cost_per_action_type",
    "attribution_setting",
]

# Windows Meta still serves in late 2026; 7d_view and 28d_view stopped on 2026-01-12 and are
# not requested. Each action element also carries `value`, the ad set's own (default) setting.
ATTRIBUTION_WINDOWS = ["1d_click", "7d_click", "28d_click", "1d_view"]

# The light request the reconciliation check compares ad-level sums against.
ACCOUNT_TOTAL_FIELDS = ["impressions", "clicks", "spend"]

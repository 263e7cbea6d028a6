"""The warehouse tables: columns, types, descriptions, primary keys and partition columns.

One source for everything that describes a table, so the DuckDB and BigQuery writers, the
column schema shown in the Dagster UI, the primary-key checks and the README cannot drift apart.
Ids are strings as the API sends them (``account_id`` without ``act_``); report dates are dates
in the ad account's time zone; money is in the account's currency, major units.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg


@dataclass(frozen=True)
class Column:
    name: str
    # Logical types, mapped per engine below: string, int, float, money, date, timestamp, bool.
    type: str
    description: str
    nullable: bool = True


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    # The report-date column of date-partitioned tables; None for snapshot tables.
    date_column: str | None = None
    # The column that holds the account partition key; None for unpartitioned tables.
    account_column: str | None = "account_id"
    foreign_keys: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def table_schema(self) -> dg.TableSchema:
        """The schema shown on the asset page, with descriptions and key constraints."""
        return dg.TableSchema(
            columns=[
                dg.TableColumn(
                    name=c.name,
                    type=c.type,
                    description=c.description,
                    constraints=dg.TableColumnConstraints(nullable=c.nullable),
                )
                for c in self.columns
            ],
            constraints=dg.TableConstraints(
                other=[f"primary key ({', '.join(self.primary_key)})"]
                + [
                    f"{col} references {ref_table}.{ref_col}"
                    for col, (ref_table, ref_col) in self.foreign_keys.items()
                ]
            ),
        )


DUCKDB_TYPES = {
    "string": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "money": "DECIMAL(18, 2)",
    "date": "DATE",
    "timestamp": "TIMESTAMPTZ",
    "bool": "BOOLEAN",
}
BIGQUERY_TYPES = {
    "string": "STRING",
    "int": "INT64",
    "float": "FLOAT64",
    "money": "NUMERIC",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "bool": "BOOL",
}


def _c(name: str, type_: str, description: str, nullable: bool = True) -> Column:
    return Column(name, type_, description, nullable)


ACCOUNT_ID = _c("account_id", "string", "Ad account id, digits only (no act_ prefix).", False)
FETCHED_AT = _c("fetched_at", "timestamp", "When this row was read from the Marketing API (UTC).")
STATUS_COLUMNS = (
    _c("status", "string", "Configured status: ACTIVE, PAUSED, ARCHIVED or DELETED."),
    _c("effective_status", "string", "Delivery status including the parents' statuses."),
)
OBJECT_TIMES = (
    _c("created_time", "timestamp", "When the object was created."),
    _c("updated_time", "timestamp", "When the object was last changed."),
)

AD_ACCOUNTS = Table(
    name="ad_accounts",
    description="Ad accounts the token reads, with currency and time zone.",
    columns=(
        ACCOUNT_ID,
        _c("name", "string", "Account name."),
        _c("currency", "string", "ISO 4217 currency of every money column for this account."),
        _c("timezone_name", "string", "IANA time zone; report dates are days in this zone."),
        _c("timezone_offset_hours_utc", "float", "Current UTC offset of the time zone, hours."),
        _c("account_status", "int", "Meta's numeric status (1 active, 2 disabled, 101 closed)."),
        _c("status", "string", "account_status as a name: ACTIVE, DISABLED, CLOSED, ..."),
        _c("business_id", "string", "Business Manager that owns the account, if any."),
        _c("business_name", "string", "Name of that business."),
        _c("amount_spent", "money", "Lifetime spend of the account."),
        _c("created_time", "timestamp", "When the account was created."),
        FETCHED_AT,
    ),
    primary_key=("account_id",),
    account_column=None,
)

CAMPAIGNS = Table(
    name="campaigns",
    description="Campaigns of each account, archived and deleted ones included.",
    columns=(
        _c("campaign_id", "string", "Campaign id.", False),
        ACCOUNT_ID,
        _c("name", "string", "Campaign name."),
        _c("objective", "string", "Campaign objective, e.g. OUTCOME_SALES."),
        *STATUS_COLUMNS,
        _c("buying_type", "string", "AUCTION or RESERVED."),
        _c("bid_strategy", "string", "Campaign bid strategy, when the budget is set here."),
        _c("daily_budget", "money", "Daily budget (campaign budget optimisation), if set."),
        _c("lifetime_budget", "money", "Lifetime budget, if set."),
        _c("budget_remaining", "money", "Budget left, if a budget is set on the campaign."),
        _c("start_time", "timestamp", "Scheduled start."),
        _c("stop_time", "timestamp", "Scheduled end, if any."),
        *OBJECT_TIMES,
        FETCHED_AT,
    ),
    primary_key=("campaign_id",),
    foreign_keys={"account_id": ("ad_accounts", "account_id")},
)

AD_SETS = Table(
    name="ad_sets",
    description="Ad sets of each account, with optimisation goal, bidding and budgets.",
    columns=(
        _c("adset_id", "string", "Ad set id.", False),
        _c("campaign_id", "string", "Parent campaign."),
        ACCOUNT_ID,
        _c("name", "string", "Ad set name."),
        *STATUS_COLUMNS,
        _c("optimization_goal", "string", "What delivery optimises for, e.g. OFFSITE_CONVERSIONS."),
        _c("billing_event", "string", "What the advertiser pays for, e.g. IMPRESSIONS."),
        _c("bid_strategy", "string", "Bid strategy, e.g. LOWEST_COST_WITHOUT_CAP."),
        _c("bid_amount", "money", "Bid cap or target, if set."),
        _c("daily_budget", "money", "Daily budget, if set on the ad set."),
        _c("lifetime_budget", "money", "Lifetime budget, if set on the ad set."),
        _c("attribution_spec", "string", "Attribution setting as JSON (event type, window)."),
        _c("start_time", "timestamp", "Scheduled start."),
        _c("end_time", "timestamp", "Scheduled end, if any."),
        *OBJECT_TIMES,
        FETCHED_AT,
    ),
    primary_key=("adset_id",),
    foreign_keys={
        "campaign_id": ("campaigns", "campaign_id"),
        "account_id": ("ad_accounts", "account_id"),
    },
)

ADS = Table(
    name="ads",
    description="Ads of each account with their ad set, campaign and creative.",
    columns=(
        _c("ad_id", "string", "Ad id.", False),
        _c("adset_id", "string", "Parent ad set."),
        _c("campaign_id", "string", "Parent campaign."),
        ACCOUNT_ID,
        _c("name", "string", "Ad name."),
        *STATUS_COLUMNS,
        _c("creative_id", "string", "The ad's creative."),
        *OBJECT_TIMES,
        FETCHED_AT,
    ),
    primary_key=("ad_id",),
    foreign_keys={
        "adset_id": ("ad_sets", "adset_id"),
        "campaign_id": ("campaigns", "campaign_id"),
        "account_id": ("ad_accounts", "account_id"),
    },
)

AD_CREATIVES = Table(
    name="ad_creatives",
    description="Creatives of each account: copy, images and call to action.",
    columns=(
        _c("creative_id", "string", "Creative id.", False),
        ACCOUNT_ID,
        _c("name", "string", "Creative name."),
        _c("status", "string", "ACTIVE, IN_PROCESS, WITH_ISSUES or DELETED."),
        _c("title", "string", "Headline."),
        _c("body", "string", "Primary text."),
        _c("image_url", "string", "Image URL, if an image creative."),
        _c("thumbnail_url", "string", "Thumbnail URL."),
        _c("call_to_action_type", "string", "Button, e.g. SHOP_NOW."),
        _c("object_story_id", "string", "The page post the creative runs as, if any."),
        FETCHED_AT,
    ),
    primary_key=("creative_id",),
    foreign_keys={"account_id": ("ad_accounts", "account_id")},
)

AD_INSIGHTS_RAW = Table(
    name="ad_insights_raw",
    description="Ad-level daily insights rows exactly as the API sent them, secrets removed.",
    columns=(
        ACCOUNT_ID,
        _c("date_start", "date", "Report date in the account's time zone.", False),
        _c("row_index", "int", "Position of the row within its account and date.", False),
        _c("ad_id", "string", "The row's ad, copied out of the JSON for joins."),
        _c("row_json", "string", "The API's row as JSON (metrics are strings, as sent)."),
        _c("request_fingerprint", "string", "Hash of the request (fields, level, windows)."),
        _c("api_version", "string", "Graph API version that served the row, e.g. v26.0."),
        FETCHED_AT,
    ),
    primary_key=("account_id", "date_start", "row_index"),
    date_column="date_start",
    foreign_keys={"account_id": ("ad_accounts", "account_id")},
)

AD_INSIGHTS_DAILY = Table(
    name="ad_insights_daily",
    description="Typed daily delivery metrics per ad, parsed from the raw table.",
    columns=(
        _c("ad_id", "string", "Ad id.", False),
        _c("date_start", "date", "Report date in the account's time zone.", False),
        ACCOUNT_ID,
        _c("campaign_id", "string", "Campaign of the ad."),
        _c("adset_id", "string", "Ad set of the ad."),
        _c("ad_name", "string", "Ad name on that day."),
        _c("adset_name", "string", "Ad set name on that day."),
        _c("campaign_name", "string", "Campaign name on that day."),
        _c("account_currency", "string", "Currency of spend and values."),
        _c("impressions", "int", "Times the ad was on screen."),
        _c("reach", "int", "People reached by this ad on this day. Never sum across ads or days."),
        _c("frequency", "float", "impressions / reach for this ad and day. Not additive."),
        _c("clicks", "int", "All clicks."),
        _c("inline_link_clicks", "int", "Clicks on links in the ad."),
        _c("spend", "money", "Amount spent, account currency."),
        _c("ctr", "float", "clicks / impressions × 100, as the API computes it."),
        _c("cpc", "float", "spend / clicks, as the API computes it."),
        _c("cpm", "float", "spend / impressions × 1000, as the API computes it."),
        _c(
            "attribution_setting",
            "string",
            "Attribution the default values use, e.g. 7d_click_1d_view.",
        ),
        FETCHED_AT,
    ),
    primary_key=("ad_id", "date_start"),
    date_column="date_start",
    foreign_keys={
        "ad_id": ("ads", "ad_id"),
        "campaign_id": ("campaigns", "campaign_id"),
        "account_id": ("ad_accounts", "account_id"),
    },
)

AD_CONVERSIONS_DAILY = Table(
    name="ad_conversions_daily",
    description="Actions and action values per ad, day, action type and attribution window.",
    columns=(
        _c("ad_id", "string", "Ad id.", False),
        _c("date_start", "date", "Report date in the account's time zone.", False),
        _c("action_type", "string", "Action, e.g. purchase, lead, link_click.", False),
        _c(
            "attribution_window",
            "string",
            "default (the ad set's setting) or 1d_click, 7d_click, 28d_click, 1d_view.",
            False,
        ),
        ACCOUNT_ID,
        _c("campaign_id", "string", "Campaign of the ad."),
        _c("adset_id", "string", "Ad set of the ad."),
        _c("actions", "float", "Number of actions in this window."),
        _c("action_value", "money", "Value of those actions (e.g. purchase value), if reported."),
        FETCHED_AT,
    ),
    primary_key=("ad_id", "date_start", "action_type", "attribution_window"),
    date_column="date_start",
    foreign_keys={"ad_id": ("ads", "ad_id"), "account_id": ("ad_accounts", "account_id")},
)

CAMPAIGN_DAILY = Table(
    name="facebook_ads_campaign_daily",
    description="The campaign daily mart: delivery, spend and conversions per campaign and day.",
    columns=(
        ACCOUNT_ID,
        _c("campaign_id", "string", "Campaign id.", False),
        _c("campaign_name", "string", "Campaign name."),
        _c("report_date", "date", "Report date in the account's time zone.", False),
        _c("currency", "string", "Currency of spend and conversion_value."),
        _c("impressions", "int", "Σ impressions of the campaign's ads."),
        _c("clicks", "int", "Σ clicks of the campaign's ads."),
        _c("spend", "money", "Σ spend of the campaign's ads."),
        _c("conversions", "float", "Σ conversion actions (configured types, default window)."),
        _c("conversion_value", "money", "Σ value of those conversions."),
        _c("ctr", "float", "clicks / impressions × 100."),
        _c("cpc", "float", "spend / clicks; null without clicks."),
        _c("cpm", "float", "spend / impressions × 1000; null without impressions."),
        _c("roas", "float", "conversion_value / spend; null without spend."),
    ),
    primary_key=("campaign_id", "report_date"),
    date_column="report_date",
    foreign_keys={
        "campaign_id": ("campaigns", "campaign_id"),
        "account_id": ("ad_accounts", "account_id"),
    },
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        AD_ACCOUNTS,
        CAMPAIGNS,
        AD_SETS,
        ADS,
        AD_CREATIVES,
        AD_INSIGHTS_RAW,
        AD_INSIGHTS_DAILY,
        AD_CONVERSIONS_DAILY,
        CAMPAIGN_DAILY,
    )
}

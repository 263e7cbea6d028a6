-- Cost per conversion, week by week, per campaign: is each conversion getting cheaper or
-- dearer? Weeks start on Monday; the first and last week may be partial.
--
-- Reads the mart, facebook_ads.facebook_ads_campaign_daily. Cost per conversion is
-- Σ spend / Σ conversions over the week (null in a week without conversions), and the change
-- is against the campaign's previous week with data.
--
-- Run: duckdb data/fbads.duckdb -readonly < analyses/cost_per_conversion_trend.sql
-- BigQuery spells the week start DATE_TRUNC(report_date, ISOWEEK); the rest is the same.
WITH weekly AS (
    SELECT
        account_id,
        campaign_id,
        MAX(campaign_name) AS campaign_name,
        currency,
        DATE_TRUNC('week', report_date) AS week_start,
        SUM(spend) AS spend,
        SUM(conversions) AS conversions
    FROM facebook_ads.facebook_ads_campaign_daily
    GROUP BY account_id, campaign_id, currency, DATE_TRUNC('week', report_date)
),
priced AS (
    SELECT
        *,
        CASE WHEN conversions > 0 THEN spend / conversions END AS cost_per_conversion
    FROM weekly
)
SELECT
    account_id,
    campaign_id,
    campaign_name,
    currency,
    CAST(week_start AS DATE) AS week_start,
    spend,
    conversions,
    ROUND(cost_per_conversion, 4) AS cost_per_conversion,
    ROUND(
        cost_per_conversion
        - LAG(cost_per_conversion) OVER (PARTITION BY campaign_id ORDER BY week_start),
        4
    ) AS change_from_previous_week
FROM priced
ORDER BY account_id, campaign_id, week_start;

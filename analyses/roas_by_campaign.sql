-- Return on ad spend (ROAS) by campaign: for every unit of currency spent, how much
-- conversion value came back, over the whole period in the warehouse.
--
-- Conversions are the mart's configured action types (default: purchase and lead) under
-- each ad set's own attribution setting, as Ads Manager reports them. ROAS is
-- Σ conversion_value / Σ spend over the period, not an average of daily ROAS. Campaigns
-- without spend have no ROAS (null), rather than a division by zero.
--
-- Run: duckdb data/fbads.duckdb -readonly < analyses/roas_by_campaign.sql
-- (BigQuery: the same SQL, with facebook_ads as your dataset.)
SELECT
    account_id,
    campaign_id,
    MAX(campaign_name) AS campaign_name,
    currency,
    MIN(report_date) AS first_date,
    MAX(report_date) AS last_date,
    SUM(spend) AS spend,
    SUM(conversions) AS conversions,
    SUM(conversion_value) AS conversion_value,
    CASE WHEN SUM(spend) > 0 THEN ROUND(SUM(conversion_value) / SUM(spend), 4) END AS roas,
    CASE
        WHEN SUM(conversions) > 0 THEN ROUND(SUM(spend) / SUM(conversions), 4)
    END AS cost_per_conversion
FROM facebook_ads.facebook_ads_campaign_daily
GROUP BY account_id, campaign_id, currency
ORDER BY roas DESC NULLS LAST, spend DESC, campaign_id;
